//! Multicast socket set-up with socket2.

use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use super::echo_filter::{self, OwnMarker};
use crate::error::{Error, Result};
use crate::options::Validated;

/// Receive buffer asked for when the options leave it unset.
pub(crate) const DEFAULT_RECV_BUFFER: usize = 8 << 20;

/// Opens, binds and joins the socket of one instance.
///
/// Several instances may share a host and port, and the kernel must copy each multicast
/// datagram to exactly those that joined its group:
///
/// - On Linux the socket binds the group address (unless `address` says otherwise) with
///   `SO_REUSEADDR` only, and `IP_MULTICAST_ALL` off. Binding the group makes the kernel
///   match the destination address; `IP_MULTICAST_ALL` off keeps a socket bound to the
///   unspecified address from hearing groups other sockets joined. `SO_REUSEPORT` is left
///   off on purpose: it makes the sockets one reuseport group, and the kernel then hands
///   each datagram to *one* of them, chosen by a hash, whether or not that one joined the
///   group — two groups on one port lose events at random.
/// - Elsewhere (BSD, macOS) `SO_REUSEPORT` is what lets several sockets share a multicast
///   port, and every one of them gets a copy.
///
/// A socket bound to the group hears no unicast: unicast transports use sockets of their
/// own.
pub(crate) fn open(v: &Validated, own: OwnMarker) -> Result<UdpSocket> {
    let o = &v.options;
    let domain = if o.group.is_ipv4() { Domain::IPV4 } else { Domain::IPV6 };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(Error::io("creating the UDP socket"))?;
    let setup = |what: &str| Error::io(format!("{what} (group {}, interface {})", o.group, o.interface));
    socket.set_reuse_address(true).map_err(setup("setting SO_REUSEADDR"))?;
    #[cfg(all(unix, not(target_os = "linux")))]
    socket.set_reuse_port(true).map_err(setup("setting SO_REUSEPORT"))?;
    let wanted = o.recv_buffer_size.unwrap_or(DEFAULT_RECV_BUFFER);
    if socket.set_recv_buffer_size(wanted).is_ok() {
        // Linux reports twice the size it grants.
        let granted = socket.recv_buffer_size().unwrap_or(0);
        if granted < wanted && o.recv_buffer_size.is_some() {
            tracing::warn!(target: "eventcast::net", requested = wanted, granted,
                "the OS capped the socket receive buffer (raise net.core.rmem_max); bursts may overflow it");
        } else if granted < wanted {
            tracing::debug!(target: "eventcast::net", requested = wanted, granted, "the OS capped the socket receive buffer");
        }
    }
    match o.group {
        IpAddr::V4(group) => {
            #[cfg(target_os = "linux")]
            socket.set_multicast_all_v4(false).map_err(setup("clearing IP_MULTICAST_ALL"))?;
            socket.set_multicast_loop_v4(o.loopback).map_err(setup("setting IP_MULTICAST_LOOP"))?;
            socket.set_multicast_ttl_v4(o.ttl).map_err(setup("setting IP_MULTICAST_TTL"))?;
            if !v.interface.v4.is_unspecified() {
                socket.set_multicast_if_v4(&v.interface.v4).map_err(setup("setting IP_MULTICAST_IF"))?;
            }
            bind(&socket, v.bind)?;
            socket.join_multicast_v4(&group, &v.interface.v4).map_err(setup("joining the multicast group"))?;
        }
        IpAddr::V6(group) => {
            socket.set_only_v6(true).map_err(setup("setting IPV6_V6ONLY"))?;
            #[cfg(target_os = "linux")]
            socket.set_multicast_all_v6(false).map_err(setup("clearing IPV6_MULTICAST_ALL"))?;
            socket.set_multicast_loop_v6(o.loopback).map_err(setup("setting IPV6_MULTICAST_LOOP"))?;
            socket.set_multicast_hops_v6(o.ttl).map_err(setup("setting IPV6_MULTICAST_HOPS"))?;
            if v.interface.index != 0 {
                socket.set_multicast_if_v6(v.interface.index).map_err(setup("setting IPV6_MULTICAST_IF"))?;
            }
            bind(&socket, v.bind)?;
            socket.join_multicast_v6(&group, v.interface.index).map_err(setup("joining the multicast group"))?;
        }
    }
    if let Err(e) = echo_filter::attach(&socket, own) {
        tracing::debug!(target: "eventcast::net", error = %e, "no in-kernel filter for own datagrams; they are dropped after reading");
    }
    socket.set_nonblocking(true).map_err(setup("making the socket non-blocking"))?;
    UdpSocket::from_std(socket.into()).map_err(Error::io("registering the socket with tokio"))
}

fn bind(socket: &Socket, addr: SocketAddr) -> Result<()> {
    socket.bind(&addr.into()).map_err(Error::io(format!("binding UDP {addr}")))
}
