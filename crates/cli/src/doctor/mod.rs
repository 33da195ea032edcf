//! `eventcast doctor`: why events might not arrive. System checks (interfaces, route,
//! reverse-path filter, firewall, IGMP, buffers, environment) over a snapshot of the system,
//! a self-test of two instances, and with `--probe` the path to another host.
//!
//! Exit status: 0 when no check failed (ok, warn, skipped), 1 when one did, 2 on bad options.

mod checks;
mod probe;
mod report;
mod selftest;
mod sys;

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::CliResult;
use crate::net::{NetArgs, parse_duration};

/// `eventcast doctor [--json] [--probe]` and the usual network options.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print one JSON object: {"checks": [{"name", "status", "detail", "fix"}, …]}
    #[arg(long)]
    json: bool,
    /// Also check the path to another host running `eventcast doctor --probe` at the same
    /// time: loss, largest datagram and TTL, both ways
    #[arg(long)]
    probe: bool,
    /// The probe's UDP port (default: --port + 1); both hosts must use the same
    #[arg(long)]
    probe_port: Option<u16>,
    /// How long the probe waits for the other host and its report (e.g. 10, 30s)
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    probe_timeout: Duration,
    /// Datagrams in the probe's burst, to measure loss
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    probe_count: u32,
    /// Skip the self-test (two instances exchanging events on this host)
    #[arg(long)]
    no_self_test: bool,
    #[command(flatten)]
    net: NetArgs,
}

/// Runs every check, prints them, and exits 1 when one failed.
pub fn run(args: DoctorArgs) -> CliResult {
    let group: IpAddr = args.net.group.parse().map_err(|_| {
        format!("--group {:?} is not an IP address; use a multicast group such as 239.255.0.99", args.net.group)
    })?;
    if !group.is_multicast() {
        return Err(format!("--group {group} is not a multicast address (224.0.0.0/4 or ff00::/8)").into());
    }
    let probe_port = args.probe_port.unwrap_or_else(|| args.net.port.checked_add(1).unwrap_or(args.net.port - 1));
    let mut ports = vec![args.net.port];
    if args.probe {
        ports.push(probe_port);
    }
    let ctx = checks::Ctx {
        group,
        ports,
        interface: args.net.interface.parse().unwrap_or_default(),
        recv_buffer: args.net.recv_buffer,
    };
    let sys = sys::Sys::read();
    let (mut all, chosen) = checks::all(&ctx, &sys);
    if args.no_self_test {
        all.push(report::Check::skipped("self-test", "--no-self-test"));
    } else {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let check = runtime.block_on(selftest::run(&args.net, chosen.as_deref(), &all));
        all.push(check);
    }
    if args.probe {
        let link = chosen.as_deref().and_then(|c| sys.link(c)).cloned();
        // `auto`: what the library will use, the link's MTU less the IPv4 and UDP headers
        let max_payload = match args.net.max_payload_size {
            eventcast::AUTO_PAYLOAD_SIZE => {
                link.as_ref().and_then(|l| l.mtu).map_or(1472, |m| (m as usize).saturating_sub(28))
            }
            size => size,
        };
        let plan = probe::Plan {
            group,
            port: probe_port,
            link,
            timeout: args.probe_timeout,
            expect: probe::Expect { burst: args.probe_count, ttl: args.net.ttl, max_payload },
        };
        all.extend(probe::run(&plan));
    }
    if args.json {
        println!("{}", report::to_json(&all));
    } else {
        let heading = format!(
            "eventcast doctor: group {group}, port {}, interface {}",
            args.net.port,
            match (&chosen, args.net.interface.as_str()) {
                (Some(c), "default") => format!("default ({c})"),
                (_, given) => given.to_owned(),
            }
        );
        print!("{}", report::to_text(&heading, &all));
    }
    Ok(if report::passed(&all) { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
