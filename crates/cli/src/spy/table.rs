//! The model behind `eventcast spy`, without a terminal: statistics per event name, the
//! totals, sorting and filtering. Every map is bounded ([`Limits`]); what goes over a bound
//! is counted, never stored.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use eventcast::{Event, Loss, Pattern, SenderId};

use super::measure::{BUCKETS, Intervals, Window, cut};

/// How much the table keeps.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Event names tracked; events of further names are counted as untracked.
    pub names: usize,
    /// Senders tracked per name (and distinct senders overall); further ones are counted
    /// as untracked.
    pub senders: usize,
    /// Sender rows over all names (a name × sender pair each); further pairs are counted
    /// as untracked. This, not names × senders, bounds the table's memory.
    pub sender_rows: usize,
    /// Bytes of JSON kept for a name's last arguments and last event (cut beyond).
    pub args_bytes: usize,
    /// The span rates are measured over (sliding).
    pub window: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            names: 10_000,
            senders: 10_000,
            sender_rows: 100_000,
            args_bytes: 4096,
            window: Duration::from_secs(2),
        }
    }
}

/// One sender of one name.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderRow {
    /// The sender's id.
    pub id: SenderId,
    /// The source address of its last event of this name.
    pub from: Option<SocketAddr>,
    /// Its events of this name.
    pub count: u64,
    /// Its lost events (attributed to every name it sent).
    pub lost: u64,
}

/// The last event of a name: held as is when small (rendered when drawn), else rendered
/// at once and cut.
#[derive(Debug, Clone)]
enum Last {
    Held(Event, SenderId, Option<SocketAddr>),
    Rendered { args: String, event: String },
}

#[derive(Debug, Clone)]
struct NameStats {
    count: u64,
    bytes: u64,
    window: Window,
    intervals: Intervals,
    senders: HashMap<SenderId, SenderRow>,
    lost: u64,
    last: Option<Last>,
}

/// One row of the table: a name's figures at some instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The event name (as received: sanitize before drawing).
    pub name: String,
    /// Events received.
    pub count: u64,
    /// Events per second over the window.
    pub rate_hz: f64,
    /// Mean interval between two events, in ms (none before the second event).
    pub interval_ms: Option<f64>,
    /// Standard deviation of the intervals, in ms (none before the third event).
    pub jitter_ms: Option<f64>,
    /// Encoded bytes received.
    pub bytes: u64,
    /// Encoded bytes per second over the window.
    pub bytes_per_sec: f64,
    /// Distinct senders tracked.
    pub senders: usize,
    /// Lost events of the senders of this name (see [`Table::record_loss`]).
    pub lost: u64,
}

/// The sort columns, in the order of the keys 1–8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// Event name, A to Z
    Name,
    /// Events received, most first
    Count,
    /// Events per second, highest first
    Rate,
    /// Mean interval, longest first
    Interval,
    /// Jitter, largest first
    Jitter,
    /// Bytes per second, highest first
    Bandwidth,
    /// Distinct senders, most first
    Senders,
    /// Lost events, most first
    Lost,
}

impl SortKey {
    /// Every column, in key order (key 1 is `ALL[0]`).
    pub const ALL: [SortKey; 8] = [
        SortKey::Name,
        SortKey::Count,
        SortKey::Rate,
        SortKey::Interval,
        SortKey::Jitter,
        SortKey::Bandwidth,
        SortKey::Senders,
        SortKey::Lost,
    ];

    /// Position in [`SortKey::ALL`].
    pub fn index(self) -> usize {
        SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The next column (`forward`) or the one before, wrapping around.
    pub fn cycle(self, forward: bool) -> SortKey {
        let n = SortKey::ALL.len();
        SortKey::ALL[(self.index() + if forward { 1 } else { n - 1 }) % n]
    }

    fn compare(self, a: &Row, b: &Row) -> Ordering {
        let opt = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (x, y) => y.is_some().cmp(&x.is_some()),
        };
        match self {
            SortKey::Name => Ordering::Equal,
            SortKey::Count => b.count.cmp(&a.count),
            SortKey::Rate => b.rate_hz.total_cmp(&a.rate_hz),
            SortKey::Interval => opt(a.interval_ms, b.interval_ms),
            SortKey::Jitter => opt(a.jitter_ms, b.jitter_ms),
            SortKey::Bandwidth => b.bytes_per_sec.total_cmp(&a.bytes_per_sec),
            SortKey::Senders => b.senders.cmp(&a.senders),
            SortKey::Lost => b.lost.cmp(&a.lost),
        }
    }
}

