//! The gateway: relays datagrams between a LAN's multicast group and a wide-area transport
//! (NATS, or a set of unicast peers), both ways, as opaque bytes. It needs no key (sealed
//! datagrams cross sealed, so encryption stays end to end) and runs no protocol core: events,
//! NACKs, repairs, heartbeats and progress reports all cross it alike, so a receiver behind
//! NATS gets its repairs from a sender on a LAN.
//!
//! Loops and duplicates, with several gateways per LAN and several LANs:
//!
//! - What a gateway publishes to NATS carries its LAN's id (header `Eventcast-Lan`; by
//!   default the group, port and subnet of its LAN interface, so the gateways of one LAN
//!   agree without being told). A gateway puts nothing back on its LAN that a gateway of
//!   the same LAN published.
//! - A gateway remembers each datagram that came from the wide-area side for
//!   `dedup_window` (a keyed hash, bounded) and does not send it back when it comes in from
//!   the LAN: its own multicast looped back, or a copy another gateway of the LAN put there.
//! - Nothing else is suppressed, so a NACK or a repair retried byte for byte crosses again.
//!   The duplicates several gateways of one LAN produce are dropped by the receivers'
//!   duplicate window: each event is delivered once.
//!
//! With peers as the wide-area side there are no headers: gateways of one LAN must not list
//! each other as peers.

mod dedup;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use socket2::SockAddr;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::driver::batch::{self, BATCH};
use crate::driver::echo_filter::OwnMarker;
use crate::driver::socket;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::transport::{Extra, TransportCounters, TransportOptions, is_listed, next_from_nats, readable};
use dedup::Relayed;

/// Room for one datagram.
const STRIDE: usize = 65_536;

/// What a gateway joins: a LAN (group, port, interface of `lan`) and a wide-area side
/// (`wan`: NATS and/or unicast peers, never multicast).
///
/// ```
/// let lan = eventcast::Eventcast::builder().interface("127.0.0.1").build().unwrap().options().clone();
/// let wan = eventcast::TransportOptions {
///     multicast: false,
///     nats: Some(eventcast::NatsOptions::new(["nats://127.0.0.1:4222"])),
///     ..Default::default()
/// };
/// let options = eventcast::GatewayOptions::new(lan, wan);
/// assert_eq!(options.dedup_window, std::time::Duration::from_secs(1));
/// ```
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    /// The LAN side: group, port, interface, TTL, loopback (its transport options are
    /// ignored: the LAN side is the multicast group).
    pub lan: Options,
    /// The wide-area side: NATS and/or peers.
    pub wan: TransportOptions,
    /// How long a datagram from the wide-area side is remembered, to recognise it when it
    /// comes back from the LAN (looped back, or put there by another gateway of the LAN).
    pub dedup_window: Duration,
    /// The id of this gateway's LAN, shared by the gateways of one LAN; `None` derives it
    /// from the group, port and the LAN interface's IPv4 subnet.
    pub lan_id: Option<String>,
}

impl GatewayOptions {
    /// A gateway between `lan` and `wan`, the window at 1 s.
    pub fn new(lan: Options, wan: TransportOptions) -> Self {
        GatewayOptions { lan, wan, dedup_window: Duration::from_secs(1), lan_id: None }
    }
}

/// Counters of a gateway.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GatewayStats {
    /// Datagrams received from the LAN.
    pub lan_in: u64,
    /// Datagrams relayed from the LAN to the wide-area side.
    pub lan_to_wan: u64,
    /// Datagrams received from the wide-area side.
    pub wan_in: u64,
    /// Datagrams relayed from the wide-area side to the LAN.
    pub wan_to_lan: u64,
    /// Datagrams not relayed: from the LAN, ones that had come from the wide-area side
    /// (looped back, or put there by another gateway); from NATS, ones a gateway of the same
    /// LAN published.
    pub suppressed: u64,
    /// Remembered datagrams forgotten early because the memory was full.
    pub dedup_evicted: u64,
    /// Datagrams the LAN socket refused to send.
    pub lan_send_errors: u64,
    /// 1 while connected to NATS.
    pub nats_connected: u64,
    /// NATS reconnections.
    pub nats_reconnects: u64,
    /// Datagrams dropped because the NATS queue was full, out and in.
    pub nats_dropped: u64,
    /// Datagrams sent to wide-area peers.
    pub peer_datagrams_out: u64,
    /// Sends to a wide-area peer that failed.
    pub peer_send_errors: u64,
}

