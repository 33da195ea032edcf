//! `eventcast bench`: how many events per second get through, how fast, and whether all of
//! them do. Sender and receivers in one process by default, or one role per process
//! (`--role send|recv`, for separate processes or namespaces). `--raw` measures plain UDP
//! multicast with sendmmsg/recvmmsg instead: the baseline, in the same run.

mod raw;
mod report;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use eventcast::bson::{Binary, Bson, spec::BinarySubtype};
use eventcast::{DeliveryMode, Eventcast};

use crate::CliResult;
use crate::net::{parse_delivery, parse_duration};
use report::{Latencies, Progress, Report, now_ns};

/// Bytes of an encoded benchmark event besides its padding: name length, "bench", and a
/// BSON document of two int64 arguments and a binary one.
const EVENT_OVERHEAD: usize = 2 + 5 + (4 + 1) + 2 * (1 + 2 + 8) + (1 + 2 + 4 + 1);
/// The passphrase `--encrypt` uses on every side (benchmarks only).
const BENCH_PASSPHRASE: &str = "eventcast bench passphrase";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Sender and receivers in this process
    Both,
    /// Only send (receivers run elsewhere)
    Send,
    /// Only receive (the sender runs elsewhere)
    Recv,
}

impl Role {
    /// The role as the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Both => "both",
            Role::Send => "send",
            Role::Recv => "recv",
        }
    }
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Events to send
    #[arg(long, default_value_t = 200_000)]
    pub events: u64,
    /// Size of each encoded event in bytes (name and arguments; at least 42)
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Receiving instances (with --role both)
    #[arg(long, default_value_t = 1)]
    pub receivers: usize,
    /// Send at this many events per second; 0 = as fast as possible
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Encrypt (AES-GCM, a fixed benchmark passphrase on every side)
    #[arg(long)]
    pub encrypt: bool,
    /// Which side(s) this process runs
    #[arg(long, value_enum, default_value_t = Role::Both)]
    pub role: Role,
    /// Plain UDP datagrams of --size bytes with sendmmsg/recvmmsg instead of eventcast
    #[arg(long)]
    pub raw: bool,
    /// Multicast group
    #[arg(long, default_value = "239.255.0.100")]
    pub group: String,
    /// UDP port
    #[arg(long, default_value_t = 9300)]
    pub port: u16,
    /// Multicast interface (address or name); loopback by default
    #[arg(long, default_value = "127.0.0.1")]
    pub interface: String,
    /// Largest datagram, as the option of that name (`auto`: the interface's MTU)
    #[arg(long, default_value = "1024", value_parser = crate::net::parse_payload_size)]
    pub max_payload_size: usize,
    /// Emit this many events per call (`emit_batch`) when sending as fast as possible
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub batch: u64,
    /// Delivery mode of the events
    #[arg(long, default_value = "reliable", value_parser = parse_delivery)]
    pub delivery: DeliveryMode,
    /// Print each instance's counters as a JSON line on stderr at the end
    #[arg(long)]
    pub stats: bool,
    /// Give up when nothing arrives for this long
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Unicast peers, multicast off, NATS: the transports to measure
    #[command(flatten)]
    pub transport: crate::transport::TransportArgs,
}

/// What one receiver saw.
struct Seen {
    expected: u64,
    count: AtomicU64,
    lost: AtomicU64,
    first_ns: AtomicU64,
    last_ns: AtomicU64,
    latencies: Mutex<Latencies>,
}

impl Seen {
    fn new(events: u64) -> Arc<Seen> {
        Arc::new(Seen {
            expected: events,
            count: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            first_ns: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
            latencies: Mutex::new(Latencies::with_capacity(events.min(10_000_000) as usize)),
        })
    }

    /// Counts an event; every `sample`-th one also has its latency measured (which means
    /// reading the clock and decoding an argument: a cost the event itself does not have).
    fn record(&self, ev: &eventcast::Event, sample: u64) {
        let n = self.count.fetch_add(1, Ordering::Relaxed);
        if n % sample == 0 || n + 1 == self.expected {
            let now = now_ns();
            let _ = self.first_ns.compare_exchange(0, now as u64, Ordering::Relaxed, Ordering::Relaxed);
            self.last_ns.store(now as u64, Ordering::Relaxed);
            let sent_ns = ev.arg::<i64>(1).unwrap_or(0);
            self.latencies.lock().unwrap_or_else(|p| p.into_inner()).record(now - sent_ns);
        }
    }
}

