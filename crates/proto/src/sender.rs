//! The sending half of the core: sequence numbers, packing, segmentation, the retransmit
//! buffer that answers NACKs, heartbeats, and pacing.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::flow::FlowControl;
use super::seq::Seq;
use super::stats::ProtocolStats;
use super::wire::{self, Datagram, FrameRepr, NACK_WHOLE, NackEntry};

/// How an event is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeliveryMode {
    /// Repaired if lost, delivered in the sender's order (the default).
    #[default]
    Reliable,
    /// Repaired if lost, delivered as soon as it is complete.
    Unordered,
    /// Never repaired, delivered as soon as it is complete.
    BestEffort,
}

impl DeliveryMode {
    fn frame_flags(self) -> u8 {
        match self {
            DeliveryMode::Reliable => 0,
            DeliveryMode::Unordered => wire::FRAME_UNORDERED,
            DeliveryMode::BestEffort => wire::FRAME_UNRELIABLE | wire::FRAME_UNORDERED,
        }
    }
}

/// Settings of the sending half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// Largest datagram.
    pub max_payload_size: usize,
    /// Events kept for repair, at most.
    pub retransmit_max_events: usize,
    /// Bytes kept for repair, at most: payloads and their entries' bookkeeping.
    pub retransmit_max_bytes: usize,
    /// An event is kept at least this long, even when the buffer is full: `emit` waits instead.
    pub retransmit_min_hold: Duration,
    /// An event is kept at most this long.
    pub retransmit_max_age: Duration,
    /// First heartbeat this long after the last data; the gap doubles up to `heartbeat_max`.
    pub heartbeat_min: Duration,
    /// Longest gap between heartbeats.
    pub heartbeat_max: Duration,
    /// The same item is repaired at most once in this time, however many NACKs ask for it.
    pub repair_holdoff: Duration,
    /// Sending rate limit in bytes per second; `None` sends as fast as the socket takes.
    pub pace_bytes_per_sec: Option<u64>,
    /// Repair budget in bytes per second, whoever asks: NACKs beyond it are ignored (and
    /// asked again later), so requests cannot make a sender flood the group.
    pub repair_bytes_per_sec: u64,
    /// How much repair budget can build up while idle.
    pub repair_burst_bytes: u64,
    /// Bytes of datagrams waiting to be sent before `can_send` says no.
    pub max_tx_queue_bytes: usize,
    /// Reliable sequences the sender may be ahead of its slowest receiver (flow control;
    /// well inside the receivers' duplicate window).
    pub flow_window: u64,
    /// The same window in bytes held for repair (payloads and bookkeeping, as
    /// `retransmit_max_bytes` counts them): a sender of large events waits for the slowest
    /// reporting receiver before its repair copies, which that receiver may still need,
    /// could be evicted. One event is always allowed.
    pub flow_window_bytes: usize,
    /// A receiver that reports no progress for this long stops holding the sender back.
    pub flow_timeout: Duration,
    /// Receivers tracked for flow control, at most.
    pub flow_max_receivers: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            max_payload_size: 1024,
            retransmit_max_events: 1 << 20,
            retransmit_max_bytes: 64 << 20,
            retransmit_min_hold: Duration::from_millis(500),
            retransmit_max_age: Duration::from_secs(10),
            heartbeat_min: Duration::from_millis(5),
            heartbeat_max: Duration::from_secs(1),
            repair_holdoff: Duration::from_millis(10),
            pace_bytes_per_sec: None,
            repair_bytes_per_sec: 64 << 20,
            repair_burst_bytes: 16 << 20,
            max_tx_queue_bytes: 4 << 20,
            flow_window: 16_384,
            flow_window_bytes: 32 << 20,
            flow_timeout: Duration::from_secs(1),
            flow_max_receivers: 1024,
        }
    }
}

/// A sequence the sender counted, as the wire carries it (always in range: see `send`).
fn wire_seq(seq: u64) -> Seq {
    Seq::new(seq).unwrap_or(Seq::MAX)
}

struct Sent {
    /// Bytes held for repair by every reliable event sent before this one (see
    /// `unacked_bytes`).
    held_before: u64,
    seq: u64,
    flags: u8,
    payload: Bytes,
    sent_at: Instant,
    /// When each fragment (or [`NACK_WHOLE`]) was last repaired.
    repaired: HashMap<u32, Instant>,
}

/// Memory an event held for repair takes: its payload and its entry (so that the buffer's
/// byte bound holds in real bytes also for many small events).
fn held_bytes(payload: &Bytes) -> usize {
    payload.len() + std::mem::size_of::<Sent>()
}

