//! The gateway's memory of what it relayed: a keyed hash of each datagram it sent to a side,
//! for a short window, bounded in entries. A datagram that comes back (its own multicast
//! looped back, a copy another gateway of the same LAN published, a copy reflected between
//! LANs) is recognised and not relayed again, so gateways cause no loops.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// Datagrams remembered at most (about 24 bytes each): more than a window's worth at any
/// rate the gateway relays; the oldest go first, counted.
pub(crate) const MAX_ENTRIES: usize = 1 << 18;

/// See the module documentation.
pub(crate) struct Relayed {
    keys: RandomState,
    set: HashSet<u64>,
    order: VecDeque<(Instant, u64)>,
    window: Duration,
    /// Entries dropped early because `MAX_ENTRIES` was reached.
    pub evicted: u64,
}

impl Relayed {
    pub fn new(window: Duration) -> Self {
        Relayed { keys: RandomState::new(), set: HashSet::new(), order: VecDeque::new(), window, evicted: 0 }
    }

    /// The key of `datagram`.
    pub fn key(&self, datagram: &[u8]) -> u64 {
        self.keys.hash_one(datagram)
    }

    /// Whether `key` was relayed within the window (older entries are forgotten first).
    pub fn contains(&mut self, now: Instant, key: u64) -> bool {
        while let Some(&(at, old)) = self.order.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.order.pop_front();
            self.set.remove(&old);
        }
        self.set.contains(&key)
    }

    /// Remembers `key` as relayed now.
    pub fn insert(&mut self, now: Instant, key: u64) {
        if !self.set.insert(key) {
            return;
        }
        if self.order.len() >= MAX_ENTRIES
            && let Some((_, old)) = self.order.pop_front()
        {
            self.set.remove(&old);
            self.evicted += 1;
        }
        self.order.push_back((now, key));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_for_the_window_then_forgets() {
        let t0 = Instant::now();
        let mut r = Relayed::new(Duration::from_secs(1));
        let k = r.key(b"datagram");
        assert!(!r.contains(t0, k));
        r.insert(t0, k);
        assert!(r.contains(t0 + Duration::from_millis(999), k));
        assert!(!r.contains(t0 + Duration::from_secs(1), k));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn bounded_in_entries() {
        let t0 = Instant::now();
        let mut r = Relayed::new(Duration::from_secs(3600));
        for i in 0..(MAX_ENTRIES as u64 + 10) {
            r.insert(t0, i);
        }
        assert_eq!(r.len(), MAX_ENTRIES);
        assert_eq!(r.evicted, 10);
        assert!(!r.contains(t0, 0) && r.contains(t0, MAX_ENTRIES as u64 + 9));
    }
}
