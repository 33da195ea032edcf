//! `eventcast replay FILE…`: re-emits a recording with its original timing (scaled by
//! `--rate`), to the network or as JSON lines (`--json`).
//!
//! Timing: each event is due at `anchor + (its receive time − anchor's) / rate`; the
//! replayer sleeps until shortly before that and spins the rest, so the error is in
//! microseconds, not the millisecond of a timer wheel. `--paused` reads stdin one line at a
//! time: Enter (or `n`) sends the next event, `p` pauses and resumes, `q` quits. Receive
//! times that go backwards (a clock stepped back while recording) are due at once, never
//! dropped.

use std::io::Write;
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use eventcast::{Error, Eventcast, Pattern};

use super::ReplayArgs;
use super::cat::json_line;
use super::format::Recorded;
use super::reader::{Item, Reader};
use crate::CliResult;

/// Below this much time to wait, the replayer spins instead of sleeping (sleeps wake up to
/// ~100 µs late; the timer slack is lowered to 1 µs for this thread too).
const SPIN: Duration = Duration::from_micros(250);
/// Timing errors kept for the summary (the rest are counted, not kept).
const MAX_SAMPLES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    Toggle,
    Step,
    Quit,
}

struct Clock {
    anchor_wall: Instant,
    anchor_time: u64,
    rate: f64,
}

impl Clock {
    fn due(&self, time_ns: u64) -> Instant {
        if self.rate <= 0.0 {
            return self.anchor_wall; // as fast as possible
        }
        let ns = time_ns.saturating_sub(self.anchor_time) as f64 / self.rate;
        self.anchor_wall + Duration::from_nanos(ns.min(1e18) as u64)
    }
}

pub fn run(args: ReplayArgs) -> CliResult {
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        return Err(
            format!("invalid --rate {}: a speed factor, 1 = as recorded, 0 = as fast as possible", args.rate).into()
        );
    }
    let filters = args.filter.iter().map(|p| Pattern::new(p)).collect::<Result<Vec<_>, _>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let ec = if args.json {
        None
    } else {
        let ec = runtime.block_on(async { args.net.build() })?;
        runtime.block_on(ec.start())?;
        eprintln!("eventcast: replaying {} on {}", files(&args), args.net.describe());
        Some(ec)
    };
    let stop = install_signals(&runtime);
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes a plain integer and changes only this thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    let keys = args.paused.then(spawn_keys);
    let mut paused = args.paused;
    let mut out = std::io::stdout().lock();
    let mut errors_us: Vec<u64> = Vec::new();
    let (mut sent, mut skipped) = (0u64, 0u64);
    let offset_ns = args.start_offset.map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    'passes: loop {
        let mut clock: Option<Clock> = None;
        let mut started = false;
        for path in &args.files {
            let mut reader = Reader::open(path)?;
            while let Some(item) = reader.next_item() {
                let ev = match item? {
                    Item::Event(ev) => ev,
                    Item::Skipped(_) => {
                        skipped += 1;
                        continue;
                    }
                    _ => continue,
                };
                if !filters.is_empty() && !filters.iter().any(|p| p.matches(&ev.name)) {
                    continue;
                }
                let clock = clock.get_or_insert_with(|| Clock {
                    anchor_wall: Instant::now(),
                    anchor_time: ev.time_ns.saturating_add(offset_ns),
                    rate: args.rate,
                });
                if offset_ns > 0 && !started {
                    if ev.time_ns < clock.anchor_time {
                        continue; // before --start-offset
                    }
                    started = true;
                }
                if stop.try_recv().is_ok() {
                    break 'passes;
                }
                if let Some(keys) = &keys {
                    if wait_keys(keys, &mut paused, clock, &ev, &stop) == Some(Key::Quit) {
                        break 'passes;
                    }
                }
                let due = clock.due(ev.time_ns);
                if !wait_until(due, &stop) {
                    break 'passes;
                }
                let late = Instant::now().saturating_duration_since(due);
                if args.rate > 0.0 && !paused && errors_us.len() < MAX_SAMPLES {
                    errors_us.push(u64::try_from(late.as_micros()).unwrap_or(u64::MAX));
                }
                match &ec {
                    None => {
                        if writeln!(out, "{}", json_line(&ev)).and_then(|()| out.flush()).is_err() {
                            break 'passes; // stdout closed (| head)
                        }
                    }
                    Some(ec) => match send(&runtime, ec, &ev, args.net.delivery) {
                        Ok(()) => {}
                        // an event the library refuses (a name or arguments another writer
                        // allowed): skipped and counted, the rest goes on
                        Err(
                            e @ (Error::InvalidName { .. }
                            | Error::MalformedArguments { .. }
                            | Error::EventTooLarge { .. }),
                        ) => {
                            skipped += 1;
                            if skipped <= 5 {
                                let _ = writeln!(std::io::stderr(), "eventcast: skipped event {:?}: {e}", ev.name);
                            }
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    },
                }
                sent += 1;
            }
        }
        if !args.r#loop || stop.try_recv().is_ok() {
            break;
        }
    }
    if let Some(ec) = &ec {
        if !args.linger.is_zero() {
            let _ = stop.recv_timeout(args.linger); // answer the receivers' repair requests
        }
        runtime.block_on(ec.stop())?;
    }
    let _ = writeln!(std::io::stderr(), "{}", summary(sent, skipped, &mut errors_us));
    Ok(ExitCode::SUCCESS)
}

