//! Checks 1 and 2: the interfaces that can carry multicast, and the one eventcast uses.

use eventcast::Interface;

use super::super::report::Check;
use super::super::sys::{IFF_LOOPBACK, IFF_MULTICAST, IFF_UP, Link, Sys};
use super::{Ctx, join_addrs};

/// Why `link` cannot carry multicast to other hosts, if it cannot; loopback counts as able
/// (the kernel loops multicast back on it without the MULTICAST flag).
fn unusable(link: &Link, ctx: &Ctx) -> Option<&'static str> {
    if link.flags.is_none() {
        Some("flags unreadable")
    } else if !link.has(IFF_UP) {
        Some("down")
    } else if !(link.has(IFF_MULTICAST) || (link.has(IFF_LOOPBACK) && ctx.group.is_ipv4())) {
        // IPv4 multicast loops back on lo without the flag; IPv6 multicast needs it
        Some("no MULTICAST flag")
    } else if !link.addrs.iter().any(|a| a.is_ipv4() == ctx.group.is_ipv4()) {
        if ctx.group.is_ipv4() { Some("no IPv4 address") } else { Some("no IPv6 address") }
    } else {
        None
    }
}

/// Check 1: the interfaces that are UP with MULTICAST, with their addresses.
pub fn interfaces(ctx: &Ctx, sys: &Sys) -> Check {
    const NAME: &str = "interfaces";
    let (usable, not): (Vec<&Link>, Vec<&Link>) = sys.links.iter().partition(|l| unusable(l, ctx).is_none());
    let mut detail =
        usable.iter().map(|l| format!("{} ({})", l.name, join_addrs(&l.addrs))).collect::<Vec<_>>().join(", ");
    if detail.is_empty() {
        detail = "none usable".into();
    }
    if !not.is_empty() {
        let list: Vec<String> =
            not.iter().map(|l| format!("{} ({})", l.name, unusable(l, ctx).unwrap_or("?"))).collect();
        detail.push_str(&format!("; not usable: {}", list.join(", ")));
    }
    let others = usable.iter().filter(|l| !l.has(IFF_LOOPBACK)).count();
    if usable.is_empty() {
        Check::fail(
            NAME,
            detail,
            "bring an interface up with multicast and an address: ip link set dev IFACE up multicast on; ip addr add ADDR/PREFIX dev IFACE",
        )
    } else if others == 0 {
        Check::warn(
            NAME,
            format!("only loopback: events stay on this host; {detail}"),
            "connect a network interface (UP, MULTICAST) to reach other hosts",
        )
    } else {
        Check::ok(NAME, detail)
    }
}

/// Check 2: what `--interface` resolves to, given `picked`, the interface of the route to the
/// group (the OS's choice for `default`). Returns the check and the interface's name.
pub fn chosen(ctx: &Ctx, sys: &Sys, picked: Option<&str>) -> (Check, Option<String>) {
    const NAME: &str = "interface";
    let names = || {
        let usable: Vec<&str> =
            sys.links.iter().filter(|l| unusable(l, ctx).is_none()).map(|l| l.name.as_str()).collect();
        if usable.is_empty() { "none is usable".to_owned() } else { format!("usable: {}", usable.join(", ")) }
    };
    let (link, how) = match &ctx.interface {
        Interface::Default => match picked.and_then(|p| sys.link(p)) {
            Some(link) => (link, format!("default (the OS's choice: the route to {}) is {}", ctx.group, link.name)),
            None => {
                let detail =
                    format!("default (the OS's choice): no route to {} picks an interface (see route)", ctx.group);
                return (Check::warn(NAME, detail, format!("run with --interface IFACE ({})", names())), None);
            }
        },
        Interface::Name(name) => match sys.link(name) {
            Some(link) => (link, format!("--interface {name}")),
            None => {
                let detail = format!("interface {name} does not exist ({})", names());
                return (
                    Check::fail(
                        NAME,
                        detail,
                        "--interface NAME with one of the usable interfaces (ip link shows them)",
                    ),
                    None,
                );
            }
        },
        Interface::Addr(ip) => match sys.links.iter().find(|l| l.addrs.contains(ip)) {
            Some(link) => (link, format!("--interface {ip} is {}", link.name)),
            None => {
                let detail = format!("no interface has the address {ip} ({})", names());
                return (
                    Check::fail(NAME, detail, "--interface with an address of this host (ip -br addr shows them)"),
                    None,
                );
            }
        },
    };
    let name = link.name.clone();
    let n = &link.name;
    let check = match unusable(link, ctx) {
        Some("down") => Check::fail(NAME, format!("{how}, which is down"), format!("ip link set dev {n} up")),
        Some("no MULTICAST flag") => Check::fail(
            NAME,
            format!("{how}, which has multicast off (no MULTICAST flag)"),
            format!("ip link set dev {n} multicast on"),
        ),
        Some(why) if why.starts_with("no IPv") => Check::fail(
            NAME,
            format!("{how}, which has {why} (group {} needs one)", ctx.group),
            format!("ip addr add ADDR/PREFIX dev {n}"),
        ),
        Some(why) => Check::warn(NAME, format!("{how}: {why}"), format!("ip link show dev {n}")),
        None if link.has(IFF_LOOPBACK) => Check::warn(
            NAME,
            format!("{how}: loopback, fine for instances on this host only"),
            "--interface eth0 (or another LAN interface) to reach other hosts",
        ),
        None => {
            let mtu = link.mtu.map(|m| format!(", MTU {m}")).unwrap_or_default();
            Check::ok(NAME, format!("{how} ({}{mtu})", join_addrs(&link.addrs)))
        }
    };
    (check, Some(name))
}

