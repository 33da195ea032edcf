//! Reassembly of segmented events, with bounded memory (`docs/PROTOCOL.md`, FRAGMENT).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::stats::Stats;

/// Bounds on reassembly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// The largest event accepted, in payload bytes.
    pub max_event_size: usize,
    /// Incomplete events held per sender.
    pub max_partial_per_sender: usize,
    /// Bytes held by all incomplete events together; at least `max_event_size`.
    pub max_bytes: usize,
    /// How long an incomplete event waits for its next fragment.
    pub ttl: Duration,
}

/// What became of a fragment.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kept; the event is not complete yet.
    Incomplete,
    /// The last missing fragment: here is the whole payload.
    Complete(Vec<u8>),
    /// This fragment was already held.
    Duplicate,
    /// The event would exceed `max_event_size`; the event is discarded.
    Oversize,
}

/// (sender, sequence, fragment count): fragments that disagree on the count are kept apart,
/// so a corrupted or forged fragment cannot poison the real event's reassembly; the
/// impostor never completes and expires.
type Key = (u64, u64, u32);

#[derive(Debug)]
struct Partial {
    count: u32,
    bytes: usize,
    fragments: BTreeMap<u32, Vec<u8>>,
    started: Instant,
    deadline: Instant,
}

/// Incomplete events, keyed by (sender id, sequence).
///
/// ```
/// use std::time::{Duration, Instant};
/// use eventcast::proto::reassembly::{Outcome, Reassembler, ReassemblyLimits};
/// use eventcast::proto::Stats;
/// let limits = ReassemblyLimits { max_event_size: 1 << 20, max_partial_per_sender: 4,
///     max_bytes: 1 << 20, ttl: Duration::from_secs(3) };
/// let (mut r, mut stats, now) = (Reassembler::new(limits), Stats::default(), Instant::now());
/// assert_eq!(r.insert(now, 1, 0, 1, 2, b"lo", &mut stats), Outcome::Incomplete);
/// assert_eq!(r.insert(now, 1, 0, 0, 2, b"hel", &mut stats), Outcome::Complete(b"hello".to_vec()));
/// ```
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    partials: HashMap<Key, Partial>,
    /// The keys of each sender's incomplete events, so per-sender work never scans them all.
    by_sender: HashMap<u64, Vec<Key>>,
    total_bytes: usize,
    /// No partial expires before this; recomputed on every expiry pass.
    earliest_deadline: Option<Instant>,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            partials: HashMap::new(),
            by_sender: HashMap::new(),
            total_bytes: 0,
            earliest_deadline: None,
        }
    }

    /// Incomplete events held.
    pub fn in_flight(&self) -> usize {
        self.partials.len()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.total_bytes
    }

    /// When [`Reassembler::expire`] next has work, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.earliest_deadline
    }

    /// Adds one fragment. `count` and `index` were checked by the wire parser
    /// (`2 ≤ count`, `index < count`).
    #[allow(clippy::too_many_arguments)]
    pub fn insert(
        &mut self,
        now: Instant,
        sender: u64,
        seq: u64,
        index: u32,
        count: u32,
        data: &[u8],
        stats: &mut Stats,
    ) -> Outcome {
        let key = (sender, seq, count);
        // Fragments other than the last are all one size, so `count - 1` of them already
        // bound the event from below.
        let lower_bound = if index + 1 < count { (count as usize - 1).saturating_mul(data.len()) } else { data.len() };
        if lower_bound > self.limits.max_event_size {
            self.remove(&key);
            stats.dropped.oversize += 1;
            return Outcome::Oversize;
        }
        if let Some(p) = self.partials.get(&key) {
            if p.fragments.contains_key(&index) {
                stats.dropped.duplicate += 1;
                return Outcome::Duplicate;
            }
            if p.bytes + data.len() > self.limits.max_event_size {
                self.remove(&key);
                stats.dropped.oversize += 1;
                return Outcome::Oversize;
            }
        } else {
            self.make_room_for_new(sender, stats);
        }
        while self.total_bytes + data.len() > self.limits.max_bytes {
            if !self.evict_oldest(|k| *k != key) {
                break;
            }
            stats.dropped.reassembly_evicted += 1;
        }
        let deadline = now + self.limits.ttl;
        let partial = self.partials.entry(key).or_insert_with(|| {
            self.by_sender.entry(sender).or_default().push(key);
            Partial { count, bytes: 0, fragments: BTreeMap::new(), started: now, deadline }
        });
        partial.fragments.insert(index, data.to_vec());
        partial.bytes += data.len();
        partial.deadline = deadline;
        self.total_bytes += data.len();
        self.earliest_deadline = Some(self.earliest_deadline.map_or(deadline, |d| d.min(deadline)));
        if partial.fragments.len() < count as usize {
            return Outcome::Incomplete;
        }
        let partial = self.remove(&key).expect("just inserted");
        let mut payload = Vec::with_capacity(partial.bytes);
        for chunk in partial.fragments.into_values() {
            payload.extend_from_slice(&chunk);
        }
        Outcome::Complete(payload)
    }

    /// Discards incomplete events whose deadline has passed.
    pub fn expire(&mut self, now: Instant, stats: &mut Stats) {
        if self.earliest_deadline.is_none_or(|d| d > now) {
            return;
        }
        let expired: Vec<Key> = self.partials.iter().filter(|(_, p)| p.deadline <= now).map(|(k, _)| *k).collect();
        for key in expired {
            self.remove(&key);
            stats.dropped.reassembly_timeout += 1;
        }
        self.earliest_deadline = self.partials.values().map(|p| p.deadline).min();
    }

    /// Forgets the incomplete events of `sender` whose sequence is in `seqs`.
    pub fn forget(&mut self, sender: u64, seqs: std::ops::RangeInclusive<u64>) {
        for key in self.keys_of(sender).into_iter().filter(|k| seqs.contains(&k.1)) {
            self.remove(&key);
        }
    }

    fn keys_of(&self, sender: u64) -> Vec<Key> {
        self.by_sender.get(&sender).cloned().unwrap_or_default()
    }

    /// The fragments an incomplete event still lacks, as `first..end` ranges; `None` when
    /// no fragment of it is held.
    pub fn missing_fragments(&self, sender: u64, seq: u64) -> Option<Vec<(u32, u32)>> {
        // the candidate with the most fragments is the one worth completing
        let p = self
            .by_sender
            .get(&sender)?
            .iter()
            .filter(|k| k.1 == seq)
            .filter_map(|k| self.partials.get(k))
            .max_by_key(|p| p.fragments.len())?;
        let mut ranges = Vec::new();
        let mut next = 0u32;
        for &index in p.fragments.keys() {
            if index > next {
                ranges.push((next, index));
            }
            next = index + 1;
        }
        if next < p.count {
            ranges.push((next, p.count));
        }
        Some(ranges)
    }

    /// Forgets every incomplete event of `sender`.
    pub fn forget_sender(&mut self, sender: u64) {
        for key in self.keys_of(sender) {
            self.remove(&key);
        }
    }

    fn make_room_for_new(&mut self, sender: u64, stats: &mut Stats) {
        let keys = self.keys_of(sender);
        if keys.len() >= self.limits.max_partial_per_sender {
            let oldest = keys.iter().filter_map(|k| self.partials.get(k).map(|p| (p.started, *k))).min();
            if let Some((_, key)) = oldest {
                self.remove(&key);
                stats.dropped.reassembly_evicted += 1;
            }
        }
    }

    /// Evicts the oldest incomplete event among those `eligible`; false if there is none.
    fn evict_oldest(&mut self, eligible: impl Fn(&Key) -> bool) -> bool {
        let oldest = self.partials.iter().filter(|(k, _)| eligible(k)).min_by_key(|(_, p)| p.started).map(|(k, _)| *k);
        match oldest {
            Some(key) => self.remove(&key).is_some(),
            None => false,
        }
    }

    fn remove(&mut self, key: &Key) -> Option<Partial> {
        let p = self.partials.remove(key)?;
        self.total_bytes -= p.bytes;
        if let Some(keys) = self.by_sender.get_mut(&key.0) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_sender.remove(&key.0);
            }
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits() -> ReassemblyLimits {
        ReassemblyLimits {
            max_event_size: 10_000,
            max_partial_per_sender: 3,
            max_bytes: 20_000,
            ttl: Duration::from_secs(3),
        }
    }

    fn split(payload: &[u8], chunk: usize) -> Vec<(u32, Vec<u8>)> {
        payload.chunks(chunk).enumerate().map(|(i, c)| (i as u32, c.to_vec())).collect()
    }

    #[test]
    fn expires_after_ttl_without_fragments() {
        let (mut r, mut s, t0) = (Reassembler::new(limits()), Stats::default(), Instant::now());
        assert_eq!(r.insert(t0, 1, 0, 0, 2, b"ab", &mut s), Outcome::Incomplete);
        assert_eq!(r.next_deadline(), Some(t0 + Duration::from_secs(3)));
        r.expire(t0 + Duration::from_millis(2999), &mut s);
        assert_eq!(r.in_flight(), 1);
        r.expire(t0 + Duration::from_secs(3), &mut s);
        assert_eq!((r.in_flight(), r.bytes(), s.dropped.reassembly_timeout), (0, 0, 1));
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn activity_extends_the_deadline() {
        let (mut r, mut s, t0) = (Reassembler::new(limits()), Stats::default(), Instant::now());
        r.insert(t0, 1, 0, 0, 3, b"ab", &mut s);
        r.insert(t0 + Duration::from_secs(2), 1, 0, 1, 3, b"cd", &mut s);
        r.expire(t0 + Duration::from_secs(4), &mut s);
        assert_eq!(r.in_flight(), 1);
        assert_eq!(
            r.insert(t0 + Duration::from_secs(4), 1, 0, 2, 3, b"e", &mut s),
            Outcome::Complete(b"abcde".to_vec())
        );
    }

    #[test]
    fn missing_fragments_are_ranges() {
        let (mut r, mut s, t0) = (Reassembler::new(limits()), Stats::default(), Instant::now());
        assert_eq!(r.missing_fragments(1, 0), None);
        for i in [1, 2, 5] {
            r.insert(t0, 1, 0, i, 8, b"x", &mut s);
        }
        assert_eq!(r.missing_fragments(1, 0), Some(vec![(0, 1), (3, 5), (6, 8)]));
        r.forget(1, 0..=0);
        assert_eq!((r.missing_fragments(1, 0), r.bytes()), (None, 0));
    }

    #[test]
    fn per_sender_bound_evicts_oldest() {
        let (mut r, mut s, t0) = (Reassembler::new(limits()), Stats::default(), Instant::now());
        for seq in 0..4u64 {
            let t = t0 + Duration::from_millis(seq);
            assert_eq!(r.insert(t, 1, seq, 0, 2, b"x", &mut s), Outcome::Incomplete);
        }
        assert_eq!((r.in_flight(), s.dropped.reassembly_evicted), (3, 1));
        // seq 0 was evicted; its second fragment starts a new partial instead of completing.
        assert_eq!(r.insert(t0, 1, 0, 1, 2, b"y", &mut s), Outcome::Incomplete);
        // another sender is not limited by sender 1
        assert_eq!(r.insert(t0, 2, 0, 0, 2, b"x", &mut s), Outcome::Incomplete);
        assert_eq!(r.in_flight(), 4);
    }

    #[test]
    fn byte_budget_evicts_oldest_other_event() {
        let (mut r, mut s, t0) = (Reassembler::new(limits()), Stats::default(), Instant::now());
        let big = vec![0u8; 9_000];
        r.insert(t0, 1, 0, 0, 2, &big, &mut s);
        r.insert(t0 + Duration::from_millis(1), 2, 0, 0, 2, &big, &mut s);
        assert_eq!(r.bytes(), 18_000);
        r.insert(t0 + Duration::from_millis(2), 3, 0, 0, 2, &big[..5_000], &mut s);
        assert_eq!((r.bytes(), s.dropped.reassembly_evicted), (14_000, 1));
    }

    #[test]
    fn oversize_refused_and_disagreeing_counts_kept_apart() {
        let (mut r, mut s, t0) = (Reassembler::new(limits()), Stats::default(), Instant::now());
        assert_eq!(r.insert(t0, 1, 0, 0, 1000, &[0; 100], &mut s), Outcome::Oversize);
        assert_eq!(r.insert(t0, 1, 1, 0, 3, &[0; 100], &mut s), Outcome::Incomplete);
        // a fragment claiming another count (corrupt or forged) does not disturb the event
        assert_eq!(r.insert(t0, 1, 1, 1, 4, &[9; 100], &mut s), Outcome::Incomplete);
        assert_eq!(r.insert(t0, 1, 1, 0, 3, &[0; 100], &mut s), Outcome::Duplicate);
        assert_eq!(r.insert(t0, 1, 1, 1, 3, &[1; 100], &mut s), Outcome::Incomplete);
        assert_eq!(r.missing_fragments(1, 1), Some(vec![(2, 3)]));
        assert_eq!(r.insert(t0, 1, 1, 2, 3, &[2; 9_950], &mut s), Outcome::Oversize);
        assert_eq!((r.in_flight(), r.bytes()), (1, 100), "only the impostor is left, to expire");
        assert_eq!((s.dropped.oversize, s.dropped.duplicate), (2, 1));
        r.forget(1, 1..=1);
        assert_eq!(r.in_flight(), 0);
    }

    proptest! {
        /// Fragments of several events, shuffled and duplicated, give back each payload once.
        #[test]
        fn shuffled_duplicated_interleaved(
            sizes in proptest::collection::vec(2usize..3_000, 1..4),
            chunk in 1usize..700,
            order in proptest::collection::vec(any::<u32>(), 0..64),
            dups in proptest::collection::vec(any::<prop::sample::Index>(), 0..20),
        ) {
            let payloads: Vec<Vec<u8>> = sizes.iter().enumerate()
                .map(|(i, n)| (0..*n).map(|b| (b * 31 + i) as u8).collect()).collect();
            let mut pieces = Vec::new();
            for (seq, p) in payloads.iter().enumerate() {
                let parts = split(p, chunk.min(p.len() - 1));
                let count = parts.len() as u32;
                for (index, data) in parts {
                    pieces.push((seq as u64, index, count, data));
                }
            }
            for d in &dups { let extra = pieces[d.index(pieces.len())].clone(); pieces.push(extra); }
            for (i, o) in order.iter().enumerate() { let n = pieces.len(); pieces.swap(i % n, *o as usize % n); }
            let mut limits = limits();
            limits.max_partial_per_sender = 8;
            let (mut r, mut s, t0) = (Reassembler::new(limits), Stats::default(), Instant::now());
            let mut done = vec![None; payloads.len()];
            for (seq, index, count, data) in pieces {
                if done[seq as usize].is_some() { continue; } // the endpoint's window drops these
                match r.insert(t0, 9, seq, index, count, &data, &mut s) {
                    Outcome::Complete(p) => done[seq as usize] = Some(p),
                    Outcome::Incomplete | Outcome::Duplicate => {}
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
            for (got, want) in done.into_iter().zip(payloads) { prop_assert_eq!(got, Some(want)); }
            prop_assert_eq!((r.in_flight(), r.bytes()), (0, 0));
        }

        /// Arbitrary fragments never exceed the bounds.
        #[test]
        fn bounds_hold_under_garbage(frags in proptest::collection::vec((0u64..4, 0u64..50, 0u32..8, 2u32..9, 1usize..3_000), 0..200)) {
            let (mut r, mut s, t0) = (Reassembler::new(limits()), Stats::default(), Instant::now());
            for (sender, seq, index, count, len) in frags {
                let _ = r.insert(t0, sender, seq, index % count, count, &vec![1; len], &mut s);
                prop_assert!(r.bytes() <= 20_000);
                prop_assert!(r.in_flight() <= 4 * 3);
            }
        }
    }
}
