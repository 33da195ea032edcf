//! Checks 3 and 4: the route the group takes (/proc/net/route, longest prefix), and
//! reverse-path filtering on the chosen interface.

use std::net::{IpAddr, Ipv4Addr};

use eventcast::Interface;

use super::super::report::Check;
use super::super::sys::Sys;
use super::Ctx;

/// `RTF_UP`: the route is usable.
const RTF_UP: u32 = 0x1;
/// `RTF_REJECT`: unreachable, prohibit or blackhole.
const RTF_REJECT: u32 = 0x200;

/// One IPv4 route of the main table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The interface (`*` for reject routes).
    pub iface: String,
    /// Destination network.
    pub dest: Ipv4Addr,
    /// Gateway, 0.0.0.0 when on-link.
    pub gateway: Ipv4Addr,
    /// `RTF_…` flags.
    pub flags: u32,
    /// Metric; lower wins among equal prefixes.
    pub metric: u32,
    /// Prefix length of the mask.
    pub prefix: u32,
    mask: u32,
}

impl Route {
    /// The interface, or `None` for a reject route.
    pub fn iface(&self) -> Option<&str> {
        (self.flags & RTF_REJECT == 0 && self.iface != "*").then_some(self.iface.as_str())
    }

    fn covers(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask == u32::from(self.dest) & self.mask
    }

    fn describe(&self) -> String {
        let what = if self.prefix == 0 {
            "the default route".to_owned()
        } else {
            format!("route {}/{}", self.dest, self.prefix)
        };
        if self.gateway.is_unspecified() { what } else { format!("{what} via {}", self.gateway) }
    }
}

/// An address field of /proc/net/route or /proc/net/igmp: the address's bytes in network
/// order, printed as a host-order hexadecimal number.
pub fn proc_hex_addr(field: &str) -> Option<Ipv4Addr> {
    if field.len() != 8 {
        return None;
    }
    u32::from_str_radix(field, 16).ok().map(|v| Ipv4Addr::from(v.to_ne_bytes()))
}

/// Reads /proc/net/route; malformed lines are skipped.
pub fn parse_routes(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let mask = u32::from(proc_hex_addr(f[7])?);
            if mask.leading_ones() + mask.trailing_zeros() != 32 {
                return None; // not a prefix
            }
            Some(Route {
                iface: f[0].to_owned(),
                dest: proc_hex_addr(f[1])?,
                gateway: proc_hex_addr(f[2])?,
                flags: u32::from_str_radix(f[3], 16).ok()?,
                metric: f[6].parse().ok()?,
                prefix: mask.leading_ones(),
                mask,
            })
        })
        .collect()
}

/// The route `addr` takes: the longest prefix that covers it, then the lowest metric.
pub fn lookup(routes: &[Route], addr: Ipv4Addr) -> Option<&Route> {
    routes
        .iter()
        .filter(|r| r.flags & RTF_UP != 0 && r.covers(addr))
        .max_by_key(|r| (r.prefix, std::cmp::Reverse(r.metric)))
}

/// The route to the group (IPv4 groups only).
pub fn pick(ctx: &Ctx, sys: &Sys) -> Option<Route> {
    let IpAddr::V4(group) = ctx.group else { return None };
    lookup(&parse_routes(sys.file("/proc/net/route")?), group).cloned()
}

/// Check 3: the route the group takes, and whether it leaves by the chosen interface.
pub fn check(ctx: &Ctx, sys: &Sys, route: Option<&Route>, chosen: Option<&str>) -> Check {
    const NAME: &str = "route";
    let g = ctx.group;
    if g.is_ipv6() {
        return Check::skipped(NAME, format!("IPv6 group {g}: this check reads IPv4 routes; see ip -6 route get {g}"));
    }
    if sys.file("/proc/net/route").is_none() {
        return Check::skipped(NAME, "cannot read /proc/net/route");
    }
    let explicit = ctx.interface != Interface::Default;
    let target = chosen.unwrap_or("IFACE");
    let Some(route) = route else {
        let fix = format!("ip route add 224.0.0.0/4 dev {target}");
        return match (explicit, chosen) {
            (false, _) => Check::fail(
                NAME,
                format!(
                    "no route covers {g} (no default route, no 224.0.0.0/4 route) and --interface is default: the OS has no interface to send on"
                ),
                format!("{fix}, or run with --interface IFACE"),
            ),
            (true, Some("lo")) => Check::ok(
                NAME,
                format!(
                    "no route covers {g}; lo has no 224.0.0.0/4 route, fine since --interface names lo (this host only)"
                ),
            ),
            (true, _) => Check::ok(
                NAME,
                format!(
                    "no route covers {g}; fine since --interface sets {target}, but programs using the default interface cannot send (fix: {fix})"
                ),
            ),
        };
    };
    let Some(via) = route.iface() else {
        return Check::fail(
            NAME,
            format!("{} rejects {g} (unreachable, prohibit or blackhole)", route.describe()),
            format!("ip route add 224.0.0.0/4 dev {target}"),
        );
    };
    match chosen {
        Some(c) if explicit && c != via => Check::warn(
            NAME,
            format!(
                "wrong interface: {g} goes via {via} ({}), but --interface names {c}: eventcast uses {c}, programs with the default interface use {via}",
                route.describe()
            ),
            format!("ip route replace 224.0.0.0/4 dev {c}, or run every instance with --interface {via}"),
        ),
        _ => Check::ok(NAME, format!("{g} goes via {via} ({})", route.describe())),
    }
}

