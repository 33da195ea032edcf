//! The checks that read the system (a [`Sys`] snapshot) without sending anything.

mod firewall;
mod host;
mod links;
mod route;

use std::net::IpAddr;

use eventcast::Interface;

use super::report::Check;
use super::sys::Sys;

/// What the checks are about: the group, ports and interface eventcast would use.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The multicast group.
    pub group: IpAddr,
    /// Every UDP port that must get through the firewall (the port, and the probe's).
    pub ports: Vec<u16>,
    /// `--interface`.
    pub interface: Interface,
    /// `--recv-buffer`, when given.
    pub recv_buffer: Option<usize>,
}

/// The receive buffer the library asks for when `--recv-buffer` is not given (8 MiB,
/// `DEFAULT_RECV_BUFFER` in crates/eventcast/src/driver/socket.rs).
pub const DEFAULT_RECV_BUFFER: usize = 8 << 20;

/// Runs every system check, in the order they are printed. Also returns the name of the
/// interface eventcast would use, when it is known.
pub fn all(ctx: &Ctx, sys: &Sys) -> (Vec<Check>, Option<String>) {
    let picked = route::pick(ctx, sys);
    let (interface, chosen) = links::chosen(ctx, sys, picked.as_ref().and_then(|r| r.iface()));
    let checks = vec![
        links::interfaces(ctx, sys),
        interface,
        route::check(ctx, sys, picked.as_ref(), chosen.as_deref()),
        route::rp_filter(ctx, sys, chosen.as_deref()),
        firewall::check(ctx, sys, chosen.as_deref()),
        host::igmp(ctx, sys),
        host::buffers(ctx, sys),
        host::environment(sys),
    ];
    (checks, chosen)
}

/// Addresses as text: `10.0.0.1, fd00::1`.
fn join_addrs(addrs: &[IpAddr]) -> String {
    addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
pub(crate) mod fake {
    //! A made-up system for the checks' tests.
    use super::super::sys::{IFF_LOOPBACK, IFF_MULTICAST, IFF_UP, Link, Sys};
    use super::*;

    /// Routes of a host with eth0 10.77.0.1/24 and a default route through it.
    pub const ROUTES: &str = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
        eth0\t00000000\t01004D0A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
        eth0\t00004D0A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";

    /// lo and eth0 (up, multicast), eth1 (up, multicast), down0 (down).
    pub fn sys() -> Sys {
        let mut sys = Sys::empty();
        let link = |name: &str, flags, addr: &str| Link {
            name: name.into(),
            flags: Some(flags),
            mtu: Some(1500),
            addrs: vec![addr.parse().unwrap()],
        };
        sys.links = vec![
            link("lo", IFF_UP | IFF_LOOPBACK, "127.0.0.1"),
            link("eth0", IFF_UP | IFF_MULTICAST, "10.77.0.1"),
            link("eth1", IFF_UP | IFF_MULTICAST, "10.78.0.1"),
            link("down0", IFF_MULTICAST, "10.79.0.1"),
        ];
        sys.files.insert("/proc/net/route".into(), ROUTES.into());
        sys
    }

    /// Options for group 239.255.0.99, port 9000 and this interface.
    pub fn ctx(interface: &str) -> Ctx {
        Ctx {
            group: "239.255.0.99".parse().unwrap(),
            ports: vec![9000],
            interface: interface.parse().unwrap(),
            recv_buffer: None,
        }
    }
}
