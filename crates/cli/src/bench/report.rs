//! What a benchmark run measured, as a human summary and one JSON line.

use std::time::Duration;

use serde::Serialize;

/// Latencies in microseconds, kept whole (one `u32` per sample) and sorted at the end.
#[derive(Debug, Default)]
pub struct Latencies(Vec<u32>);

impl Latencies {
    pub fn with_capacity(n: usize) -> Self {
        Latencies(Vec::with_capacity(n))
    }

    pub fn record(&mut self, nanos: i64) {
        self.0.push((nanos.max(0) / 1000).min(u32::MAX as i64) as u32);
    }

    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The value below which `q` of the samples fall (nearest rank), in microseconds.
    pub fn quantile(&mut self, q: f64) -> Option<u32> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        Some(self.0[rank - 1])
    }
}

/// One run's figures: the JSON line `eventcast bench` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub mode: &'static str,
    pub role: &'static str,
    pub events: u64,
    pub size: usize,
    pub receivers: usize,
    pub encrypted: bool,
    /// Target send rate, events/s; 0 = as fast as possible.
    pub rate: u64,
    pub seconds: f64,
    /// Events delivered per second at each receiver (the slowest one).
    pub events_per_sec: f64,
    pub datagrams_per_sec: f64,
    pub mb_per_sec: f64,
    /// Events delivered, summed over receivers.
    pub delivered: u64,
    /// Events not delivered, summed over receivers (reported lost or never seen).
    pub lost: u64,
    pub p50_us: Option<u32>,
    pub p99_us: Option<u32>,
    pub p999_us: Option<u32>,
    /// CPU time (user + system) of this whole process per event: per event sent for a
    /// sender, per event delivered for a receiver (start-up and set-up included). Far
    /// steadier than rates on a shared machine.
    pub cpu_us_per_event: Option<f64>,
    /// The process's peak resident memory over its life, MiB.
    pub peak_rss_mib: Option<f64>,
}

impl Report {
    /// Records the process's CPU time over the run.
    pub fn set_cpu(&mut self, cpu: Duration) {
        let per = if self.role == "send" { self.events } else { self.delivered };
        self.cpu_us_per_event = (per > 0).then(|| cpu.as_secs_f64() * 1e6 / per as f64);
        self.peak_rss_mib = usage().map(|u| u.ru_maxrss as f64 / 1024.0);
    }

    pub fn summary(&self) -> String {
        let lat = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |u| format!("{u} µs"));
        format!(
            "{} {}: {} events of {} B to {} receiver(s){} in {:.2} s\n  \
             {:.0} events/s per receiver, {:.0} datagrams/s, {:.1} MB/s\n  \
             delivered {} lost {}\n  latency p50 {} p99 {} p99.9 {}\n  CPU {} µs per event, peak memory {} MiB",
            self.mode,
            self.role,
            self.events,
            self.size,
            self.receivers,
            if self.encrypted { ", encrypted" } else { "" },
            self.seconds,
            self.events_per_sec,
            self.datagrams_per_sec,
            self.mb_per_sec,
            self.delivered,
            self.lost,
            lat(self.p50_us),
            lat(self.p99_us),
            lat(self.p999_us),
            self.cpu_us_per_event.map_or_else(|| "-".to_owned(), |c| format!("{c:.2}")),
            self.peak_rss_mib.map_or_else(|| "-".to_owned(), |m| format!("{m:.1}")),
        )
    }
}

/// Nanoseconds on the wall clock: the same clock in every process of the host, so
/// latencies can be measured across processes too.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i64)
}

/// CPU time (user + system) this process has used so far.
pub fn process_cpu() -> Duration {
    let Some(usage) = usage() else { return Duration::ZERO };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec.max(0) as u64, (t.tv_usec.clamp(0, 999_999) * 1000) as u32);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// This process's resource usage (CPU times, peak resident memory in KiB).
fn usage() -> Option<libc::rusage> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    Some(unsafe { usage.assume_init() })
}

/// A one-line progress display on a terminal; nothing otherwise.
pub struct Progress {
    enabled: bool,
    last: std::time::Instant,
}

impl Progress {
    pub fn new() -> Self {
        Progress { enabled: std::io::IsTerminal::is_terminal(&std::io::stderr()), last: std::time::Instant::now() }
    }

    pub fn show(&mut self, what: impl FnOnce() -> String) {
        if self.enabled && self.last.elapsed() >= Duration::from_millis(200) {
            self.last = std::time::Instant::now();
            eprint!("\r\x1b[2K{}", what());
        }
    }

    pub fn done(&self) {
        if self.enabled {
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut l = Latencies::default();
        assert_eq!(l.quantile(0.5), None);
        for us in 1..=1000 {
            l.record(us * 1000);
        }
        assert_eq!((l.quantile(0.5), l.quantile(0.99), l.quantile(0.999)), (Some(500), Some(990), Some(999)));
        l.record(-5);
        assert_eq!(l.quantile(0.0), Some(0));
    }
}