pub async fn run(args: BenchArgs) -> CliResult {
    if args.size < EVENT_OVERHEAD && !args.raw {
        return Err(
            format!("--size {} is below the smallest benchmark event ({EVENT_OVERHEAD} bytes)", args.size).into()
        );
    }
    if args.receivers == 0 || args.receivers > 64 {
        return Err(format!("--receivers {} is out of range; use 1 to 64", args.receivers).into());
    }
    let cpu_start = report::process_cpu();
    let mut report = if args.raw { raw::run(&args).await? } else { run_eventcast(&args).await? };
    report.set_cpu(report::process_cpu().saturating_sub(cpu_start));
    eprintln!("{}", report.summary());
    println!("{}", serde_json::to_string(&report)?);
    Ok(if report.lost == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn instance(args: &BenchArgs) -> eventcast::Result<Eventcast> {
    let mut b = Eventcast::builder()
        .group(&args.group)
        .port(args.port)
        .interface(&args.interface)
        .max_payload_size(args.max_payload_size)
        .max_event_size((args.size + 1024).max(8 << 20))
        .delivery(args.delivery);
    if args.encrypt {
        b = b.passphrase(BENCH_PASSPHRASE);
    }
    let ec = args.transport.apply(b)?.build()?;
    crate::apply_log_levels(&ec)?;
    Ok(ec)
}

async fn receiver(args: &BenchArgs) -> eventcast::Result<(Eventcast, Arc<Seen>)> {
    let ec = instance(args)?;
    let seen = Seen::new(args.events);
    let s = seen.clone();
    // As fast as possible, latency is sampled (1 in 16 events); at a set rate, every event.
    let sample = if args.rate > 0 { 1 } else { 16 };
    ec.on("bench", move |ev| s.record(ev, sample))?;
    let s = seen.clone();
    ec.on_loss(move |loss| {
        s.lost.fetch_add(loss.count(), Ordering::Relaxed);
    });
    ec.start().await?;
    Ok((ec, seen))
}

async fn run_eventcast(args: &BenchArgs) -> Result<Report, Box<dyn std::error::Error>> {
    let mut receivers = Vec::new();
    if args.role != Role::Send {
        let k = if args.role == Role::Recv { 1 } else { args.receivers };
        for _ in 0..k {
            receivers.push(receiver(args).await?);
        }
    }
    let mut progress = Progress::new();
    let mut sent_datagrams = 0;
    let start_ns = now_ns();
    let mut sent_ns = start_ns;
    if args.role != Role::Recv {
        let sender = instance(args)?;
        sender.start().await?;
        tokio::time::sleep(Duration::from_millis(50)).await; // receivers joined
        send_all(&sender, args, &receivers, &mut progress).await?;
        sent_ns = now_ns();
        // Stay while receivers still repair (or a while for remote ones).
        wait_for(args, &receivers, &mut progress).await;
        if receivers.is_empty() {
            linger_while_repairing(&sender, args.idle_timeout).await;
        }
        let stats = sender.stats().await;
        if args.stats {
            eprintln!("{}", serde_json::json!({ "sender_stats": stats }));
        }
        sent_datagrams = stats.protocol.datagrams_out;
        sender.stop().await?;
    } else {
        eprintln!("eventcast bench: receiving on {}:{}", args.group, args.port);
        wait_for(args, &receivers, &mut progress).await;
    }
    progress.done();
    let delivered: u64 = receivers.iter().map(|(_, s)| s.count.load(Ordering::Relaxed)).sum();
    let expected = args.events * receivers.len() as u64;
    let first = receivers.iter().map(|(_, s)| s.first_ns.load(Ordering::Relaxed)).filter(|&t| t > 0).min();
    let last = receivers.iter().map(|(_, s)| s.last_ns.load(Ordering::Relaxed)).max().unwrap_or(0);
    let begin = if args.role == Role::Recv { first.unwrap_or(0) as i64 } else { start_ns };
    let seconds = if receivers.is_empty() {
        (sent_ns - start_ns) as f64 / 1e9
    } else {
        ((last as i64 - begin).max(1)) as f64 / 1e9
    };
    let mut latencies = Latencies::default();
    for (ec, seen) in receivers.iter() {
        let taken = std::mem::take(&mut *seen.latencies.lock().unwrap_or_else(|p| p.into_inner()));
        latencies.merge(taken);
        if args.role == Role::Recv {
            sent_datagrams = ec.stats().await.protocol.datagrams_in;
        }
    }
    if args.stats {
        for (ec, _) in &receivers {
            eprintln!("{}", serde_json::json!({ "receiver_stats": ec.stats().await }));
        }
    }
    let per_receiver = if receivers.is_empty() { args.events } else { delivered / receivers.len() as u64 };
    Ok(Report {
        mode: "eventcast",
        role: args.role.name(),
        events: args.events,
        size: args.size,
        receivers: receivers.len(),
        encrypted: args.encrypt,
        rate: args.rate,
        seconds,
        events_per_sec: per_receiver as f64 / seconds,
        datagrams_per_sec: sent_datagrams as f64 / seconds,
        mb_per_sec: (per_receiver * args.size as u64) as f64 / seconds / 1e6,
        delivered,
        lost: expected.saturating_sub(delivered),
        p50_us: latencies.quantile(0.5),
        p99_us: latencies.quantile(0.99),
        p999_us: latencies.quantile(0.999),
        cpu_us_per_event: None,
        peak_rss_mib: None,
    })
}

async fn send_all(
    sender: &Eventcast,
    args: &BenchArgs,
    receivers: &[(Eventcast, Arc<Seen>)],
    progress: &mut Progress,
) -> eventcast::Result<()> {
    let pad = vec![0xabu8; args.size - EVENT_OVERHEAD];
    let start = Instant::now();
    if args.batch > 1 && args.rate == 0 {
        return send_batches(sender, args, receivers, progress, &pad).await;
    }
    for seq in 0..args.events {
        if args.rate > 0 {
            let due = start + Duration::from_secs_f64(seq as f64 / args.rate as f64);
            if due > Instant::now() + Duration::from_micros(200) {
                tokio::time::sleep_until(due.into()).await;
            }
        }
        let padding = Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: pad.clone() });
        sender.emit_bson("bench", vec![Bson::Int64(seq as i64), Bson::Int64(now_ns()), padding]).await?;
        if seq % 4096 == 0 {
            progress.show(|| format!("sent {seq}/{}  delivered {}", args.events, delivered(receivers)));
        }
    }
    Ok(())
}

