//! Checks 6 to 8: the groups this host has joined, socket buffer limits, and the
//! environment (containers, WSL).

use std::net::{IpAddr, Ipv6Addr};

use super::super::report::Check;
use super::super::sys::Sys;
use super::route::proc_hex_addr;
use super::{Ctx, DEFAULT_RECV_BUFFER};

/// Groups joined per interface, from /proc/net/igmp.
pub fn parse_igmp(text: &str) -> Vec<(String, IpAddr)> {
    let mut out = Vec::new();
    let mut device: Option<String> = None;
    for line in text.lines().skip(1) {
        if line.starts_with(|c: char| c.is_ascii_digit()) {
            // "2\teth0      :     3      V3": the name ends at the colon
            device = line
                .split_once(char::is_whitespace)
                .and_then(|(_, rest)| rest.split_once(':'))
                .map(|(name, _)| name.trim().to_owned())
                .filter(|n| !n.is_empty());
        } else if let (Some(dev), Some(group)) = (&device, line.split_whitespace().next().and_then(proc_hex_addr)) {
            out.push((dev.clone(), IpAddr::V4(group)));
        }
    }
    out
}

/// Groups joined per interface, from /proc/net/igmp6 (`1 lo ff02…01 1 0000000C 0`).
pub fn parse_igmp6(text: &str) -> Vec<(String, IpAddr)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let hex = f.get(2).filter(|h| h.len() == 32)?;
            let value = u128::from_str_radix(hex, 16).ok()?;
            Some((f[1].to_owned(), IpAddr::V6(Ipv6Addr::from(value))))
        })
        .collect()
}

/// Check 6: the groups joined per interface (information), and whether the group is.
pub fn igmp(ctx: &Ctx, sys: &Sys) -> Check {
    const NAME: &str = "igmp";
    let (path, joined) = if ctx.group.is_ipv4() {
        ("/proc/net/igmp", sys.file("/proc/net/igmp").map(parse_igmp))
    } else {
        ("/proc/net/igmp6", sys.file("/proc/net/igmp6").map(parse_igmp6))
    };
    let Some(joined) = joined else {
        return Check::skipped(NAME, format!("cannot read {path}"));
    };
    let mut devices: Vec<&str> = joined.iter().map(|(d, _)| d.as_str()).collect();
    devices.dedup();
    let per_device: Vec<String> = devices
        .iter()
        .map(|d| {
            let groups: Vec<String> = joined.iter().filter(|(x, _)| x == d).map(|(_, g)| g.to_string()).collect();
            format!("{d}: {}", groups.join(" "))
        })
        .collect();
    let on: Vec<&str> = joined.iter().filter(|(_, g)| *g == ctx.group).map(|(d, _)| d.as_str()).collect();
    let note = if on.is_empty() {
        format!("{} is not joined yet", ctx.group)
    } else {
        format!(
            "{} is already joined on {} (another program or eventcast instance on this host)",
            ctx.group,
            on.join(", ")
        )
    };
    let list = if per_device.is_empty() { "no groups joined".to_owned() } else { per_device.join("; ") };
    Check::ok(NAME, format!("{note}; joined: {list}"))
}

/// Check 7: net.core.rmem_max against the receive buffer eventcast asks for.
pub fn buffers(ctx: &Ctx, sys: &Sys) -> Check {
    const NAME: &str = "buffers";
    let (wanted, source) = match ctx.recv_buffer {
        Some(b) => (b, "--recv-buffer"),
        None => (DEFAULT_RECV_BUFFER, "the library's default"),
    };
    let Some(max) = sys.file("/proc/sys/net/core/rmem_max").and_then(|t| t.trim().parse::<u64>().ok()) else {
        return Check::skipped(NAME, "cannot read /proc/sys/net/core/rmem_max");
    };
    if max < wanted as u64 {
        Check::warn(
            NAME,
            format!(
                "net.core.rmem_max is {max} bytes, below the {wanted} bytes of {source}: the kernel caps the receive buffer at {max}, so bursts may overflow it"
            ),
            format!(
                "sysctl -w net.core.rmem_max={wanted} (as root on the host; persist it in /etc/sysctl.d/), or a smaller --recv-buffer"
            ),
        )
    } else {
        Check::ok(NAME, format!("net.core.rmem_max is {max} bytes, enough for the {wanted} bytes of {source}"))
    }
}

