//! Flow control for a sender: receivers report their progress on its reliable stream in
//! STATUS frames, and the sender stays within `window` sequences of the slowest receiver
//! that is making progress, so that no receiver falls out of its duplicate window (and
//! loses events) because the sender outran it. A receiver that reports no progress for
//! `timeout` — gone, stuck, or a forger — stops holding the sender back until it reports
//! progress again. Receivers that never send STATUS (none heard yet) hold nothing back.

use std::time::{Duration, Instant};

use super::idhash::{IdHash, IdMap};

/// What the sender knows of one receiver.
#[derive(Debug, Clone, Copy)]
struct Receiver {
    /// It has every sequence below this.
    acked: u64,
    /// When `acked` last moved.
    progressed: Instant,
}

/// The flow-control state of one sender.
///
/// ```
/// use std::time::{Duration, Instant};
/// use eventcast_proto::flow::FlowControl;
/// let now = Instant::now();
/// let mut flow = FlowControl::new(100, Duration::from_secs(1), 16, 0);
/// flow.handle_status(now, 7, 40, 120); // receiver 7 has everything below 40
/// assert!(flow.allows(now, 139) && !flow.allows(now, 140));
/// ```
#[derive(Debug)]
pub struct FlowControl {
    window: u64,
    timeout: Duration,
    max_receivers: usize,
    receivers: IdMap<Receiver>,
    /// The slowest live receiver's `acked`, as of the last computation.
    floor: Option<u64>,
    /// While held back: when the receiver holding the floor times out.
    wake_at: Option<Instant>,
}

impl FlowControl {
    /// `window` sequences ahead of the slowest receiver at most; receivers silent on
    /// progress for `timeout` are ignored; at most `max_receivers` are tracked.
    pub fn new(window: u64, timeout: Duration, max_receivers: usize, key: u64) -> Self {
        FlowControl {
            window: window.max(1),
            timeout,
            max_receivers: max_receivers.max(1),
            receivers: IdMap::with_hasher(IdHash::new(key)),
            floor: None,
            wake_at: None,
        }
    }

    /// A STATUS from `receiver`: it has everything below `next_expected`. Reports beyond
    /// what was sent (`next_seq`) are ignored. Returns whether another receiver had to be
    /// forgotten to make room (the table is full).
    pub fn handle_status(&mut self, now: Instant, receiver: u64, next_expected: u64, next_seq: u64) -> bool {
        if next_expected > next_seq {
            return false;
        }
        let mut evicted = false;
        if !self.receivers.contains_key(&receiver) && self.receivers.len() >= self.max_receivers {
            // Full: the receiver longest without progress makes room.
            if let Some((&stalest, _)) = self.receivers.iter().min_by_key(|(_, r)| r.progressed) {
                self.receivers.remove(&stalest);
                evicted = true;
            }
        }
        let r = self.receivers.entry(receiver).or_insert(Receiver { acked: next_expected, progressed: now });
        if next_expected > r.acked {
            r.acked = next_expected;
            r.progressed = now;
        }
        self.recompute(now);
        evicted
    }

    /// Whether sequence `next_seq` may be sent now.
    pub fn allows(&mut self, now: Instant, next_seq: u64) -> bool {
        match self.floor {
            None => return true,
            Some(floor) if next_seq < floor.saturating_add(self.window) => return true,
            Some(_) => {}
        }
        self.recompute(now);
        self.floor.is_none_or(|floor| next_seq < floor.saturating_add(self.window))
    }

    /// Forgets receivers that reported nothing for the timeout once the slowest one is due
    /// to (so that a floor read for the byte window is not held by a silent receiver).
    pub fn refresh(&mut self, now: Instant) {
        if self.wake_at.is_some_and(|t| t <= now) {
            self.recompute(now);
        }
    }

    /// Every receiver that reports progress has every sequence below this (`None` when
    /// none reports): the sender may free repair copies below it early.
    pub fn floor(&self) -> Option<u64> {
        self.floor
    }

    /// When a blocked sender should look again (the slowest receiver times out).
    pub fn wake_at(&self) -> Option<Instant> {
        self.wake_at
    }

    /// Receivers tracked now.
    pub fn receivers(&self) -> usize {
        self.receivers.len()
    }

    fn recompute(&mut self, now: Instant) {
        let timeout = self.timeout;
        self.receivers.retain(|_, r| now.saturating_duration_since(r.progressed) < timeout);
        let slowest = self.receivers.values().min_by_key(|r| r.acked);
        self.floor = slowest.map(|r| r.acked);
        self.wake_at = slowest.map(|r| r.progressed + timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_stays_within_the_window_of_the_slowest_receiver() {
        let t0 = Instant::now();
        let mut f = FlowControl::new(100, Duration::from_secs(1), 8, 1);
        assert!(f.allows(t0, 10_000), "nobody reported: nothing holds back");
        f.handle_status(t0, 1, 50, 200);
        f.handle_status(t0, 2, 120, 200);
        assert!(f.allows(t0, 149));
        assert!(!f.allows(t0, 150), "receiver 1 is at 50");
        f.handle_status(t0 + Duration::from_millis(10), 1, 90, 200);
        assert!(f.allows(t0, 189) && !f.allows(t0, 190));
        f.handle_status(t0, 3, 500, 200); // beyond what was sent: ignored
        assert_eq!(f.receivers(), 2);
    }

    #[test]
    fn a_receiver_without_progress_stops_holding_the_sender_back() {
        let t0 = Instant::now();
        let mut f = FlowControl::new(100, Duration::from_secs(1), 8, 1);
        f.handle_status(t0, 1, 0, 0);
        assert!(!f.allows(t0, 100));
        assert_eq!(f.wake_at(), Some(t0 + Duration::from_secs(1)));
        // the same report again is no progress
        f.handle_status(t0 + Duration::from_millis(900), 1, 0, 100);
        assert!(!f.allows(t0 + Duration::from_millis(999), 100));
        assert!(f.allows(t0 + Duration::from_secs(1), 100));
        assert_eq!(f.receivers(), 0);
    }

    #[test]
    fn tracked_receivers_are_bounded() {
        let t0 = Instant::now();
        let mut f = FlowControl::new(100, Duration::from_secs(10), 4, 1);
        let evicted = (0..100u64).filter(|&id| f.handle_status(t0 + Duration::from_millis(id), id, id, 1000)).count();
        assert_eq!((f.receivers(), evicted), (4, 96));
        assert!(f.allows(t0 + Duration::from_secs(1), 195) && !f.allows(t0 + Duration::from_secs(1), 196));
    }
}