#[cfg(test)]
mod tests {
    use super::super::super::report::Status;
    use super::super::fake;
    use super::*;

    #[test]
    fn usable_interfaces_are_listed_with_addresses() {
        let c = interfaces(&fake::ctx("default"), &fake::sys());
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.starts_with("lo (127.0.0.1), eth0 (10.77.0.1), eth1 (10.78.0.1)"), "{}", c.detail);
        assert!(c.detail.contains("not usable: down0 (down)"), "{}", c.detail);
        let mut sys = fake::sys();
        sys.links.retain(|l| l.name == "lo");
        assert_eq!(interfaces(&fake::ctx("default"), &sys).status, Status::Warn);
        sys.links.clear();
        assert_eq!(interfaces(&fake::ctx("default"), &sys).status, Status::Fail);
    }

    #[test]
    fn chosen_interface_verdicts() {
        let sys = fake::sys();
        let (c, name) = chosen(&fake::ctx("default"), &sys, Some("eth0"));
        assert_eq!((c.status, name.as_deref()), (Status::Ok, Some("eth0")));
        assert!(c.detail.contains("default (the OS's choice: the route to 239.255.0.99) is eth0"), "{}", c.detail);
        let (c, _) = chosen(&fake::ctx("default"), &sys, None);
        assert_eq!(c.status, Status::Warn);
        let (c, name) = chosen(&fake::ctx("nope0"), &sys, Some("eth0"));
        assert_eq!((c.status, name), (Status::Fail, None));
        assert!(c.detail.contains("nope0 does not exist"), "{}", c.detail);
        let (c, _) = chosen(&fake::ctx("down0"), &sys, None);
        assert_eq!(c.status, Status::Fail);
        assert_eq!(c.fix.as_deref(), Some("ip link set dev down0 up"));
        let (c, name) = chosen(&fake::ctx("10.78.0.1"), &sys, None);
        assert_eq!((c.status, name.as_deref()), (Status::Ok, Some("eth1")));
        let (c, _) = chosen(&fake::ctx("10.9.9.9"), &sys, None);
        assert!(c.status == Status::Fail && c.detail.contains("10.9.9.9"), "{}", c.detail);
        let (c, _) = chosen(&fake::ctx("lo"), &sys, None);
        assert_eq!(c.status, Status::Warn);
    }

    #[test]
    fn multicast_off_is_named_with_its_fix() {
        let mut sys = fake::sys();
        sys.links[1].flags = Some(IFF_UP);
        let (c, _) = chosen(&fake::ctx("eth0"), &sys, None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.detail.contains("multicast off"), "{}", c.detail);
        assert_eq!(c.fix.as_deref(), Some("ip link set dev eth0 multicast on"));
        let mut v6 = fake::ctx("eth0");
        v6.group = "ff02::1:2".parse().unwrap();
        let (c, _) = chosen(&v6, &fake::sys(), None);
        assert!(c.status == Status::Fail && c.detail.contains("no IPv6 address"), "{}", c.detail);
        let mut sys = fake::sys();
        sys.links[0].addrs.push("::1".parse().unwrap());
        v6.interface = "lo".parse().unwrap();
        let (c, _) = chosen(&v6, &sys, None);
        assert_eq!(
            c.fix.as_deref(),
            Some("ip link set dev lo multicast on"),
            "IPv6 multicast needs the flag on lo too"
        );
    }
}
