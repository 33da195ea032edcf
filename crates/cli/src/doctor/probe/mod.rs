//! `--probe`: the path between this host and another one running `eventcast doctor
//! --probe` at the same time, both ways, over plain UDP multicast on the chosen interface:
//! presence, loss over a burst, the largest datagram that passes, the TTL needed.

mod tally;
mod wire;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};

use super::report::Check;
use super::sys::Link;
pub use tally::Expect;
use tally::Heard;
use wire::{MAX_TTL, Msg, SIZES};

/// At most this many peers are tracked; others are ignored.
const MAX_PEERS: usize = 16;
/// Reports sent to one peer at most.
const MAX_REPORTS: u32 = 8;
/// Datagrams sent per turn of the loop, between two reads.
const PER_TURN: usize = 20;

/// What to probe: where, for how long, with what burst.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The group (the instance's).
    pub group: IpAddr,
    /// The probe's UDP port.
    pub port: u16,
    /// The chosen interface, if known.
    pub link: Option<Link>,
    /// How long to wait for peers and their reports.
    pub timeout: Duration,
    /// What the instance's options expect of the path.
    pub expect: Expect,
}

/// The probe's socket, joined to the group on the interface.
fn open(plan: &Plan) -> std::io::Result<UdpSocket> {
    let link = plan.link.as_ref();
    let socket = Socket::new(Domain::for_address(SocketAddr::new(plan.group, 0)), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_address(true)?;
    let _ = socket.set_recv_buffer_size(4 << 20);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    let (level, option) = match plan.group {
        IpAddr::V4(_) => (libc::IPPROTO_IP, libc::IP_MTU_DISCOVER),
        IpAddr::V6(_) => (libc::IPPROTO_IPV6, libc::IPV6_MTU_DISCOVER),
    };
    let dont: libc::c_int = libc::IP_PMTUDISC_DONT; // == IPV6_PMTUDISC_DONT: fragment, never refuse
    // SAFETY: a valid fd and an int option of the size given.
    unsafe {
        libc::setsockopt(fd, level, option, std::ptr::addr_of!(dont).cast(), std::mem::size_of::<libc::c_int>() as _);
    }
    match plan.group {
        IpAddr::V4(group) => {
            let addr =
                link.and_then(|l| l.addrs.iter().find_map(|a| if let IpAddr::V4(v) = a { Some(*v) } else { None }));
            let addr = addr.unwrap_or(Ipv4Addr::UNSPECIFIED);
            socket.bind(&SockAddr::from(SocketAddr::new(plan.group, plan.port)))?;
            socket.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Address(addr))?;
            socket.set_multicast_if_v4(&addr)?;
            socket.set_multicast_loop_v4(true)?;
        }
        IpAddr::V6(group) => {
            let index = link.map_or(0, |l| if_index(&l.name));
            socket.set_only_v6(true)?;
            socket.bind(&SockAddr::from(SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED), plan.port)))?;
            socket.join_multicast_v6(&group, index)?;
            socket.set_multicast_if_v6(index)?;
            socket.set_multicast_loop_v6(true)?;
        }
    }
    set_ttl(&socket, plan.group, 1)?;
    socket.set_read_timeout(Some(Duration::from_millis(1)))?;
    Ok(socket.into())
}

/// The index of the interface `name`, 0 when unknown.
fn if_index(name: &str) -> u32 {
    let Ok(c) = std::ffi::CString::new(name) else { return 0 };
    // SAFETY: a NUL-terminated string that outlives the call.
    unsafe { libc::if_nametoindex(c.as_ptr()) }
}

fn set_ttl(socket: impl std::os::fd::AsFd, group: IpAddr, ttl: u32) -> std::io::Result<()> {
    let socket = socket2::SockRef::from(&socket);
    match group {
        IpAddr::V4(_) => socket.set_multicast_ttl_v4(ttl),
        IpAddr::V6(_) => socket.set_multicast_hops_v6(ttl),
    }
}

/// What we send once a peer is heard: the burst, each size three times, each TTL twice,
/// then Done three times.
fn schedule(burst: u32) -> Vec<Msg> {
    let mut plan: Vec<Msg> = (0..burst).map(|seq| Msg::Burst { seq, total: burst }).collect();
    plan.extend(SIZES.iter().flat_map(|&size| [Msg::Size { size }; 3]));
    plan.extend((1..=MAX_TTL).flat_map(|ttl| [Msg::Ttl { ttl }; 2]));
    plan.extend([Msg::Done { total: burst }; 3]);
    plan
}

/// A random id for this run.
fn probe_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.write_u32(std::process::id());
    h.finish().max(1)
}