impl GatewayStats {
    /// The counters in the Prometheus text format, each with help and type.
    pub fn to_prometheus(&self) -> String {
        let rows: [(&str, &str, bool, u64); 12] = [
            ("eventcast_gateway_lan_in_total", "Datagrams received from the LAN.", true, self.lan_in),
            (
                "eventcast_gateway_lan_to_wan_total",
                "Datagrams relayed from the LAN to the wide-area side.",
                true,
                self.lan_to_wan,
            ),
            ("eventcast_gateway_wan_in_total", "Datagrams received from the wide-area side.", true, self.wan_in),
            (
                "eventcast_gateway_wan_to_lan_total",
                "Datagrams relayed from the wide-area side to the LAN.",
                true,
                self.wan_to_lan,
            ),
            (
                "eventcast_gateway_suppressed_total",
                "Datagrams not relayed: back from the LAN after coming from afar, or published by a gateway of the same LAN.",
                true,
                self.suppressed,
            ),
            (
                "eventcast_gateway_dedup_evicted_total",
                "Remembered datagrams forgotten early because the memory was full.",
                true,
                self.dedup_evicted,
            ),
            (
                "eventcast_gateway_lan_send_errors_total",
                "Datagrams the LAN socket refused to send.",
                true,
                self.lan_send_errors,
            ),
            ("eventcast_gateway_nats_connected", "1 while connected to NATS, 0 otherwise.", false, self.nats_connected),
            ("eventcast_gateway_nats_reconnects_total", "NATS reconnections.", true, self.nats_reconnects),
            (
                "eventcast_gateway_nats_dropped_total",
                "Datagrams dropped because a NATS queue was full.",
                true,
                self.nats_dropped,
            ),
            (
                "eventcast_gateway_peer_datagrams_out_total",
                "Datagrams sent to wide-area peers.",
                true,
                self.peer_datagrams_out,
            ),
            (
                "eventcast_gateway_peer_send_errors_total",
                "Sends to a wide-area peer that failed.",
                true,
                self.peer_send_errors,
            ),
        ];
        let mut out = String::new();
        for (name, help, counter, value) in rows {
            crate::stats::series_header(&mut out, name, counter, help);
            out.push_str(&format!("{name} {value}\n"));
        }
        out
    }
}

#[derive(Debug, Default)]
struct Counters {
    lan_in: AtomicU64,
    lan_to_wan: AtomicU64,
    wan_in: AtomicU64,
    wan_to_lan: AtomicU64,
    suppressed: AtomicU64,
    dedup_evicted: AtomicU64,
    lan_send_errors: AtomicU64,
}

