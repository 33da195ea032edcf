//! Choosing the network interface for multicast, by address or by name.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::options::family;

/// Which interface multicast uses.
///
/// ```
/// use eventcast::Interface;
/// assert_eq!("127.0.0.1".parse::<Interface>().unwrap(), Interface::Addr([127, 0, 0, 1].into()));
/// assert_eq!("lo".parse::<Interface>().unwrap(), Interface::Name("lo".into()));
/// assert_eq!("".parse::<Interface>().unwrap(), Interface::Default);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Interface {
    /// Let the operating system choose (its route to the group).
    #[default]
    Default,
    /// The interface that has this address.
    Addr(IpAddr),
    /// The interface with this name, such as `eth0` or `lo`.
    Name(String),
}

impl FromStr for Interface {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let s = s.trim();
        Ok(if s.is_empty() || s == "default" {
            Interface::Default
        } else if let Ok(ip) = s.parse() {
            Interface::Addr(ip)
        } else {
            Interface::Name(s.to_owned())
        })
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interface::Default => f.write_str("default"),
            Interface::Addr(ip) => ip.fmt(f),
            Interface::Name(n) => f.write_str(n),
        }
    }
}

/// What the socket options need: an IPv4 address (IPv4) and an interface index (IPv6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedInterface {
    /// The interface's IPv4 address, or `0.0.0.0` to let the OS choose.
    pub v4: Ipv4Addr,
    /// The interface index, or 0 to let the OS choose.
    pub index: u32,
    /// The interface's MTU, when it is known (named or addressed, on Linux).
    pub mtu: Option<usize>,
}

/// Finds the interface `spec` names, for a group of `group`'s family.
pub(crate) fn resolve(spec: &Interface, group: IpAddr) -> Result<ResolvedInterface> {
    if *spec == Interface::Default {
        return Ok(ResolvedInterface { v4: Ipv4Addr::UNSPECIFIED, index: 0, mtu: None });
    }
    let all = if_addrs::get_if_addrs().map_err(Error::io("listing network interfaces"))?;
    let known = || {
        let mut names: Vec<String> = all.iter().map(|i| format!("{} ({})", i.name, i.ip())).collect();
        names.dedup();
        names.join(", ")
    };
    let found = match spec {
        Interface::Default => unreachable!("handled above"),
        Interface::Addr(ip) => {
            if ip.is_ipv4() != group.is_ipv4() {
                let allowed =
                    format!("an {} interface address, since group {group} is {}", family(group), family(group));
                return Err(Error::invalid("interface", ip, allowed));
            }
            all.iter().find(|i| i.ip() == *ip)
        }
        Interface::Name(name) => all.iter().filter(|i| i.name == *name).find(|i| i.ip().is_ipv4() == group.is_ipv4()),
    };
    let Some(found) = found else {
        let allowed = format!("an interface of this host with an {} address: {}", family(group), known());
        return Err(Error::invalid("interface", spec, allowed));
    };
    let v4 = match found.ip() {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    Ok(ResolvedInterface { v4, index: found.index.unwrap_or(0), mtu: mtu_of(&found.name) })
}

/// The MTU of the interface named `name`, asked of the kernel (SIOCGIFMTU) so that it is
/// right inside a network namespace, where `/sys/class/net` may show another one's.
#[cfg(target_os = "linux")]
fn mtu_of(name: &str) -> Option<usize> {
    use std::os::fd::AsRawFd;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).ok()?;
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.is_empty() || name.len() >= request.ifr_name.len() || name.contains('\0') {
        return None;
    }
    for (slot, byte) in request.ifr_name.iter_mut().zip(name.bytes()) {
        *slot = byte as libc::c_char;
    }
    // SAFETY: the request names the interface (NUL-terminated, zeroed above) and the kernel
    // writes only the ifreq it is given; the socket stays open for the call.
    let done = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFMTU as _, &mut request) };
    // SAFETY: after a successful SIOCGIFMTU the union holds the MTU.
    let mtu = unsafe { request.ifr_ifru.ifru_mtu };
    (done == 0 && mtu > 0).then_some(mtu as usize)
}

#[cfg(not(target_os = "linux"))]
fn mtu_of(_name: &str) -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolves_by_name_and_address() {
        let group: IpAddr = "239.255.0.99".parse().unwrap();
        let by_addr = resolve(&Interface::Addr("127.0.0.1".parse().unwrap()), group).unwrap();
        let by_name = resolve(&Interface::Name("lo".into()), group).unwrap();
        assert_eq!(by_addr, by_name);
        assert_eq!(by_addr.v4, Ipv4Addr::LOCALHOST);
        assert!(by_addr.index > 0);
        assert!(by_addr.mtu.is_some_and(|m| m >= 1280), "lo has an MTU: {:?}", by_addr.mtu);
    }

    #[test]
    fn unknown_interface_lists_the_known_ones() {
        let err = resolve(&Interface::Name("nope0".into()), "239.1.1.1".parse().unwrap()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("nope0") && text.contains("lo (127.0.0.1)"), "{text}");
    }
}