fn files(args: &ReplayArgs) -> String {
    args.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ")
}

fn send(
    runtime: &tokio::runtime::Runtime,
    ec: &Eventcast,
    ev: &Recorded,
    mode: eventcast::DeliveryMode,
) -> eventcast::Result<()> {
    match ec.try_send_raw(&ev.name, &ev.args, mode) {
        Err(Error::Backpressure) => runtime.block_on(ec.send_raw(&ev.name, &ev.args, mode)),
        other => other,
    }
}

/// Sleeps then spins until `due`; false when a stop signal came meanwhile.
fn wait_until(due: Instant, stop: &mpsc::Receiver<()>) -> bool {
    loop {
        let now = Instant::now();
        if now >= due {
            return true;
        }
        let left = due - now;
        if left > SPIN {
            match stop.recv_timeout(left - SPIN) {
                Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return false,
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        } else {
            std::hint::spin_loop();
        }
    }
}

/// Takes one key at a time: unpaused, a key only pauses or quits; paused, it waits for
/// one: a step sends this event, a toggle resumes, both re-anchoring the clock here.
fn wait_keys(
    keys: &mpsc::Receiver<Key>,
    paused: &mut bool,
    clock: &mut Clock,
    ev: &Recorded,
    stop: &mpsc::Receiver<()>,
) -> Option<Key> {
    let here = |clock: &Clock| Clock { anchor_wall: Instant::now(), anchor_time: ev.time_ns, rate: clock.rate };
    loop {
        if !*paused {
            match keys.try_recv() {
                Ok(Key::Quit) => return Some(Key::Quit),
                Ok(Key::Toggle | Key::Step) => *paused = true,
                Err(_) => return None,
            }
            continue;
        }
        if stop.try_recv().is_ok() {
            return Some(Key::Quit);
        }
        match keys.recv_timeout(Duration::from_millis(100)) {
            Ok(Key::Step) => {
                *clock = here(clock);
                return Some(Key::Step);
            }
            Ok(Key::Quit) => return Some(Key::Quit),
            // a resume, or stdin ended: play on from here
            Ok(Key::Toggle) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                *paused = false;
                *clock = here(clock);
                return None;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
}

/// Keys from stdin: raw terminal keys when it is one, else one letter per line.
fn spawn_keys() -> mpsc::Receiver<Key> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            let key = match line.trim() {
                "" | "n" | "next" => Key::Step,
                "p" | "pause" | "resume" => Key::Toggle,
                "q" | "quit" => Key::Quit,
                _ => {
                    line.clear();
                    continue;
                }
            };
            line.clear();
            if tx.send(key).is_err() {
                return;
            }
        }
        // stdin ended: the receiver sees the channel closed and plays on
    });
    rx
}

fn install_signals(runtime: &tokio::runtime::Runtime) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    runtime.spawn(async move {
        let mut shutdown = crate::shutdown::Shutdown::install();
        shutdown.requested().await;
        let _ = tx.send(());
    });
    rx
}

/// The closing line: how many were sent, and the timing error (how late each event left).
fn summary(sent: u64, skipped: u64, errors_us: &mut [u64]) -> serde_json::Value {
    errors_us.sort_unstable();
    let at = |q: f64| -> Option<u64> {
        (!errors_us.is_empty()).then(|| errors_us[((errors_us.len() - 1) as f64 * q).round() as usize])
    };
    serde_json::json!({
        "replayed": sent, "skipped": skipped,
        "late_us": { "p50": at(0.5), "p99": at(0.99), "p999": at(0.999), "max": errors_us.last() },
    })
}
