//! The transports datagrams travel on: the multicast group, unicast peers and NATS. The
//! protocol core neither knows nor cares which: every datagram it produces goes out on each
//! transport that is on, and what arrives on any of them feeds it. The gateway relays
//! between two sets of transports.

#[cfg(feature = "nats")]
pub(crate) mod nats;
mod options;
pub(crate) mod peers;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use tokio::net::UdpSocket;

use crate::driver::batch;
use crate::error::Result;
pub(crate) use options::validate;
pub use options::{NatsOptions, TransportOptions};

/// The source address given to datagrams that came through NATS (which has none): events
/// from it have no `from`.
pub(crate) const NATS_SOURCE: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// Counters of the transports of one instance (or gateway side), kept across runs.
#[derive(Debug, Default)]
pub(crate) struct TransportCounters {
    pub peer_datagrams_out: AtomicU64,
    pub peer_datagrams_in: AtomicU64,
    pub peer_send_errors: AtomicU64,
    /// Datagrams not sent to a peer because the socket was full.
    pub peer_send_dropped: AtomicU64,
    /// Datagrams on the peer socket from an address that is not a listed peer.
    pub peer_unknown_source: AtomicU64,
    pub peer_resolve_failures: AtomicU64,
    pub peer_addresses: AtomicU64,
    pub nats_connected: AtomicU64,
    /// Whether NATS was ever connected (so the next connection is a reconnect).
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub nats_was_connected: AtomicU64,
    pub nats_reconnects: AtomicU64,
    pub nats_messages_out: AtomicU64,
    pub nats_messages_in: AtomicU64,
    pub nats_out_dropped: AtomicU64,
    pub nats_in_dropped: AtomicU64,
}

impl TransportCounters {
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub fn nats_ever_connected(&self) -> bool {
        self.nats_was_connected.load(Ordering::Relaxed) != 0
    }
}

/// A message from NATS.
#[cfg(feature = "nats")]
pub(crate) use nats::Inbound;
#[cfg(not(feature = "nats"))]
pub(crate) struct Inbound {
    pub datagram: Bytes,
    pub from_own_lan: bool,
}

/// The link to NATS (a type without values when the `nats` feature is off).
#[cfg(feature = "nats")]
pub(crate) type NatsLink = nats::Link;
#[cfg(not(feature = "nats"))]
pub(crate) enum NatsLink {}

/// The transports of a running instance other than the multicast socket (which the driver
/// owns as before): unicast peers and NATS.
#[derive(Default)]
pub(crate) struct Extra {
    pub peers: Option<peers::Peers>,
    pub nats: Option<NatsLink>,
}

impl Extra {
    /// Opens what `t` asks for: peers on a socket bound to `bind`, NATS on `subject`.
    /// `lan`: a gateway's LAN id (see `nats::LAN_HEADER`), `None` for an instance.
    pub async fn open(
        t: &TransportOptions,
        bind: SocketAddr,
        subject: String,
        lan: Option<String>,
        counters: &Arc<TransportCounters>,
    ) -> Result<Extra> {
        let mut extra = Extra::default();
        if !t.peers.is_empty() {
            extra.peers = Some(peers::Peers::open(&t.peers, bind, t.peer_refresh, counters.clone()).await?);
        }
        if let Some(n) = &t.nats {
            #[cfg(feature = "nats")]
            {
                extra.nats = Some(nats::Link::connect(n, subject, lan, counters.clone()).await?);
            }
            #[cfg(not(feature = "nats"))]
            return Err(crate::Error::invalid("nats", n.urls.join(","), "a build with the `nats` feature"));
        }
        #[cfg(not(feature = "nats"))]
        let _ = (subject, lan);
        Ok(extra)
    }