/// Check 8: containers and WSL, where multicast often does not cross to the LAN.
pub fn environment(sys: &Sys) -> Check {
    const NAME: &str = "environment";
    let cgroup = sys.file("/proc/1/cgroup").unwrap_or_default();
    let version = sys.file("/proc/version").unwrap_or_default().to_ascii_lowercase();
    let mut found = Vec::new();
    if sys.env.contains_key("KUBERNETES_SERVICE_HOST") || cgroup.contains("kubepods") {
        found.push("Kubernetes");
    }
    if sys.file("/.dockerenv").is_some() || cgroup.contains("docker") {
        found.push("Docker");
    } else if cgroup.contains("containerd") {
        found.push("a containerd container");
    }
    if sys.file("/run/.containerenv").is_some() {
        found.push("Podman");
    }
    if version.contains("microsoft") || version.contains("wsl") {
        found.push("WSL");
    }
    if found.is_empty() {
        return Check::ok(NAME, "bare host (no container or WSL found)");
    }
    Check::warn(
        NAME,
        format!(
            "running in {}: multicast often does not cross to the LAN from here (it works within the container's own network, or with host networking)",
            found.join(", ")
        ),
        "use host networking (docker run --network host, hostNetwork: true), or unicast peers (--peer host:port) or NATS (--nats URL); see the README, \"Beyond one LAN\"",
    )
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::super::super::report::Status;
    use super::super::fake;
    use super::*;

    const IGMP: &str = "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter\n\
        1\tlo        :     1      V3\n\t\t\t\t010000E0     1 0:00000000\t\t0\n\
        2\teth0      :     2      V3\n\t\t\t\t6300FFEF     1 0:00000000\t\t0\n\t\t\t\t010000E0     1 0:00000000\t\t0\n\
        3\tveth1234abcdef:     1      V3\n\t\t\t\tzz\n";

    #[test]
    fn igmp_groups_per_interface() {
        let g = parse_igmp(IGMP);
        assert_eq!(g.len(), 3);
        assert_eq!(g[1], ("eth0".into(), "239.255.0.99".parse().unwrap()));
        let c = igmp(&fake::ctx("eth0"), &{
            let mut s = fake::sys();
            s.files.insert("/proc/net/igmp".into(), IGMP.into());
            s
        });
        assert_eq!(c.status, Status::Ok);
        assert!(c.detail.starts_with("239.255.0.99 is already joined on eth0"), "{}", c.detail);
        assert!(c.detail.contains("lo: 224.0.0.1; eth0: 239.255.0.99 224.0.0.1"), "{}", c.detail);
        let six = parse_igmp6("1    lo              ff020000000000000000000000000001     1 0000000C 0\nbad\n");
        assert_eq!(six, [("lo".to_owned(), "ff02::1".parse().unwrap())]);
        assert!(parse_igmp("").is_empty() && parse_igmp("x\n\t\tnothing").is_empty());
    }

    #[test]
    fn small_rmem_max_warns() {
        let mut sys = fake::sys();
        let mut ctx = fake::ctx("eth0");
        assert_eq!(buffers(&ctx, &sys).status, Status::Skipped);
        sys.files.insert("/proc/sys/net/core/rmem_max".into(), "212992\n".into());
        let c = buffers(&ctx, &sys);
        assert!(c.status == Status::Warn && c.fix.unwrap().contains("net.core.rmem_max=8388608"));
        ctx.recv_buffer = Some(100_000);
        assert_eq!(buffers(&ctx, &sys).status, Status::Ok);
    }

    #[test]
    fn containers_and_wsl_warn() {
        let mut sys = fake::sys();
        assert_eq!(environment(&sys).status, Status::Ok);
        sys.files.insert("/proc/version".into(), "Linux version 5.15.90.1-microsoft-standard-WSL2".into());
        assert!(environment(&sys).detail.contains("WSL"));
        sys.files.insert("/.dockerenv".into(), String::new());
        sys.env.insert("KUBERNETES_SERVICE_HOST".into(), "10.0.0.1".into());
        let c = environment(&sys);
        assert!(c.status == Status::Warn && c.detail.contains("Kubernetes, Docker, WSL"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("--peer host:port"));
    }
}
