//! `eventcast spy`: a live table of the event space.
//!
//! One row per event name: count, rate over a sliding window, mean interval and jitter
//! (standard deviation of the intervals), bandwidth of the encoded events, senders, lost
//! events and the last arguments. Full-screen on a terminal ([`ui`]); `--json` prints one
//! snapshot for scripts instead.
//!
//! Lost events: a loss report names a sender and a range of its sequence numbers, not event
//! names, so a row's "lost" counts the losses of every sender of that name (the lost events
//! may have had other names; the header's total counts each loss once).

mod app;
mod measure;
mod table;
mod terminal;
mod ui;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clap::Args;
use eventcast::{Pattern, Stats};
use serde_json::{Value, json};

use crate::CliResult;
use crate::net::{NetArgs, parse_duration};
use table::{Limits, SortKey, Table};

/// How often the full-screen view asks the instance for its counters.
const STATS_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Args)]
#[command(after_help = "\
Keys: 1-8 sort by a column (again: reverse), Tab/s next column, / filter (Enter keeps it, Esc \
clears it), arrows or j/k move, Enter opens a row (its last event in full and its senders), \
Esc goes back, q or Ctrl-C quits.

Lost: a loss report names a sender and a range of its sequence numbers, not event names, so a \
row's LOST counts the lost events of every sender of that name; the header counts each once.

Bounds: 10,000 names and 10,000 senders per name are tracked (more are counted as untracked), \
and 4 KB of JSON is kept of a name's last event.")]
pub struct SpyArgs {
    /// Event names or patterns to track (sensor.*, **.error); default: every event
    patterns: Vec<String>,
    /// Print one JSON object with a row per name when --duration is over (or on SIGINT or
    /// SIGTERM), instead of the full-screen view
    #[arg(long)]
    json: bool,
    /// A snapshot as JSON: --json with --duration 1 unless --duration is given
    #[arg(long)]
    once: bool,
    /// Stop after this long (e.g. 5, 500ms, 2m); the full-screen view too
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// The rows' order at first (keys 1-8 change it in the view)
    #[arg(long, value_enum, default_value_t = SortKey::Name)]
    sort: SortKey,
    /// Rates are measured over this sliding window (at least 20ms)
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    window: Duration,
    #[command(flatten)]
    net: NetArgs,
}

/// Runs `eventcast spy`. Without `--json` or `--once` stdout must be a terminal (else exit
/// 2 with a line on stderr, nothing on stdout).
pub fn run(args: SpyArgs) -> CliResult {
    let patterns = args.patterns.iter().map(|p| Pattern::new(p)).collect::<Result<Vec<_>, _>>()?;
    let json = args.json || args.once;
    if !json && !std::io::stdout().is_terminal() {
        eprintln!("eventcast: spy: stdout is not a terminal; use --json (with --duration SECS) for a JSON snapshot");
        return Ok(ExitCode::from(2));
    }
    let duration = args.duration.or(args.once.then_some(Duration::from_secs(1)));
    crate::block_on(watch(args, patterns, json, duration))
}