/// A running gateway; [`Gateway::stop`] ends it (dropping it does too, without waiting).
///
/// ```no_run
/// # async fn f(options: eventcast::GatewayOptions) -> eventcast::Result<()> {
/// let gateway = eventcast::Gateway::start(options).await?;
/// tokio::signal::ctrl_c().await.ok();
/// println!("{:?}", gateway.stats());
/// gateway.stop().await;
/// # Ok(()) }
/// ```
pub struct Gateway {
    monitor: GatewayMonitor,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("stats", &self.stats()).finish()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

impl Gateway {
    /// Joins the LAN group and opens the wide-area side, then relays until stopped. Bad
    /// settings are an error; a NATS server that does not answer yet is retried in the
    /// background.
    pub async fn start(options: GatewayOptions) -> Result<Gateway> {
        let mut lan = options.lan;
        lan.transport = TransportOptions::default();
        let lan = lan.validate()?;
        let mut wan = options.wan;
        if wan.multicast {
            wan.multicast = false;
        }
        if wan.peers.is_empty() && wan.nats.is_none() {
            return Err(Error::invalid(
                "gateway",
                "",
                "a wide-area side: NATS (--nats URL) or peers (--peer HOST:PORT)",
            ));
        }
        crate::transport::validate(&wan)?;
        if options.dedup_window.is_zero() || options.dedup_window > Duration::from_secs(60) {
            return Err(Error::invalid(
                "dedup_window",
                format!("{:?}", options.dedup_window),
                "more than 0 and at most 60 s",
            ));
        }
        let subject = wan
            .nats
            .as_ref()
            .and_then(|n| n.subject.clone())
            .unwrap_or_else(|| crate::NatsOptions::default_subject(lan.options.group, lan.options.port));
        // before any socket: a gateway that cannot name its LAN does not start
        let lan_id = match options.lan_id.clone() {
            Some(id) => id,
            None => derive_lan_id(&lan)?,
        };
        // a marker that matches no sender: the gateway drops nothing in the kernel
        let socket = socket::open(&lan, OwnMarker::for_run(rand::random::<u64>() | 1, None))?;
        let transport = Arc::new(TransportCounters::default());
        tracing::info!(target: "eventcast::net", lan = %lan_id, "gateway LAN id");
        let extra = Extra::open(&wan, lan.unicast_bind, subject, Some(lan_id), &transport).await?;
        let counters = Arc::new(Counters::default());
        let (stop, stopped) = oneshot::channel();
        let relay = Relay {
            lan: socket,
            lan_destination: lan.destination.into(),
            wan: extra,
            from_wan: Relayed::new(options.dedup_window),
            counters: counters.clone(),
            transport: transport.clone(),
        };
        let task = tokio::spawn(relay.run(stopped));
        Ok(Gateway { monitor: GatewayMonitor { counters, transport }, stop: Some(stop), task: Some(task) })
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> GatewayStats {
        self.monitor.stats()
    }

    /// A handle that reads the counters, for a metrics server or a console.
    pub fn monitor(&self) -> GatewayMonitor {
        self.monitor.clone()
    }

    /// Stops relaying; what was handed to NATS is flushed (at most 2 s).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Reads a gateway's counters; cheap to clone.
#[derive(Debug, Clone)]
pub struct GatewayMonitor {
    counters: Arc<Counters>,
    transport: Arc<TransportCounters>,
}

impl GatewayMonitor {
    /// A snapshot of the counters.
    pub fn stats(&self) -> GatewayStats {
        let c = &self.counters;
        let t = &self.transport;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        GatewayStats {
            lan_in: get(&c.lan_in),
            lan_to_wan: get(&c.lan_to_wan),
            wan_in: get(&c.wan_in),
            wan_to_lan: get(&c.wan_to_lan),
            suppressed: get(&c.suppressed),
            dedup_evicted: get(&c.dedup_evicted),
            lan_send_errors: get(&c.lan_send_errors),
            nats_connected: get(&t.nats_connected),
            nats_reconnects: get(&t.nats_reconnects),
            nats_dropped: get(&t.nats_out_dropped) + get(&t.nats_in_dropped),
            peer_datagrams_out: get(&t.peer_datagrams_out),
            peer_send_errors: get(&t.peer_send_errors),
        }
    }
}

struct Relay {
    lan: UdpSocket,
    lan_destination: SockAddr,
    wan: Extra,
    /// Datagrams that came from the wide-area side, to recognise them on the LAN.
    from_wan: Relayed,
    counters: Arc<Counters>,
    transport: Arc<TransportCounters>,
}

enum Wake {
    Stop,
    Lan,
    WanPeers,
    Nats(Option<crate::transport::Inbound>),
}

impl Relay {
    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut recv = vec![0u8; STRIDE * BATCH];
        let mut meta: Vec<(usize, Option<SocketAddr>)> = vec![(0, None); BATCH];
        loop {
            let wake = tokio::select! {
                _ = &mut stopped => Wake::Stop,
                _ = self.lan.readable() => Wake::Lan,
                _ = readable(self.wan.peers.as_ref().map(|p| &p.socket)) => Wake::WanPeers,
                message = next_from_nats(&mut self.wan.nats) => Wake::Nats(message),
            };
            match wake {
                Wake::Stop => break,
                Wake::Lan => {
                    let n = read(&self.lan, &mut recv, &mut meta);
                    self.counters.lan_in.fetch_add(n as u64, Ordering::Relaxed);
                    let now = Instant::now();
                    let mut batch: Vec<&[u8]> = Vec::with_capacity(n);
                    for (i, (len, from)) in meta[..n].iter().enumerate() {
                        let datagram = &recv[i * STRIDE..i * STRIDE + len];
                        if from.is_none() {
                            continue;
                        }
                        let key = self.from_wan.key(datagram);
                        if self.from_wan.contains(now, key) {
                            self.counters.suppressed.fetch_add(1, Ordering::Relaxed);
                        } else {
                            batch.push(datagram);
                        }
                    }
                    self.to_wan(&batch).await;
                }
                Wake::WanPeers => {
                    let Some(peers) = &self.wan.peers else { continue };
                    let n = read(&peers.socket, &mut recv, &mut meta);
                    self.counters.wan_in.fetch_add(n as u64, Ordering::Relaxed);
                    let now = Instant::now();
                    let mut batch: Vec<&[u8]> = Vec::with_capacity(n);
                    let listed = self.wan.listed_peers();
                    for (i, (len, from)) in meta[..n].iter().enumerate() {
                        if from.is_some_and(|f| is_listed(&listed, f, &self.transport)) {
                            let datagram = &recv[i * STRIDE..i * STRIDE + len];
                            let key = self.from_wan.key(datagram);
                            self.from_wan.insert(now, key);
                            batch.push(datagram);
                        }
                    }
                    self.to_lan(&batch).await;
                }
                Wake::Nats(Some(first)) => {
                    let mut messages = vec![first];
                    while messages.len() < BATCH
                        && let Some(next) = self.wan.try_next_from_nats()
                    {
                        messages.push(next);
                    }
                    self.counters.wan_in.fetch_add(messages.len() as u64, Ordering::Relaxed);
                    let now = Instant::now();
                    let mut batch: Vec<&[u8]> = Vec::with_capacity(messages.len());
                    for m in &messages {
                        let key = self.from_wan.key(&m.datagram);
                        self.from_wan.insert(now, key);
                        if m.from_own_lan {
                            self.counters.suppressed.fetch_add(1, Ordering::Relaxed);
                        } else {
                            batch.push(&m.datagram);
                        }
                    }
                    self.to_lan(&batch).await;
                }
                Wake::Nats(None) => tracing::warn!(target: "eventcast::net", "gateway: the NATS link ended"),
            }
            self.counters.dedup_evicted.store(self.from_wan.evicted, Ordering::Relaxed);
        }
        self.wan.close(&self.transport).await;
    }

    async fn to_wan(&self, batch: &[&[u8]]) {
        if batch.is_empty() {
            return;
        }
        self.counters.lan_to_wan.fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.wan.send_to_peers(batch, &self.transport);
        if self.wan.has_nats() {
            self.wan.send_to_nats(batch.iter().map(|d| bytes::Bytes::copy_from_slice(d)), &self.transport);
        }
    }

    async fn to_lan(&self, batch: &[&[u8]]) {
        let mut rest = batch;
        self.counters.wan_to_lan.fetch_add(batch.len() as u64, Ordering::Relaxed);
        while !rest.is_empty() {
            match self.lan.try_io(Interest::WRITABLE, || batch::send_to_many(&self.lan, &self.lan_destination, rest)) {
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let _ = self.lan.writable().await;
                }
                Err(e) => {
                    self.counters.lan_send_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "eventcast::net", error = %e, "gateway: send to the LAN failed");
                    rest = &rest[1..];
                }
            }
        }
    }
}

