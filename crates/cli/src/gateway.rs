//! `eventcast gateway`: relays a LAN's multicast group to NATS (or unicast peers) and back.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use eventcast::{Gateway, GatewayOptions};

use crate::CliResult;
use crate::net::{NetArgs, parse_duration};

#[derive(Debug, Args)]
pub struct GatewayArgs {
    /// How long a relayed datagram is remembered so that it is not relayed again when it
    /// comes back (must cover a round trip through NATS)
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    dedup_window: Duration,
    /// The id of this gateway's LAN, the same on every gateway of one LAN (default: group,
    /// port and the LAN interface's subnet, which they share anyway)
    #[arg(long, env = "EVENTCAST_LAN_ID")]
    lan_id: Option<String>,
    /// Print the gateway's counters as one JSON line on stderr when exiting
    #[arg(long)]
    stats: bool,
    /// The LAN side (--group, --port, --interface) and the wide-area side (--nats …,
    /// --peer …); the gateway relays sealed datagrams as they are and needs no key
    #[command(flatten)]
    net: NetArgs,
}

pub async fn run(args: GatewayArgs) -> CliResult {
    let mut shutdown = crate::shutdown::Shutdown::install();
    let t = &args.net.transport;
    if t.nats.is_none() && t.peers.is_empty() {
        return Err("the gateway needs a wide-area side: --nats URL[,URL…] and/or --peer HOST:PORT".into());
    }
    if t.no_multicast {
        return Err("the gateway's LAN side is the multicast group: drop --no-multicast".into());
    }
    if args.net.key.is_some() || args.net.key_file.is_some() {
        return Err("the gateway relays sealed datagrams as they are and needs no key: drop --key/--key-file".into());
    }
    let lan = args.net.build()?.options().clone();
    let wan = eventcast::TransportOptions { multicast: false, ..lan.transport.clone() };
    let options = GatewayOptions {
        dedup_window: args.dedup_window,
        lan_id: args.lan_id.clone(),
        ..GatewayOptions::new(lan, wan)
    };
    let gateway = Gateway::start(options).await?;
    let _metrics = match args.net.metrics {
        Some(addr) => {
            let monitor = gateway.monitor();
            let server = crate::metrics::Server::start_with(addr, move || {
                let text = monitor.stats().to_prometheus();
                Box::pin(async move { text })
            })?;
            eprintln!("eventcast: metrics on http://{}/metrics", server.addr);
            Some(server)
        }
        None => None,
    };
    let wan_side = match (&t.nats, t.peers.is_empty()) {
        (Some(nats), true) => format!("NATS {}", eventcast::NatsOptions::redact(nats)),
        (Some(nats), false) => {
            format!("NATS {} and peers {}", eventcast::NatsOptions::redact(nats), t.peers.join(", "))
        }
        (None, _) => format!("peers {}", t.peers.join(", ")),
    };
    eprintln!(
        "eventcast: gateway ready: LAN {}:{} via interface {} <-> {wan_side}",
        args.net.group, args.net.port, args.net.interface
    );
    shutdown.requested().await;
    let monitor = gateway.monitor();
    gateway.stop().await;
    let stats = monitor.stats();
    if args.stats {
        eprintln!("{}", serde_json::to_string(&stats)?);
    }
    Ok(ExitCode::SUCCESS)
}