/// Runs the probe; one check per peer heard, or one failing check when none was.
pub fn run(plan: &Plan) -> Vec<Check> {
    let via = plan.link.as_ref().map_or("the default interface".to_owned(), |l| l.name.clone());
    let socket = match open(plan) {
        Ok(s) => s,
        Err(e) => {
            return vec![Check::fail(
                "probe",
                format!("cannot open the probe socket on {}:{} via {via}: {e}", plan.group, plan.port),
                "fix the interface check above, or choose another --probe-port",
            )];
        }
    };
    eprintln!(
        "eventcast: probing {}:{} via {via} for up to {:.0} s: run `eventcast doctor --probe` on the other host now, with the same --group and --port",
        plan.group,
        plan.port,
        plan.timeout.as_secs_f64()
    );
    let me = probe_id();
    let dest = SocketAddr::new(plan.group, plan.port);
    let send = |msg: &Msg| socket.send_to(&wire::encode(me, msg), dest).is_ok();
    let schedule = schedule(plan.expect.burst);
    let start = Instant::now();
    let deadline = start + plan.timeout;
    let mut peers: BTreeMap<u64, Heard> = BTreeMap::new();
    let mut next_hello = start;
    let mut sent: Option<usize> = None; // position in the schedule, once started
    let mut buf = vec![0u8; 65536];
    const MAX_READS_PER_TURN: usize = 256;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // bounded per turn: a flood on the probe port cannot keep us from sending or from
        // the deadline
        for _ in 0..MAX_READS_PER_TURN {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let Some((id, msg)) = wire::decode(&buf[..n.min(buf.len())]) else { continue };
                    if id == me || (!peers.contains_key(&id) && peers.len() >= MAX_PEERS) {
                        continue;
                    }
                    let heard = peers.entry(id).or_insert_with(|| Heard::new(from, now));
                    // a peer is pinned to the address it first came from: another host
                    // claiming its id cannot change its verdict
                    if heard.addr.ip() != from.ip() {
                        continue;
                    }
                    heard.take(&msg, me, Instant::now());
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    break;
                }
                Err(_) => break,
            }
        }
        let now = Instant::now();
        if now >= next_hello {
            send(&Msg::Hello);
            next_hello = now + Duration::from_millis(250);
        }
        let first = peers.values().map(|h| h.first).min();
        if sent.is_none() && first.is_some_and(|f| now >= f + Duration::from_millis(300)) {
            sent = Some(0);
        }
        if let Some(pos) = sent.as_mut() {
            for msg in schedule.iter().skip(*pos).take(PER_TURN) {
                if let Msg::Ttl { ttl } = msg {
                    let _ = set_ttl(&socket, plan.group, u32::from(*ttl));
                }
                send(msg);
                *pos += 1;
            }
            let _ = set_ttl(&socket, plan.group, 1);
        }
        let finished_sending = sent.is_some_and(|p| p >= schedule.len());
        for (&id, h) in peers.iter_mut() {
            let due = h.done || (finished_sending && now >= h.last + Duration::from_secs(1));
            if due && h.reports_sent < MAX_REPORTS && now >= h.next_report {
                send(&Msg::Report(h.report(id)));
                h.reports_sent += 1;
                h.next_report = now + Duration::from_millis(200);
            }
        }
        let settled = |h: &Heard| h.report.is_some_and(|r| r.got_yours) || h.reports_sent >= MAX_REPORTS;
        if finished_sending && !peers.is_empty() && peers.values().all(|h| h.report.is_some() && settled(h)) {
            // the peer may still lack our report with got_yours set: two more
            for _ in 0..2 {
                for (&id, h) in &peers {
                    send(&Msg::Report(h.report(id)));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            break;
        }
    }
    if peers.is_empty() {
        return vec![Check::fail(
            "probe",
            format!(
                "no peer heard on {}:{} via {via} within {:.0} s",
                plan.group,
                plan.port,
                plan.timeout.as_secs_f64()
            ),
            "run `eventcast doctor --probe` on the other host at the same time, with the same --group, --port and --probe-port; if it runs, multicast does not cross between the hosts (a switch without IGMP querier, a firewall, or different LANs: use --peer or --nats)",
        )];
    }
    peers.iter().map(|(&id, h)| tally::verdict(id, h, plan.expect)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_bounded_and_ends_with_done() {
        let s = schedule(1000);
        assert_eq!(s.len(), 1000 + SIZES.len() * 3 + MAX_TTL as usize * 2 + 3);
        assert_eq!(s.last(), Some(&Msg::Done { total: 1000 }));
        assert_ne!(probe_id(), 0);
        assert_eq!(if_index("no-such-if0"), 0);
        assert_eq!(if_index("bad\0name"), 0);
    }
}