/// Check 4: strict reverse-path filtering (rp_filter 1) on the chosen interface drops
/// multicast from senders the routes do not lead back to through it.
pub fn rp_filter(ctx: &Ctx, sys: &Sys, chosen: Option<&str>) -> Check {
    const NAME: &str = "rp_filter";
    if ctx.group.is_ipv6() {
        return Check::skipped(NAME, "IPv6 has no rp_filter");
    }
    let read = |name: &str| {
        sys.file(&format!("/proc/sys/net/ipv4/conf/{name}/rp_filter")).and_then(|t| t.trim().parse::<u8>().ok())
    };
    let Some(all) = read("all") else {
        return Check::skipped(NAME, "cannot read /proc/sys/net/ipv4/conf/all/rp_filter");
    };
    let (iface, own) = match chosen {
        Some(c) => (c, read(c)),
        None => ("every interface", None),
    };
    let effective = all.max(own.unwrap_or(0));
    let values = match own {
        Some(v) => format!("all={all}, {iface}={v}"),
        None => format!("all={all}"),
    };
    let mode = match effective {
        0 => "off",
        1 => "strict",
        _ => "loose",
    };
    if effective == 1 {
        let target = chosen.unwrap_or("IFACE");
        Check::warn(
            NAME,
            format!(
                "strict reverse-path filtering on {iface} ({values}): multicast from senders whose addresses are not routed back via {iface} is dropped"
            ),
            format!("sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.{target}.rp_filter=2 (loose)"),
        )
    } else {
        Check::ok(NAME, format!("{mode} on {iface} ({values})"))
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::super::report::Status;
    use super::super::fake;
    use super::*;

    #[test]
    fn routes_parse_and_longest_prefix_wins() {
        let mut text = fake::ROUTES.to_owned();
        text.push_str("eth1\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0\n");
        text.push_str("garbage line\nbad\tZZZZZZZZ\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0\n");
        text.push_str("eth9\t00000000\t00000000\t0001\t0\t0\t0\t00FF00FF\t0\t0\t0\n"); // not a prefix
        let routes = parse_routes(&text);
        assert_eq!(routes.len(), 3);
        assert_eq!(routes[0].gateway, Ipv4Addr::new(10, 77, 0, 1));
        assert_eq!(routes[1].dest, Ipv4Addr::new(10, 77, 0, 0));
        assert_eq!(routes[1].prefix, 24);
        assert_eq!(lookup(&routes, "239.255.0.99".parse().unwrap()).unwrap().iface, "eth1");
        assert_eq!(lookup(&routes, "10.77.0.5".parse().unwrap()).unwrap().iface, "eth0");
        assert_eq!(lookup(&routes, "8.8.8.8".parse().unwrap()).unwrap().prefix, 0);
        assert!(lookup(&routes[1..2], "8.8.8.8".parse().unwrap()).is_none());
        assert!(parse_routes("").is_empty());
    }

    #[test]
    fn route_verdicts() {
        let sys = fake::sys();
        let ctx = fake::ctx("default");
        let r = pick(&ctx, &sys);
        let c = check(&ctx, &sys, r.as_ref(), Some("eth0"));
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.contains("goes via eth0 (the default route via 10.77.0.1)"), "{}", c.detail);
        let c = check(&fake::ctx("eth1"), &sys, r.as_ref(), Some("eth1"));
        assert!(c.status == Status::Warn && c.detail.starts_with("wrong interface"), "{}", c.detail);
        let c = check(&ctx, &sys, None, None);
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("ip route add 224.0.0.0/4 dev IFACE"));
        let c = check(&fake::ctx("lo"), &sys, None, Some("lo"));
        assert!(c.status == Status::Ok && c.detail.contains("lo has no 224.0.0.0/4 route"), "{}", c.detail);
        let mut reject = sys.clone();
        reject.files.insert(
            "/proc/net/route".into(),
            "Iface\tDestination\n*\t000000E0\t00000000\t0201\t0\t0\t0\t000000F0\t0\t0\t0\n".into(),
        );
        let r = pick(&ctx, &reject);
        assert_eq!(check(&ctx, &reject, r.as_ref(), None).status, Status::Fail);
    }

    #[test]
    fn strict_rp_filter_warns() {
        let mut sys = fake::sys();
        let ctx = fake::ctx("eth0");
        assert_eq!(rp_filter(&ctx, &sys, Some("eth0")).status, Status::Skipped);
        sys.files.insert("/proc/sys/net/ipv4/conf/all/rp_filter".into(), "0\n".into());
        sys.files.insert("/proc/sys/net/ipv4/conf/eth0/rp_filter".into(), "1\n".into());
        let c = rp_filter(&ctx, &sys, Some("eth0"));
        assert!(c.status == Status::Warn && c.detail.contains("all=0, eth0=1"), "{}", c.detail);
        sys.files.insert("/proc/sys/net/ipv4/conf/all/rp_filter".into(), "2\n".into());
        assert_eq!(rp_filter(&ctx, &sys, Some("eth0")).status, Status::Ok);
    }
}
