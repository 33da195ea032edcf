//! A snapshot of what the checks read from the system: interfaces, files of /proc, the
//! environment and the firewall tools' output. The checks read only this, so tests feed
//! them made-up systems.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `IFF_UP`: the interface is up.
pub const IFF_UP: u32 = 0x1;
/// `IFF_LOOPBACK`: the loopback interface (multicast loops back on it without the flag).
pub const IFF_LOOPBACK: u32 = 0x8;
/// `IFF_MULTICAST`: the interface sends and receives multicast.
pub const IFF_MULTICAST: u32 = 0x1000;

/// One network interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Link {
    /// Its name, such as `eth0`.
    pub name: String,
    /// Its flags (`IFF_…`), or `None` when they could not be read.
    pub flags: Option<u32>,
    /// Its MTU, when known.
    pub mtu: Option<u32>,
    /// Its addresses.
    pub addrs: Vec<IpAddr>,
}

impl Link {
    /// Whether all of `flag` are set (false when the flags are unknown).
    pub fn has(&self, flag: u32) -> bool {
        self.flags.is_some_and(|f| f & flag == flag)
    }
}

/// What running a firewall tool gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tool {
    /// Not installed.
    Missing,
    /// Installed, but reading the rules needs root (CAP_NET_ADMIN).
    NeedsRoot,
    /// It ran and failed, with its error.
    Failed(String),
    /// Its output.
    Output(String),
}

/// Everything the checks look at.
#[derive(Debug, Clone)]
pub struct Sys {
    /// The interfaces of this network namespace.
    pub links: Vec<Link>,
    /// Contents of the files read, by path; a missing path could not be read.
    pub files: BTreeMap<String, String>,
    /// The environment variables that matter (KUBERNETES_SERVICE_HOST).
    pub env: BTreeMap<String, String>,
    /// `nft -j list ruleset`.
    pub nft: Tool,
    /// `iptables-save`.
    pub iptables: Tool,
}

/// The files read, besides each interface's rp_filter.
const FILES: &[&str] = &[
    "/proc/net/route",
    "/proc/net/igmp",
    "/proc/net/igmp6",
    "/proc/sys/net/core/rmem_max",
    "/proc/sys/net/ipv4/conf/all/rp_filter",
    "/proc/1/cgroup",
    "/proc/version",
    "/.dockerenv",
    "/run/.containerenv",
];

impl Sys {
    /// A system with nothing in it, for tests to fill.
    pub fn empty() -> Sys {
        Sys {
            links: Vec::new(),
            files: BTreeMap::new(),
            env: BTreeMap::new(),
            nft: Tool::Missing,
            iptables: Tool::Missing,
        }
    }

    /// Reads this system (this network namespace).
    pub fn read() -> Sys {
        let mut sys = Sys::empty();
        sys.links = read_links();
        let rp: Vec<String> =
            sys.links.iter().map(|l| format!("/proc/sys/net/ipv4/conf/{}/rp_filter", l.name)).collect();
        for path in FILES.iter().copied().chain(rp.iter().map(String::as_str)) {
            if let Ok(text) = std::fs::read_to_string(path) {
                sys.files.insert(path.to_owned(), text);
            }
        }
        if let Ok(v) = std::env::var("KUBERNETES_SERVICE_HOST") {
            sys.env.insert("KUBERNETES_SERVICE_HOST".into(), v);
        }
        sys.nft = run_tool("nft", &["-j", "list", "ruleset"]);
        sys.iptables = run_tool("iptables-save", &[]);
        sys
    }

    /// The contents of `path`, if it was read.
    pub fn file(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// The interface named `name`.
    pub fn link(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.name == name)
    }
}

/// The interfaces of this network namespace: names from /proc/net/dev (which, unlike
/// /sys/class/net, always shows the namespace of the process reading it), flags and MTU
/// from the kernel (SIOCGIFFLAGS, SIOCGIFMTU), addresses from if-addrs.
fn read_links() -> Vec<Link> {
    let mut names: Vec<String> =
        std::fs::read_to_string("/proc/net/dev").map(|t| parse_proc_net_dev(&t)).unwrap_or_default();
    let addrs = if_addrs::get_if_addrs().unwrap_or_default();
    for a in &addrs {
        if !names.contains(&a.name) {
            names.push(a.name.clone());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let (flags, mtu) = ioctl_flags_mtu(&name);
            let addrs = addrs.iter().filter(|a| a.name == name).map(|a| a.ip()).collect();
            Link { name, flags, mtu, addrs }
        })
        .collect()
}

/// Interface names from /proc/net/dev (`  eth0: 1234 …`).
pub fn parse_proc_net_dev(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, _)| n.trim().to_owned())
        .filter(|n| !n.is_empty() && !n.contains('|'))
        .collect()
}

/// Flags and MTU of the interface `name`, asked of the kernel with ioctl.
fn ioctl_flags_mtu(name: &str) -> (Option<u32>, Option<u32>) {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return (None, None);
    }
    let Ok(socket) = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None) else {
        return (None, None);
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    let request = |op: libc::c_ulong| -> Option<libc::ifreq> {
        // SAFETY: ifreq is plain old data (zeroes are valid); the name is NUL-terminated
        // within IFNAMSIZ; the kernel writes only inside the struct; fd is a live socket.
        unsafe {
            let mut req: libc::ifreq = std::mem::zeroed();
            for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
                *dst = *src as libc::c_char;
            }
            (libc::ioctl(fd, op as _, &mut req) == 0).then_some(req)
        }
    };
    // SAFETY: the kernel filled the union member these requests are defined to fill.
    let flags = request(libc::SIOCGIFFLAGS).map(|r| unsafe { r.ifr_ifru.ifru_flags } as u16 as u32);
    let mtu = request(libc::SIOCGIFMTU).and_then(|r| u32::try_from(unsafe { r.ifr_ifru.ifru_mtu }).ok());
    (flags, mtu)
}

/// Where `name` is installed: on PATH, or in the sbin directories (often not on a user's PATH).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// Runs a firewall tool that prints the rules.
fn run_tool(name: &str, args: &[&str]) -> Tool {
    let Some(path) = find_tool(name) else { return Tool::Missing };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Tool::NeedsRoot;
    }
    run_path(&path, args)
}

fn run_path(path: &Path, args: &[&str]) -> Tool {
    match Command::new(path).args(args).stdin(std::process::Stdio::null()).output() {
        Ok(out) if out.status.success() => Tool::Output(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => {
            let err = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            if err.contains("Operation not permitted") || err.contains("Permission denied") {
                Tool::NeedsRoot
            } else {
                Tool::Failed(format!("{} exited with {}: {err}", path.display(), out.status))
            }
        }
        Err(e) => Tool::Failed(format!("cannot run {}: {e}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_dev_names() {
        let text = "Inter-|   Receive\n face |bytes\n    lo: 1 2 3\n  eth0: 4 5 6\nveth1234abcd: 7\n";
        assert_eq!(parse_proc_net_dev(text), ["lo", "eth0", "veth1234abcd"]);
    }

    #[test]
    fn loopback_is_read_from_the_kernel() {
        let links = read_links();
        let lo = links.iter().find(|l| l.name == "lo").expect("lo");
        assert!(lo.has(IFF_LOOPBACK));
        assert!(lo.mtu.is_some());
        assert_eq!(ioctl_flags_mtu("no-such-if0"), (None, None));
        assert_eq!(ioctl_flags_mtu("a-name-much-too-long-for-linux"), (None, None));
    }
}