/// Sorts rows by `key` (names A to Z, figures largest first; ties by name), or the other
/// way round when `reverse`.
pub fn sort_rows(rows: &mut [Row], key: SortKey, reverse: bool) {
    rows.sort_by(|a, b| {
        let order = key.compare(a, b).then_with(|| a.name.cmp(&b.name));
        if reverse { order.reverse() } else { order }
    });
}

/// Whether `name` passes the live filter, given in lower case: a case-insensitive substring;
/// empty passes all.
fn filter_matches(lower: &str, name: &str) -> bool {
    lower.is_empty() || name.to_lowercase().contains(lower)
}

/// Figures over all names.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Totals {
    /// Events received (tracked names and untracked alike).
    pub events: u64,
    /// Encoded bytes received.
    pub bytes: u64,
    /// Events per second over the window.
    pub rate_hz: f64,
    /// Bytes per second over the window.
    pub bytes_per_sec: f64,
    /// Names tracked.
    pub names: usize,
    /// Distinct senders seen (up to the sender limit).
    pub peers: usize,
    /// Lost events from loss reports, attributed to a name or not.
    pub lost: u64,
    /// Events of names beyond the name limit (counted in the totals only).
    pub untracked_events: u64,
    /// Events whose sender was beyond a name's sender limit, or beyond the distinct
    /// sender limit (counted, sender not kept).
    pub untracked_senders: u64,
}

/// The live statistics of `eventcast spy`.
#[derive(Debug)]
pub struct Table {
    limits: Limits,
    patterns: Vec<Pattern>,
    start: Instant,
    names: HashMap<String, NameStats>,
    peers: HashSet<SenderId>,
    /// The names each sender has sent (one entry per sender row): a loss report visits
    /// those, not every name.
    names_of: HashMap<SenderId, Vec<String>>,
    sender_rows: usize,
    window: Window,
    totals: Totals,
}

impl Table {
    /// An empty table from `start`, tracking the names matching one of `patterns` (all
    /// when there is none).
    pub fn new(limits: Limits, patterns: Vec<Pattern>, start: Instant) -> Self {
        let limits = Limits { window: limits.window.max(Duration::from_millis(BUCKETS as u64)), ..limits };
        Table {
            limits,
            patterns,
            start,
            names: HashMap::new(),
            peers: HashSet::new(),
            names_of: HashMap::new(),
            sender_rows: 0,
            window: Window::new(),
            totals: Totals::default(),
        }
    }

    fn bucket(&self) -> Duration {
        self.limits.window / BUCKETS as u32
    }

    fn tick(&self, now: Instant) -> u64 {
        let since = now.saturating_duration_since(self.start).as_nanos();
        (since / self.bucket().as_nanos().max(1)) as u64
    }

    /// Seconds the window covers at `now`: the full buckets before the current one and the
    /// part of the current one gone by, never more than the time since the start.
    fn span(&self, now: Instant) -> f64 {
        let since = now.saturating_duration_since(self.start);
        let bucket = self.bucket();
        let part = Duration::from_nanos((since.as_nanos() % bucket.as_nanos().max(1)) as u64);
        let span = (bucket * (BUCKETS as u32 - 1) + part).min(since);
        span.as_secs_f64().max(bucket.as_secs_f64())
    }

    /// Counts an event received at `now` (ignored unless it matches the patterns).
    pub fn record(&mut self, now: Instant, event: &Event) {
        self.record_from(now, event, event.sender(), event.from());
    }

    /// [`Table::record`] with the sender and source given (for tests: local events all
    /// have sender 0).
    pub fn record_from(&mut self, now: Instant, event: &Event, sender: SenderId, from: Option<SocketAddr>) {
        let name = event.name();
        if !self.patterns.is_empty() && !self.patterns.iter().any(|p| p.matches(name)) {
            return;
        }
        let bytes = event.encoded_len() as u64;
        let tick = self.tick(now);
        self.totals.events += 1;
        self.totals.bytes += bytes;
        self.window.add(tick, bytes);
        if !self.peers.contains(&sender) {
            if self.peers.len() < self.limits.senders {
                self.peers.insert(sender);
            } else {
                self.totals.untracked_senders += 1;
            }
        }
        if !self.names.contains_key(name) && self.names.len() >= self.limits.names {
            self.totals.untracked_events += 1;
            return;
        }
        let limits = self.limits;
        let stats = self.names.entry(name.to_owned()).or_insert_with(|| NameStats {
            count: 0,
            bytes: 0,
            window: Window::new(),
            intervals: Intervals::default(),
            senders: HashMap::new(),
            lost: 0,
            last: None,
        });
        stats.count += 1;
        stats.bytes += bytes;
        stats.window.add(tick, bytes);
        stats.intervals.add(now);
        let known = stats.senders.len();
        match stats.senders.get_mut(&sender) {
            Some(s) => {
                s.count += 1;
                s.from = from;
            }
            None if known < limits.senders && self.sender_rows < limits.sender_rows => {
                stats.senders.insert(sender, SenderRow { id: sender, from, count: 1, lost: 0 });
                self.sender_rows += 1;
                self.names_of.entry(sender).or_default().push(name.to_owned());
            }
            None => self.totals.untracked_senders += 1,
        }
        stats.last = Some(if event.encoded_len() <= limits.args_bytes {
            Last::Held(event.clone(), sender, from)
        } else {
            let json = event_json(event, sender, from);
            Last::Rendered {
                args: cut(compact(&json["args"]), limits.args_bytes),
                event: cut(compact(&json), limits.args_bytes),
            }
        });
    }

