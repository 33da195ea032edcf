//! Unicast peers: a socket of its own, bound to `address:port`, that sends every datagram
//! to each listed peer and receives what peers send. Names are resolved at start (one that
//! does not resolve is an error then) and again every `peer_refresh` in the background (a
//! failure then keeps the addresses known before, and is counted and logged), so Docker and
//! Kubernetes service names that move between addresses keep working.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::TransportCounters;
use crate::error::{Error, Result};

/// The peers of a running instance.
pub(crate) struct Peers {
    pub socket: UdpSocket,
    /// The current addresses, replaced whole by the resolver.
    addrs: Arc<Mutex<Arc<Vec<SocketAddr>>>>,
    resolver: JoinHandle<()>,
}

impl Drop for Peers {
    fn drop(&mut self) {
        self.resolver.abort();
    }
}

impl Peers {
    /// Resolves `names`, binds `bind` and starts the periodic resolution.
    pub async fn open(
        names: &[String],
        bind: SocketAddr,
        refresh: Duration,
        counters: Arc<TransportCounters>,
    ) -> Result<Peers> {
        let family_v4 = bind.is_ipv4();
        let mut known = Vec::with_capacity(names.len());
        for name in names {
            match resolve(name, family_v4).await {
                Ok(found) => known.push(found),
                Err(why) => {
                    return Err(Error::invalid("peer", name, format!("a HOST:PORT that resolves ({why})")));
                }
            }
        }
        let socket = bind_socket(bind)?;
        let addrs = Arc::new(Mutex::new(Arc::new(union(&known, &counters))));
        let resolver = tokio::spawn(refresh_loop(names.to_vec(), known, family_v4, refresh, addrs.clone(), counters));
        Ok(Peers { socket, addrs, resolver })
    }

    /// The peer addresses now.
    pub fn addrs(&self) -> Arc<Vec<SocketAddr>> {
        self.addrs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// How long one name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Every address of every name, once each; counted in `peer_addresses`.
fn union(known: &[Vec<SocketAddr>], counters: &TransportCounters) -> Vec<SocketAddr> {
    let mut all: Vec<SocketAddr> = known.iter().flatten().copied().collect();
    all.sort();
    all.dedup();
    counters.peer_addresses.store(all.len() as u64, Ordering::Relaxed);
    all
}

/// The addresses of `name` of the socket's family.
async fn resolve(name: &str, family_v4: bool) -> std::result::Result<Vec<SocketAddr>, String> {
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(name))
        .await
        .map_err(|_| format!("no answer within {RESOLVE_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
    let found: Vec<_> = found.filter(|a| a.is_ipv4() == family_v4).collect();
    if found.is_empty() {
        let family = if family_v4 { "IPv4" } else { "IPv6" };
        return Err(format!("no {family} address, the family of the group"));
    }
    Ok(found)
}

async fn refresh_loop(
    names: Vec<String>,
    mut known: Vec<Vec<SocketAddr>>,
    family_v4: bool,
    every: Duration,
    addrs: Arc<Mutex<Arc<Vec<SocketAddr>>>>,
    counters: Arc<TransportCounters>,
) {
    loop {
        tokio::time::sleep(every).await;
        for (i, name) in names.iter().enumerate() {
            match resolve(name, family_v4).await {
                Ok(found) => {
                    if found != known[i] {
                        tracing::info!(target: "eventcast::net", peer = %name, ?found, "peer resolved to new addresses");
                    }
                    known[i] = found;
                }
                Err(why) => {
                    counters.peer_resolve_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "eventcast::net", peer = %name, %why, "peer did not resolve; keeping its last addresses");
                }
            }
        }
        let all = union(&known, &counters);
        *addrs.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(all);
    }
}

/// The unicast socket: `SO_REUSEADDR` so that it may share the port with the multicast
/// socket, and no multicast of other sockets' groups (`IP_MULTICAST_ALL` off).
fn bind_socket(bind: SocketAddr) -> Result<UdpSocket> {
    let setup = |what: &str| Error::io(format!("{what} (unicast peers, {bind})"));
    let domain = if bind.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(setup("creating the UDP socket"))?;
    socket.set_reuse_address(true).map_err(setup("setting SO_REUSEADDR"))?;
    #[cfg(target_os = "linux")]
    match bind.ip() {
        IpAddr::V4(_) => socket.set_multicast_all_v4(false).map_err(setup("clearing IP_MULTICAST_ALL"))?,
        IpAddr::V6(_) => {
            socket.set_only_v6(true).map_err(setup("setting IPV6_V6ONLY"))?;
            socket.set_multicast_all_v6(false).map_err(setup("clearing IPV6_MULTICAST_ALL"))?;
        }
    }
    let _ = socket.set_recv_buffer_size(super::super::driver::socket::DEFAULT_RECV_BUFFER);
    socket.bind(&bind.into()).map_err(|e| Error::Io {
        context: format!(
            "binding {bind} for unicast peers (another program, or another instance with peers, may hold the port)"
        ),
        source: e,
    })?;
    socket.set_nonblocking(true).map_err(setup("making the socket non-blocking"))?;
    UdpSocket::from_std(socket.into()).map_err(Error::io("registering the socket with tokio"))
}