/// Locks `m`, taking it over when a panicking holder poisoned it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn watch(args: SpyArgs, patterns: Vec<Pattern>, json: bool, duration: Option<Duration>) -> CliResult {
    let mut shutdown = crate::shutdown::Shutdown::install();
    let ec = args.net.build()?;
    let start = Instant::now();
    let limits = Limits { window: args.window, ..Limits::default() };
    let table = Arc::new(Mutex::new(Table::new(limits, patterns, start)));
    let t = table.clone();
    ec.on_any(move |event| lock(&t).record(Instant::now(), event));
    let t = table.clone();
    ec.on_loss(move |loss| lock(&t).record_loss(loss));
    ec.start().await?;
    let _extras = args.net.serve_extras(&ec)?;
    let place = args.net.describe();
    if json {
        eprintln!("eventcast: spy listening on {place}");
        let timeout = async {
            match duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = timeout => {}
            () = shutdown.requested() => {}
        }
        let stats = ec.stats().await;
        ec.stop().await?;
        let snapshot = snapshot(&lock(&table), &stats, args.sort, start);
        println!("{snapshot}");
        return Ok(ExitCode::SUCCESS);
    }
    let shared = ui::Shared {
        table,
        stats: Arc::new(Mutex::new(Some(ec.stats().await))),
        stop: Arc::new(AtomicBool::new(false)),
    };
    let stats = shared.stats.clone();
    let stop = shared.stop.clone();
    let sort = args.sort;
    let deadline = duration.map(|d| start + d);
    let mut view = tokio::task::spawn_blocking(move || ui::run(&shared, &place, sort, deadline));
    let mut ticker = tokio::time::interval(STATS_EVERY);
    let ended = loop {
        tokio::select! {
            ended = &mut view => break ended,
            () = shutdown.requested(), if !stop.load(Ordering::Relaxed) => stop.store(true, Ordering::Relaxed),
            _ = ticker.tick() => {
                let s = ec.stats().await;
                *lock(&stats) = Some(s);
            }
        }
    };
    ec.stop().await?;
    match ended {
        Ok(result) => result.map_err(|e| format!("spy: terminal: {e}"))?,
        Err(e) if e.is_panic() => return Err("spy: the view panicked (terminal restored)".into()),
        Err(e) => return Err(format!("spy: {e}").into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// The instance's counters the view shows: drops split into datagrams that could not be
/// read (or decrypted) and the rest; duplicates are left out (repairs make them normally).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct StatsSummary {
    /// Events delivered from the network.
    pub events_in: u64,
    /// Input dropped for other reasons than undecodable: stale, too old, oversize,
    /// incomplete, evicted, queue full…
    pub dropped: u64,
    /// Input that could not be read: not eventcast, malformed, too deep, unknown frame, or
    /// sealed without a (matching) key, forged.
    pub undecodable: u64,
    /// Events lost (never repaired).
    pub lost: u64,
    /// Senders in the peer table.
    pub peers: u64,
}

impl From<&Stats> for StatsSummary {
    fn from(s: &Stats) -> Self {
        let p = &s.protocol;
        let d = &p.dropped;
        let undecodable = d.bad_magic
            + d.bad_version
            + d.unsupported_flags
            + d.sealed_without_key
            + d.plaintext_refused
            + d.unknown_key
            + d.forged
            + d.malformed
            + d.out_of_range
            + d.too_deep
            + d.unknown_frame;
        let dropped = d.replayed
            + d.stale
            + d.too_old
            + d.implausible
            + d.oversize
            + d.reassembly_timeout
            + d.reassembly_evicted
            + d.sender_evicted
            + d.delivery_queue_full;
        StatsSummary { events_in: p.events_in, dropped, undecodable, lost: p.events_lost, peers: p.peers }
    }
}

/// The `--json` object: `events` (a row per name), `totals`, `stats`, `duration_s`.
fn snapshot(table: &Table, stats: &Stats, sort: SortKey, start: Instant) -> Value {
    let now = Instant::now();
    let events: Vec<Value> = table
        .rows(now, "", sort, false)
        .into_iter()
        .map(|r| {
            let text = table.last_args(&r.name).unwrap_or_default();
            let parsed = serde_json::from_str::<Value>(&text).ok();
            let cut = parsed.is_none() && !text.is_empty();
            json!({
                "event": r.name,
                "count": r.count,
                "rate_hz": round(r.rate_hz),
                "interval_ms": r.interval_ms.map(round),
                "jitter_ms": r.jitter_ms.map(round),
                "bytes": r.bytes,
                "bytes_per_sec": round(r.bytes_per_sec),
                "senders": r.senders,
                "lost": r.lost,
                "last_args": parsed.unwrap_or(Value::String(text)),
                "last_args_cut": cut,
            })
        })
        .collect();
    let mut totals = table.totals(now);
    totals.rate_hz = round(totals.rate_hz);
    totals.bytes_per_sec = round(totals.bytes_per_sec);
    json!({
        "events": events,
        "totals": totals,
        "stats": StatsSummary::from(stats),
        "duration_s": round(now.saturating_duration_since(start).as_secs_f64()),
    })
}

/// `x` to 3 decimals (JSON readers do not need more).
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