    /// Counts a loss report. It names a sender and a range of its sequence numbers, not
    /// event names, so the lost events are counted against every name that sender has sent
    /// (a row's "lost" is "lost events of this name's senders"), and once in the totals.
    pub fn record_loss(&mut self, loss: &Loss) {
        let n = loss.count();
        self.totals.lost = self.totals.lost.saturating_add(n);
        for name in self.names_of.get(&loss.sender).map(Vec::as_slice).unwrap_or_default() {
            if let Some(stats) = self.names.get_mut(name)
                && let Some(s) = stats.senders.get_mut(&loss.sender)
            {
                s.lost = s.lost.saturating_add(n);
                stats.lost = stats.lost.saturating_add(n);
            }
        }
    }

    /// The totals at `now`.
    pub fn totals(&self, now: Instant) -> Totals {
        let (n, bytes) = self.window.sums(self.tick(now));
        let span = self.span(now);
        Totals {
            rate_hz: n as f64 / span,
            bytes_per_sec: bytes as f64 / span,
            names: self.names.len(),
            peers: self.peers.len(),
            ..self.totals.clone()
        }
    }

    /// The rows at `now` whose name passes `filter`, sorted.
    pub fn rows(&self, now: Instant, filter: &str, key: SortKey, reverse: bool) -> Vec<Row> {
        let tick = self.tick(now);
        let span = self.span(now);
        let lower = filter.to_lowercase();
        let mut rows: Vec<Row> = self
            .names
            .iter()
            .filter(|(name, _)| filter_matches(&lower, name))
            .map(|(name, s)| {
                let (n, bytes) = s.window.sums(tick);
                Row {
                    name: name.clone(),
                    count: s.count,
                    rate_hz: n as f64 / span,
                    interval_ms: s.intervals.mean_ms(),
                    jitter_ms: s.intervals.jitter_ms(),
                    bytes: s.bytes,
                    bytes_per_sec: bytes as f64 / span,
                    senders: s.senders.len(),
                    lost: s.lost,
                }
            })
            .collect();
        sort_rows(&mut rows, key, reverse);
        rows
    }

    /// The last arguments of `name` as compact JSON, cut to the byte limit (`…` at the end
    /// when cut); `None` for a name not tracked.
    pub fn last_args(&self, name: &str) -> Option<String> {
        match self.names.get(name)?.last.as_ref()? {
            Last::Held(event, ..) => Some(cut(compact(&event.to_json()["args"]), self.limits.args_bytes)),
            Last::Rendered { args, .. } => Some(args.clone()),
        }
    }

    /// The last event of `name` in full as pretty JSON (name, args, sender, source, seq),
    /// or, for an event over the byte limit, its compact JSON cut there.
    pub fn last_event(&self, name: &str) -> Option<String> {
        match self.names.get(name)?.last.as_ref()? {
            Last::Held(event, sender, from) => {
                Some(serde_json::to_string_pretty(&event_json(event, *sender, *from)).unwrap_or_default())
            }
            Last::Rendered { event, .. } => Some(event.clone()),
        }
    }

    /// The senders of `name`, most events first (then by id).
    pub fn senders(&self, name: &str) -> Vec<SenderRow> {
        let mut out: Vec<SenderRow> =
            self.names.get(name).map(|s| s.senders.values().cloned().collect()).unwrap_or_default();
        out.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id)));
        out
    }
}

fn event_json(event: &Event, sender: SenderId, from: Option<SocketAddr>) -> serde_json::Value {
    let mut json = event.to_json();
    json["sender"] = sender.to_string().into();
    json["from"] = from.map(|a| a.to_string()).into();
    json["seq"] = event.seq().into();
    json
}

fn compact(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
