//! The baseline: plain UDP multicast datagrams of `--size` bytes (sequence number and send
//! time first), sent and received in batches with sendmmsg/recvmmsg on the same kind of
//! tokio runtime and sockets as eventcast. No packing, no repair: what it loses is lost.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use eventcast::driver::batch::{BATCH, recv_many, send_to_many};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::report::{Latencies, Report, now_ns};
use super::{BenchArgs, Role};

/// Sequence number and send time lead every datagram.
const HEADER: usize = 16;

fn socket(args: &BenchArgs, group: Ipv4Addr, interface: Ipv4Addr) -> std::io::Result<UdpSocket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_recv_buffer_size(8 << 20)?;
    s.set_send_buffer_size(8 << 20)?;
    s.set_multicast_all_v4(false)?;
    s.set_multicast_loop_v4(true)?;
    s.set_multicast_ttl_v4(1)?;
    s.set_multicast_if_v4(&interface)?;
    s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, args.port)).into())?;
    s.join_multicast_v4(&group, &interface)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

struct Received {
    count: u64,
    first_ns: i64,
    last_ns: i64,
    latencies: Latencies,
}

async fn receive(socket: UdpSocket, args_events: u64, size: usize, idle: Duration, stop: Arc<AtomicBool>) -> Received {
    let stride = size.max(HEADER) + 1;
    let mut buffer = vec![0u8; stride * BATCH];
    let mut meta = vec![(0, None); BATCH];
    let mut r =
        Received { count: 0, first_ns: 0, last_ns: 0, latencies: Latencies::with_capacity(args_events as usize) };
    let mut last_progress = Instant::now();
    while r.count < args_events && last_progress.elapsed() < idle && !stop.load(Ordering::Relaxed) {
        let ready = tokio::time::timeout(Duration::from_millis(100), socket.readable()).await;
        if ready.is_err() {
            continue;
        }
        let got = match socket.try_io(Interest::READABLE, || recv_many(&socket, &mut buffer, stride, &mut meta)) {
            Ok(n) => n,
            Err(_) => continue,
        };
        let now = now_ns();
        for i in 0..got {
            let b = &buffer[i * stride..i * stride + meta[i].0];
            if b.len() < HEADER {
                continue;
            }
            let sent = i64::from_le_bytes(b[8..16].try_into().unwrap_or_default());
            r.latencies.record(now - sent);
            r.count += 1;
        }
        if got > 0 {
            if r.first_ns == 0 {
                r.first_ns = now;
            }
            r.last_ns = now;
            last_progress = Instant::now();
        }
    }
    r
}

async fn send(socket: &UdpSocket, args: &BenchArgs, destination: SockAddr) -> std::io::Result<()> {
    let size = args.size.max(HEADER);
    let mut datagrams = vec![vec![0xabu8; size]; BATCH];
    let start = Instant::now();
    let mut seq = 0u64;
    while seq < args.events {
        if args.rate > 0 {
            let due = start + Duration::from_secs_f64(seq as f64 / args.rate as f64);
            if due > Instant::now() + Duration::from_micros(200) {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        // With a rate, one datagram at a time (as events are emitted); otherwise batches.
        let n = if args.rate > 0 { 1 } else { (args.events - seq).min(BATCH as u64) as usize };
        for (i, d) in datagrams.iter_mut().take(n).enumerate() {
            d[..8].copy_from_slice(&(seq + i as u64).to_le_bytes());
            d[8..16].copy_from_slice(&now_ns().to_le_bytes());
        }
        let refs: Vec<&[u8]> = datagrams[..n].iter().map(Vec::as_slice).collect();
        let mut done = 0;
        while done < n {
            socket.writable().await?;
            match socket.try_io(Interest::WRITABLE, || send_to_many(socket, &destination, &refs[done..])) {
                Ok(k) => done += k,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        seq += n as u64;
    }
    Ok(())
}

pub async fn run(args: &BenchArgs) -> Result<Report, Box<dyn std::error::Error>> {
    let group: Ipv4Addr =
        args.group.parse().map_err(|_| format!("--raw needs an IPv4 --group, not {:?}", args.group))?;
    let interface: Ipv4Addr = match args.interface.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a,
        _ => return Err(format!("--raw needs --interface as an IPv4 address, not {:?}", args.interface).into()),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let k = match args.role {
        Role::Send => 0,
        Role::Recv => 1,
        Role::Both => args.receivers,
    };
    let mut tasks = Vec::new();
    for _ in 0..k {
        let s = socket(args, group, interface)?;
        tasks.push(tokio::spawn(receive(s, args.events, args.size, args.idle_timeout, stop.clone())));
    }
    let start_ns = now_ns();
    if args.role != Role::Recv {
        let s = socket(args, group, interface)?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        send(&s, args, SocketAddr::from((group, args.port)).into()).await?;
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await?);
    }
    stop.store(true, Ordering::Relaxed);
    let delivered: u64 = results.iter().map(|r| r.count).sum();
    let begin = if args.role == Role::Recv { results.iter().map(|r| r.first_ns).min().unwrap_or(0) } else { start_ns };
    let end = results.iter().map(|r| r.last_ns).max().unwrap_or_else(now_ns);
    let seconds = ((end.max(now_ns() * i64::from(k == 0)) - begin).max(1)) as f64 / 1e9;
    let per_receiver = if k == 0 { args.events } else { results.iter().map(|r| r.count).min().unwrap_or(0) };
    let mut latencies = Latencies::default();
    for r in results {
        latencies.merge(r.latencies);
    }
    Ok(Report {
        mode: "raw-udp",
        role: args.role.name(),
        events: args.events,
        size: args.size.max(HEADER),
        receivers: k,
        encrypted: false,
        rate: args.rate,
        seconds,
        events_per_sec: per_receiver as f64 / seconds,
        datagrams_per_sec: per_receiver as f64 / seconds,
        mb_per_sec: (per_receiver * args.size.max(HEADER) as u64) as f64 / seconds / 1e6,
        delivered,
        lost: (args.events * k as u64).saturating_sub(delivered),
        p50_us: latencies.quantile(0.5),
        p99_us: latencies.quantile(0.99),
        p999_us: latencies.quantile(0.999),
        cpu_us_per_event: None,
        peak_rss_mib: None,
    })
}