/// Reads a batch from `socket` (0 when nothing waits).
fn read(socket: &UdpSocket, recv: &mut [u8], meta: &mut [(usize, Option<SocketAddr>)]) -> usize {
    match socket.try_io(Interest::READABLE, || batch::recv_many(socket, recv, STRIDE, meta)) {
        Ok(n) => n,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
        Err(e) => {
            tracing::warn!(target: "eventcast::net", error = %e, "gateway: receive failed");
            0
        }
    }
}

/// The LAN id of a gateway on `lan`: group, port and the IPv4 subnet of the LAN interface
/// (for an IPv6 group, of the interface with its index), which every gateway of that LAN
/// shares. Where the subnet cannot be told (the OS's default interface), an error: gateways
/// of one LAN with different ids would relay each other's copies back and forth.
fn derive_lan_id(lan: &crate::options::Validated) -> Result<String> {
    let (group, port) = (lan.options.group, lan.options.port);
    let (v4, index) = (lan.interface.v4, lan.interface.index);
    let interfaces = if_addrs::get_if_addrs().unwrap_or_default();
    for i in &interfaces {
        if let if_addrs::IfAddr::V4(a) = &i.addr
            && ((!v4.is_unspecified() && a.ip == v4) || (v4.is_unspecified() && index != 0 && i.index == Some(index)))
        {
            let net = std::net::Ipv4Addr::from(u32::from(a.ip) & u32::from(a.netmask));
            return Ok(format!("{group}:{port}@{net}/{}", a.prefixlen));
        }
    }
    Err(Error::invalid(
        "interface",
        lan.options.interface.to_string(),
        "for a gateway, the LAN interface by name or IPv4 address (its subnet names the LAN, so that the gateways of one LAN know each other), or an explicit lan_id (--lan-id) shared by the gateways of this LAN",
    ))
}