    /// Sends `datagrams` to every peer. Never waits: what the socket cannot take now (a
    /// peer being resolved by ARP, a slow uplink) is dropped and counted, and the protocol
    /// repairs it, so that no peer can hold up the driver.
    pub fn send_to_peers(&self, datagrams: &[&[u8]], counters: &TransportCounters) {
        let Some(p) = &self.peers else { return };
        for peer in p.addrs().iter() {
            let to = socket2::SockAddr::from(*peer);
            let mut rest = datagrams;
            while !rest.is_empty() {
                // the system call itself, not `try_io`: tokio's readiness of a socket just
                // made may not say writable yet, and a spurious WouldBlock would drop the
                // first datagrams of a run (a one-shot emit's only event)
                match batch::send_to_many(&p.socket, &to, rest) {
                    Ok(n) => {
                        counters.peer_datagrams_out.fetch_add(n as u64, Ordering::Relaxed);
                        rest = &rest[n..];
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        counters.peer_send_dropped.fetch_add(rest.len() as u64, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => {
                        // an unreachable peer costs its counter and nothing else
                        counters.peer_send_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::debug!(target: "eventcast::net", %peer, error = %e, "send to peer failed");
                        rest = &rest[1..];
                    }
                }
            }
        }
    }

    /// The listed peers' addresses now: take it once per batch read from the peer socket
    /// and ask [`is_listed`] of each datagram.
    pub fn listed_peers(&self) -> Arc<Vec<SocketAddr>> {
        self.peers.as_ref().map(|p| p.addrs()).unwrap_or_default()
    }

    /// Hands each datagram to NATS (never waits: a full queue drops and counts).
    #[cfg_attr(not(feature = "nats"), allow(unused_variables, clippy::unused_self))]
    pub fn send_to_nats(&self, datagrams: impl Iterator<Item = Bytes>, counters: &TransportCounters) {
        #[cfg(feature = "nats")]
        if let Some(link) = &self.nats {
            for d in datagrams {
                link.publish(d, counters);
            }
        }
    }

    /// Whether NATS is on.
    pub fn has_nats(&self) -> bool {
        self.nats.is_some()
    }

    /// The unicast socket, if peers are on.
    pub fn peer_socket(&self) -> Option<&UdpSocket> {
        self.peers.as_ref().map(|p| &p.socket)
    }

    /// A message from NATS if one waits.
    pub fn try_next_from_nats(&mut self) -> Option<Inbound> {
        #[cfg(feature = "nats")]
        if let Some(link) = &mut self.nats {
            return link.inbound.try_recv().ok();
        }
        None
    }

    /// Stops: NATS flushes what it was handed (at most 2 s).
    #[cfg_attr(not(feature = "nats"), allow(unused_variables))]
    pub async fn close(self, counters: &TransportCounters) {
        #[cfg(feature = "nats")]
        if let Some(link) = self.nats {
            link.close(counters).await;
        }
    }
}

/// Waits for a message from NATS (forever if NATS is off or its link ended); `None` once,
/// when the link ends.
pub(crate) async fn next_from_nats(nats: &mut Option<NatsLink>) -> Option<Inbound> {
    #[cfg(feature = "nats")]
    if let Some(link) = nats
        && !link.ended
    {
        let message = link.inbound.recv().await;
        link.ended = message.is_none();
        return message;
    }
    #[cfg(not(feature = "nats"))]
    let _ = nats;
    std::future::pending().await
}

/// Whether a datagram from `from` on the peer socket comes from one of `listed` (by address;
/// the port may differ behind NAT). Others are dropped and counted: the peer socket is not
/// an open door.
pub(crate) fn is_listed(listed: &[SocketAddr], from: SocketAddr, counters: &TransportCounters) -> bool {
    let ok = listed.iter().any(|a| a.ip() == from.ip());
    if !ok {
        counters.peer_unknown_source.fetch_add(1, Ordering::Relaxed);
    }
    ok
}

/// Waits until `socket` is readable, or forever when there is none.
pub(crate) async fn readable(socket: Option<&UdpSocket>) -> std::io::Result<()> {
    match socket {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

/// `url` with any user and password replaced by `…`, for logs and errors.
///
/// ```text
/// assert_eq!(redact_url("nats://u:pw@host:4222"), "nats://…@host:4222");
/// ```
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    match rest.rsplit_once('@') {
        Some((_, host)) if scheme.is_empty() => format!("…@{host}"),
        Some((_, host)) => format!("{scheme}://…@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_in_urls_are_never_shown() {
        assert_eq!(redact_url("nats://u:pw@host:4222"), "nats://…@host:4222");
        assert_eq!(redact_url("token@host:4222"), "…@host:4222");
        assert_eq!(redact_url("nats://host:4222"), "nats://host:4222");
    }
}