/// A queue of datagrams built by appending frames, packing them while there is room.
#[derive(Default)]
struct DatagramQueue {
    queue: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl DatagramQueue {
    fn push(&mut self, id: u64, max: usize, frame: FrameRepr<'_>) {
        self.push_after(id, max, None, frame);
    }

    /// Appends `frame`; a datagram begun for it starts with `origin` (data datagrams of a
    /// young stream). Every datagram keeps room for an ORIGIN frame (`wire::fits_whole`).
    fn push_after(&mut self, id: u64, max: usize, origin: Option<FrameRepr<'_>>, frame: FrameRepr<'_>) {
        let len = frame.buffer_len();
        match self.queue.back_mut() {
            Some(last) if last.len() + len <= max => frame.emit(last),
            _ => {
                let mut d = Vec::with_capacity(max.min(wire::HEADER_LEN + wire::ORIGIN_OVERHEAD + len));
                Datagram::emit_header(&mut d, id);
                if let Some(origin) = origin {
                    origin.emit(&mut d);
                    self.bytes += origin.buffer_len();
                }
                frame.emit(&mut d);
                self.bytes += wire::HEADER_LEN;
                self.queue.push_back(d);
            }
        }
        self.bytes += len;
    }

    /// Appends `first` and `second` to one datagram, one after the other.
    fn push_pair(&mut self, id: u64, max: usize, first: FrameRepr<'_>, second: FrameRepr<'_>) {
        let len = first.buffer_len() + second.buffer_len();
        match self.queue.back_mut() {
            Some(last) if last.len() + len <= max => {
                first.emit(last);
                second.emit(last);
            }
            _ => {
                let mut d = Vec::with_capacity(wire::HEADER_LEN + len);
                Datagram::emit_header(&mut d, id);
                first.emit(&mut d);
                second.emit(&mut d);
                self.bytes += wire::HEADER_LEN;
                self.queue.push_back(d);
            }
        }
        self.bytes += len;
    }

    fn front_len(&self) -> Option<usize> {
        self.queue.front().map(Vec::len)
    }

    fn pop(&mut self) -> Option<Vec<u8>> {
        let d = self.queue.pop_front()?;
        self.bytes -= d.len();
        Some(d)
    }
}

/// The sending half of an [`super::Endpoint`].
pub struct Outgoing {
    config: SenderConfig,
    id: u64,
    next_seq: u64,
    next_best_effort_seq: u64,
    retransmit: VecDeque<Sent>,
    /// Bytes held for repair by every reliable event sent so far (a running total, so that
    /// the bytes above any sequence cost O(1)).
    held_sent: u64,
    data: DatagramQueue,
    control: DatagramQueue,
    heartbeat_at: Option<Instant>,
    heartbeat_gap: Duration,
    last_gone_heartbeat: Option<Instant>,
    tokens: f64,
    tokens_at: Option<Instant>,
    repair_budget: f64,
    repair_budget_at: Option<Instant>,
    blocked: bool,
    flow: FlowControl,
    flow_blocked: bool,
    /// When the reliable stream began (its sequence 0 was sent).
    stream_began: Option<Instant>,
}

/// Data datagrams carry an ORIGIN frame for this long after the stream began (heartbeats
/// always do): a receiver that first hears the sender in that time learns whether it was
/// there from the start.
pub const ORIGIN_PERIOD: Duration = Duration::from_secs(10);

/// Why an event cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The payload is larger than `max_event_size`.
    TooLarge {
        /// Payload size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

impl Outgoing {
    /// The sending half for sender `id`.
    pub fn new(config: SenderConfig, id: u64) -> Self {
        let burst = Self::burst(&config);
        let repair_budget = config.repair_burst_bytes as f64;
        let flow =
            FlowControl::new(config.flow_window, config.flow_timeout, config.flow_max_receivers, id.rotate_left(21));
        Outgoing {
            heartbeat_gap: config.heartbeat_min,
            config,
            id,
            next_seq: 0,
            next_best_effort_seq: 0,
            retransmit: VecDeque::new(),
            held_sent: 0,
            data: DatagramQueue::default(),
            control: DatagramQueue::default(),
            heartbeat_at: None,
            last_gone_heartbeat: None,
            tokens: burst,
            tokens_at: None,
            repair_budget,
            repair_budget_at: None,
            blocked: false,
            flow,
            flow_blocked: false,
            stream_began: None,
        }
    }

    /// The ORIGIN frame for datagrams sent at `now`.
    fn origin(&self, now: Instant) -> Option<FrameRepr<'static>> {
        let began = self.stream_began?;
        let age = now.saturating_duration_since(began).as_millis();
        Some(FrameRepr::Origin { age_ms: u32::try_from(age).unwrap_or(u32::MAX) })
    }

    fn burst(config: &SenderConfig) -> f64 {
        (64 * 1024).max(2 * config.max_payload_size) as f64
    }

    /// The oldest sequence still held for repair (`next_seq` when none is).
    pub fn oldest_available(&self) -> u64 {
        self.retransmit.front().map_or(self.next_seq, |s| s.seq)
    }

    /// Queues an event; see [`super::Endpoint::send`].
    pub fn send(&mut self, now: Instant, payload: Bytes, mode: DeliveryMode, stats: &mut ProtocolStats) -> u64 {
        let flags = mode.frame_flags();
        // Sequences stay below 2^63 (`Seq`); a sender would need 292,000 years at a million
        // events a second to get there, so the clamp is never reached in practice.
        let counter =
            if mode == DeliveryMode::BestEffort { &mut self.next_best_effort_seq } else { &mut self.next_seq };
        let seq = *counter;
        *counter = Seq::new(seq).unwrap_or(Seq::MAX).next().get();
        if mode != DeliveryMode::BestEffort {
            self.stream_began.get_or_insert(now);
        }
        let origin = self.origin(now).filter(|_| self.stream_began.is_some_and(|t| now < t + ORIGIN_PERIOD));
        let fragments = self.push_event(&Self::split(&self.config, &payload), seq, flags, false, origin);
        stats.fragments_out += fragments;
        stats.events_out += 1;
        if mode != DeliveryMode::BestEffort {
            let held_before = self.held_sent;
            self.held_sent += held_bytes(&payload) as u64;
            self.retransmit.push_back(Sent {
                held_before,
                seq,
                flags,
                payload,
                sent_at: now,
                repaired: HashMap::new(),
            });
            // After a pause the heartbeats start again at their fastest; while sending goes
            // on they keep their schedule, so receivers hear of the latest event in time.
            let soon = now + self.config.heartbeat_min;
            if self.heartbeat_at.is_none_or(|t| t > soon) {
                self.heartbeat_gap = self.config.heartbeat_min;
                self.heartbeat_at = Some(soon);
            }
        }
        seq
    }

    /// The payload as one frame's worth, or as fragments of the chunk size every repair reuses.
    fn split<'p>(config: &SenderConfig, payload: &'p [u8]) -> Vec<&'p [u8]> {
        if wire::fits_whole(config.max_payload_size, payload.len()) {
            vec![payload]
        } else {
            payload.chunks(wire::fragment_room(config.max_payload_size).max(1)).collect()
        }
    }

    /// Pushes the frames of an event, to the repair queue when `repair`, and returns how many
    /// fragments it took (0 for a whole-event frame). Datagrams begun for it start with
    /// `origin`.
    fn push_event(&mut self, parts: &[&[u8]], seq: u64, flags: u8, repair: bool, origin: Option<FrameRepr<'_>>) -> u64 {
        let max = self.config.max_payload_size;
        let flags = if repair { flags | wire::FRAME_RETRANSMIT } else { flags };
        let queue = if repair { &mut self.control } else { &mut self.data };
        if let [payload] = parts {
            queue.push_after(self.id, max, origin, FrameRepr::Event { flags, seq: wire_seq(seq), payload });
            return 0;
        }
        let count = parts.len() as u32;
        for (index, data) in parts.iter().enumerate() {
            let frame = FrameRepr::Fragment { flags, seq: wire_seq(seq), index: index as u32, count, data };
            queue.push_after(self.id, max, origin, frame);
        }
        u64::from(count)
    }

    /// Answers a NACK addressed to this sender: queues the repairs it can make, at most once
    /// per item per `repair_holdoff`, and a heartbeat when something asked for is gone.
    pub fn handle_nack(&mut self, now: Instant, entries: impl Iterator<Item = NackEntry>, stats: &mut ProtocolStats) {
        stats.nacks_received += 1;
        let elapsed = self.repair_budget_at.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.repair_budget = (self.repair_budget + elapsed * self.config.repair_bytes_per_sec as f64)
            .min(self.config.repair_burst_bytes as f64);
        self.repair_budget_at = Some(now);
        for entry in entries {
            if self.repair_budget <= 0.0 {
                stats.repairs_rate_limited += 1;
                return;
            }
            let entry_seq = entry.seq.get();
            if entry_seq >= self.next_seq {
                continue; // never sent: a confused or hostile peer
            }
            let oldest = self.oldest_available();
            if entry_seq < oldest {
                stats.repairs_unavailable += 1;
                let due = self.last_gone_heartbeat.is_none_or(|t| now >= t + self.config.repair_holdoff);
                if due {
                    self.last_gone_heartbeat = Some(now);
                    self.push_heartbeat(now);
                }
                continue;
            }
            let index = (entry_seq - oldest) as usize;
            let (sent_seq, flags, payload) = {
                let sent = &mut self.retransmit[index];
                (sent.seq, sent.flags, sent.payload.clone())
            };
            let parts = Self::split(&self.config, &payload);
            let (first, end) = if parts.len() == 1 || entry.end == NACK_WHOLE {
                (0, parts.len() as u32)
            } else {
                (entry.first, entry.end.min(parts.len() as u32))
            };
            let holdoff = self.config.repair_holdoff;
            let mut wanted = Vec::new();
            {
                let sent = &mut self.retransmit[index];
                for i in first..end {
                    if self.repair_budget <= 0.0 {
                        stats.repairs_rate_limited += 1;
                        break;
                    }
                    let key = if parts.len() == 1 { NACK_WHOLE } else { i };
                    if sent.repaired.get(&key).is_some_and(|t| now < *t + holdoff) {
                        stats.repairs_held_off += 1;
                        continue;
                    }
                    sent.repaired.insert(key, now);
                    wanted.push(i);
                    self.repair_budget -= self.config.max_payload_size as f64;
                }
            }
            if wanted.is_empty() {
                continue;
            }
            if parts.len() == 1 {
                self.push_event(&parts, sent_seq, flags, true, None);
                stats.repairs_sent += 1;
            } else {
                let max = self.config.max_payload_size;
                let count = parts.len() as u32;
                for i in wanted {
                    let frame = FrameRepr::Fragment {
                        flags: flags | wire::FRAME_RETRANSMIT,
                        seq: wire_seq(sent_seq),
                        index: i,
                        count,
                        data: parts[i as usize],
                    };
                    self.control.push(self.id, max, frame);
                    stats.repairs_sent += 1;
                }
            }
        }
    }

    /// Queues a heartbeat, always right after an ORIGIN frame.
    fn push_heartbeat(&mut self, now: Instant) {
        let frame =
            FrameRepr::Heartbeat { next_seq: wire_seq(self.next_seq), oldest: wire_seq(self.oldest_available()) };
        match self.origin(now) {
            Some(origin) => self.control.push_pair(self.id, self.config.max_payload_size, origin, frame),
            None => self.control.push(self.id, self.config.max_payload_size, frame),
        }
    }

    /// Queues a control frame (a NACK of the receiving half).
    pub fn push_control(&mut self, frame: FrameRepr<'_>) {
        self.control.push(self.id, self.config.max_payload_size, frame);
    }

    /// False while the send queue or the retransmit buffer is full; `emit` waits then.
    pub fn can_send(&mut self, now: Instant, stats: &mut ProtocolStats) -> bool {
        self.evict(now);
        let full = self.is_full();
        if full && !self.blocked {
            stats.backpressure_waits += 1;
        }
        self.blocked = full;
        let flow_blocked = self.flow_blocks(now);
        if flow_blocked && !self.flow_blocked {
            stats.flow_control_waits += 1;
        }
        self.flow_blocked = flow_blocked;
        !full && !flow_blocked
    }

    /// Bytes held for repair (payloads and bookkeeping): what was sent since the oldest
    /// entry still held.
    fn retransmit_bytes(&self) -> usize {
        self.retransmit.front().map_or(0, |oldest| (self.held_sent - oldest.held_before) as usize)
    }

    /// Bytes held for repair that some reporting receiver has not acknowledged (0 while
    /// none reports). O(1): the entry at the floor knows the bytes sent before it.
    fn unacked_bytes(&mut self, now: Instant) -> usize {
        self.flow.refresh(now);
        let Some(floor) = self.flow.floor() else { return 0 };
        let oldest = self.oldest_available();
        if floor <= oldest {
            return self.retransmit_bytes();
        }
        match self.retransmit.get((floor - oldest) as usize) {
            Some(at_floor) => (self.held_sent - at_floor.held_before) as usize,
            None => 0, // everything held is acknowledged
        }
    }

    /// Whether flow control holds the next event back: the slowest reporting receiver is
    /// `flow_window` sequences or `flow_window_bytes` behind.
    fn flow_blocks(&mut self, now: Instant) -> bool {
        !self.flow.allows(now, self.next_seq) || self.unacked_bytes(now) >= self.config.flow_window_bytes
    }

    /// A receiver's STATUS on this sender's stream.
    pub fn handle_status(&mut self, now: Instant, receiver: u64, next_expected: u64, stats: &mut ProtocolStats) {
        stats.statuses_received += 1;
        if self.flow.handle_status(now, receiver, next_expected, self.next_seq) {
            stats.flow_receivers_evicted += 1;
        }
    }

    fn is_full(&self) -> bool {
        self.data.bytes >= self.config.max_tx_queue_bytes
            || self.retransmit.len() >= self.config.retransmit_max_events
            || self.retransmit_bytes() >= self.config.retransmit_max_bytes
    }

    /// Drops repair copies that are too old, or over the bounds and held long enough — or,
    /// over the bounds, acknowledged by every receiver that reports progress (flow control):
    /// then the buffer's size, not `retransmit_min_hold`, no longer caps the sending rate.
    fn evict(&mut self, now: Instant) {
        let acked_below = self.flow.floor().unwrap_or(0);
        while let Some(front) = self.retransmit.front() {
            let age = now.saturating_duration_since(front.sent_at);
            let over = self.retransmit.len() >= self.config.retransmit_max_events
                || self.retransmit_bytes() >= self.config.retransmit_max_bytes;
            let held_enough = age >= self.config.retransmit_min_hold || front.seq < acked_below;
            if age >= self.config.retransmit_max_age || (over && held_enough) {
                self.retransmit.pop_front();
            } else {
                break;
            }
        }
    }

    /// Whether datagrams are queued.
    pub fn has_pending(&self) -> bool {
        self.control.front_len().is_some() || self.data.front_len().is_some()
    }

    /// The next datagram, repairs and control first; `None` when empty or pacing says wait.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        let len = self.control.front_len().or_else(|| self.data.front_len())?;
        if let Some(rate) = self.config.pace_bytes_per_sec {
            let burst = Self::burst(&self.config);
            let elapsed = self.tokens_at.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
            self.tokens = (self.tokens + elapsed * rate as f64).min(burst);
            self.tokens_at = Some(now);
            if self.tokens < len as f64 {
                return None;
            }
            self.tokens -= len as f64;
        }
        if self.control.front_len().is_some() { self.control.pop() } else { self.data.pop() }
    }

    /// When the sender next needs the clock: a heartbeat, pacing, or an eviction that frees
    /// a blocked `emit`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.heartbeat_at;
        if let (Some(rate), Some(at)) = (self.config.pace_bytes_per_sec, self.tokens_at) {
            if let Some(len) = self.control.front_len().or_else(|| self.data.front_len()) {
                let missing = (len as f64 - self.tokens).max(0.0);
                let ready = at + Duration::from_secs_f64(missing / rate as f64);
                t = Some(t.map_or(ready, |x| x.min(ready)));
            }
        }
        if self.flow_blocked {
            if let Some(wake) = self.flow.wake_at() {
                t = Some(t.map_or(wake, |x| x.min(wake)));
            }
        }
        if self.blocked {
            if let Some(front) = self.retransmit.front() {
                let freed = front.sent_at + self.config.retransmit_min_hold;
                t = Some(t.map_or(freed, |x| x.min(freed)));
            }
        }
        t
    }

    /// Runs due timers: sends a heartbeat when one is due.
    pub fn handle_timeout(&mut self, now: Instant, stats: &mut ProtocolStats) {
        if self.heartbeat_at.is_some_and(|t| t <= now) {
            self.push_heartbeat(now);
            stats.heartbeats_sent += 1;
            self.heartbeat_gap = (self.heartbeat_gap * 2).min(self.config.heartbeat_max);
            self.heartbeat_at = Some(now + self.heartbeat_gap);
        }
        self.evict(now);
        self.blocked &= self.is_full();
        if self.flow_blocked {
            // the flow timer is due: look again, so that it moves or clears
            self.flow_blocked = self.flow_blocks(now);
        }
    }

    /// Gauges for the stats snapshot.
    pub fn refresh_gauges(&self, stats: &mut ProtocolStats) {
        stats.retransmit_events = self.retransmit.len() as u64;
        stats.retransmit_bytes = self.retransmit_bytes() as u64;
    }
}