/// `send_all` through `emit_batch`, `--batch` events per call.
async fn send_batches(
    sender: &Eventcast,
    args: &BenchArgs,
    receivers: &[(Eventcast, Arc<Seen>)],
    progress: &mut Progress,
    pad: &[u8],
) -> eventcast::Result<()> {
    let mut seq = 0;
    while seq < args.events {
        let end = (seq + args.batch).min(args.events);
        let batch: Vec<Vec<Bson>> = (seq..end)
            .map(|s| {
                let padding = Bson::Binary(Binary { subtype: BinarySubtype::Generic, bytes: pad.to_vec() });
                vec![Bson::Int64(s as i64), Bson::Int64(now_ns()), padding]
            })
            .collect();
        sender.emit_batch(batch.iter().map(|a| ("bench", a))).await?;
        progress.show(|| format!("sent {end}/{}  delivered {}", args.events, delivered(receivers)));
        seq = end;
    }
    Ok(())
}

/// Keeps a sender with remote receivers up while they still ask for repairs: until no NACK
/// came for a second, or `limit` passed.
async fn linger_while_repairing(sender: &Eventcast, limit: Duration) {
    let start = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    while start.elapsed() < limit {
        let nacks = sender.stats().await.protocol.nacks_received;
        if nacks != last.0 {
            last = (nacks, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn delivered(receivers: &[(Eventcast, Arc<Seen>)]) -> u64 {
    receivers.iter().map(|(_, s)| s.count.load(Ordering::Relaxed)).min().unwrap_or(0)
}

/// Waits until every receiver has every event or lost the rest, or nothing moved for
/// `idle_timeout`.
async fn wait_for(args: &BenchArgs, receivers: &[(Eventcast, Arc<Seen>)], progress: &mut Progress) {
    let mut last_total = u64::MAX;
    let mut idle_since = Instant::now();
    loop {
        let done = receivers
            .iter()
            .all(|(_, s)| s.count.load(Ordering::Relaxed) + s.lost.load(Ordering::Relaxed) >= args.events);
        if done {
            return;
        }
        let total: u64 = receivers.iter().map(|(_, s)| s.count.load(Ordering::Relaxed)).sum();
        if total != last_total {
            last_total = total;
            idle_since = Instant::now();
        } else if idle_since.elapsed() > args.idle_timeout {
            return;
        }
        progress.show(|| format!("delivered {}/{}", delivered(receivers), args.events));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
