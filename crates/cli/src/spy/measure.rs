//! What the table measures with constant memory: a sliding window of counts, interval
//! statistics (Welford), and byte-capped text.

use std::time::Instant;

/// Sample buckets of a rate window (each `window / BUCKETS` long).
pub const BUCKETS: usize = 20;

/// Events and bytes per bucket of a sliding window: constant memory whatever the rate.
#[derive(Debug, Clone)]
pub struct Window {
    /// (tick, events, bytes); `u64::MAX` ticks are empty.
    buckets: [(u64, u64, u64); BUCKETS],
}

impl Window {
    /// An empty window.
    pub fn new() -> Self {
        Window { buckets: [(u64::MAX, 0, 0); BUCKETS] }
    }

    /// Counts an event of `bytes` in bucket `tick` (time since the start / bucket width).
    pub fn add(&mut self, tick: u64, bytes: u64) {
        let b = &mut self.buckets[(tick % BUCKETS as u64) as usize];
        if b.0 != tick {
            *b = (tick, 0, 0);
        }
        b.1 += 1;
        b.2 += bytes;
    }

    /// Events and bytes of the buckets in the window ending at `tick`.
    pub fn sums(&self, tick: u64) -> (u64, u64) {
        self.buckets
            .iter()
            .filter(|b| b.0 <= tick && tick - b.0 < BUCKETS as u64)
            .fold((0, 0), |(n, bytes), b| (n + b.1, bytes + b.2))
    }
}

/// Mean and standard deviation of the intervals between events (Welford: O(1) memory).
#[derive(Debug, Clone, Default)]
pub struct Intervals {
    last: Option<Instant>,
    n: u64,
    mean: f64,
    m2: f64,
}

impl Intervals {
    /// Counts an event at `now`: the interval since the one before.
    pub fn add(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let x = now.saturating_duration_since(last).as_secs_f64();
            self.n += 1;
            let d = x - self.mean;
            self.mean += d / self.n as f64;
            self.m2 += d * (x - self.mean);
        }
        self.last = Some(now);
    }

    /// The mean interval in ms; none before two events.
    pub fn mean_ms(&self) -> Option<f64> {
        (self.n > 0).then_some(self.mean * 1000.0)
    }

    /// The sample standard deviation of the intervals in ms; none before three events.
    pub fn jitter_ms(&self) -> Option<f64> {
        (self.n > 1).then(|| (self.m2 / (self.n - 1) as f64).max(0.0).sqrt() * 1000.0)
    }
}

/// `text` cut to at most `max` bytes on a character boundary, `…` ending it when cut.
pub fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
    text
}
