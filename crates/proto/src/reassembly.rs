//! Reassembly of segmented events, with bounded memory (`docs/PROTOCOL.md`, FRAGMENT).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::stats::ProtocolStats;
use super::work;

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

/// Bytes charged for each fragment held beyond its data: its map entry and its allocation
/// (measured with a counting allocator: a one-byte fragment costs about 90 bytes of heap). The byte budget counts
/// these, so that a flood of tiny fragments cannot hold more memory than the budget says.
pub const FRAGMENT_OVERHEAD: usize = 96;
/// Bytes charged for each incomplete event beyond its fragments (its entry and indexes).
pub const PARTIAL_OVERHEAD: usize = 256;
/// Incomplete events of one (sender, sequence) that disagree on the fragment count, at most:
/// more are corrupt or forged, dropped as `malformed`.
pub const MAX_COUNT_VARIANTS: usize = 4;
/// Held fragments one [`Reassembler::missing_fragments`] call walks at most; beyond, the
/// rest of the event is asked for as one range.
pub const MAX_WALK: usize = 1024;

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
    /// The fragment disagrees with the others of its event (a fragment other than the last
    /// whose size differs, a last one larger than the rest), or its event has too many
    /// rival fragment counts: dropped.
    Malformed,
}

/// (sender, sequence, fragment count): fragments that disagree on the count are kept apart,
/// so a corrupted or forged fragment cannot poison the real event's reassembly; the
/// impostor never completes and expires.
type Key = (u64, u64, u32);

fn key_range(sender: u64, seqs: std::ops::RangeInclusive<u64>) -> std::ops::RangeInclusive<Key> {
    (sender, *seqs.start(), 0)..=(sender, *seqs.end(), u32::MAX)
}

#[derive(Debug)]
struct Partial {
    count: u32,
    /// Size of every fragment but the last, once one of them arrived.
    chunk: Option<usize>,
    /// Size of the last fragment, once it arrived.
    last_len: Option<usize>,
    /// Data bytes held.
    data_bytes: usize,
    /// Bytes charged to the budget: data plus overheads.
    charged: usize,
    fragments: BTreeMap<u32, Vec<u8>>,
    /// Fragments `0..prefix` are all held.
    prefix: u32,
    /// Fragments `count - suffix..count` are all held.
    suffix: u32,
    /// Age: lower is older (unique).
    order: u64,
    deadline: Instant,
}

impl Partial {
    /// Whether `data` fits the sizes this event's fragments have shown so far.
    fn fits(&self, index: u32, data: &[u8]) -> bool {
        if index + 1 == self.count {
            self.chunk.is_none_or(|c| data.len() <= c)
        } else {
            self.chunk.is_none_or(|c| data.len() == c) && self.last_len.is_none_or(|l| data.len() >= l)
        }
    }

    fn extend_runs(&mut self) {
        while self.prefix < self.count && self.fragments.contains_key(&self.prefix) {
            self.prefix += 1;
        }
        while self.suffix < self.count && self.fragments.contains_key(&(self.count - 1 - self.suffix)) {
            self.suffix += 1;
        }
    }
}

/// Incomplete events, keyed by (sender id, sequence).
///
/// Every operation costs O(log n) in the events and fragments held (indexes by age, by
/// sender and by deadline; no scan of all partials), and the byte budget counts what the
/// fragments really cost in memory ([`FRAGMENT_OVERHEAD`], [`PARTIAL_OVERHEAD`]).
///
/// ```
/// use std::time::{Duration, Instant};
/// use eventcast_proto::reassembly::{Outcome, Reassembler, ReassemblyLimits};
/// use eventcast_proto::ProtocolStats;
/// let limits = ReassemblyLimits { max_event_size: 1 << 20, max_partial_per_sender: 4,
///     max_bytes: 1 << 20, ttl: Duration::from_secs(3) };
/// let (mut r, mut stats, now) = (Reassembler::new(limits), ProtocolStats::default(), Instant::now());
/// assert_eq!(r.insert(now, 1, 0, 1, 2, b"lo", &mut stats), Outcome::Incomplete);
/// assert_eq!(r.insert(now, 1, 0, 0, 2, b"hel", &mut stats), Outcome::Complete(b"hello".to_vec()));
/// ```
#[derive(Debug)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    partials: BTreeMap<Key, Partial>,
    /// Every partial by age.
    by_age: BTreeMap<u64, Key>,
    /// Every partial by (sender, age), for the per-sender bound.
    by_sender: BTreeSet<(u64, u64)>,
    /// Partials held per sender.
    per_sender: HashMap<u64, usize>,
    /// Every partial by (deadline, age), for expiry.
    by_deadline: BTreeSet<(Instant, u64)>,
    total_bytes: usize,
    next_order: u64,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            partials: BTreeMap::new(),
            by_age: BTreeMap::new(),
            by_sender: BTreeSet::new(),
            per_sender: HashMap::new(),
            by_deadline: BTreeSet::new(),
            total_bytes: 0,
            next_order: 0,
        }
    }

    /// Incomplete events held.
    pub fn in_flight(&self) -> usize {
        self.partials.len()
    }

    /// Bytes held, overheads included.
    pub fn bytes(&self) -> usize {
        self.total_bytes
    }

    /// When [`Reassembler::expire`] next has work, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(t, _)| *t)
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
        stats: &mut ProtocolStats,
    ) -> Outcome {
        work::charge(1);
        let key = (sender, seq, count);
        // Fragments other than the last are all one size, so `count - 1` of them already
        // bound the event from below.
        let lower_bound = if index + 1 < count { (count as usize - 1).saturating_mul(data.len()) } else { data.len() };
        if lower_bound > self.limits.max_event_size {
            self.remove(&key);
            stats.dropped.oversize += 1;
            return Outcome::Oversize;
        }
        let cost = data.len() + FRAGMENT_OVERHEAD;
        if let Some(p) = self.partials.get(&key) {
            if p.fragments.contains_key(&index) {
                stats.dropped.duplicate += 1;
                return Outcome::Duplicate;
            }
            if !p.fits(index, data) {
                stats.dropped.malformed += 1;
                return Outcome::Malformed;
            }
            if p.data_bytes + data.len() > self.limits.max_event_size {
                self.remove(&key);
                stats.dropped.oversize += 1;
                return Outcome::Oversize;
            }
        } else {
            if self.partials.range(key_range(sender, seq..=seq)).nth(MAX_COUNT_VARIANTS - 1).is_some() {
                stats.dropped.malformed += 1;
                return Outcome::Malformed;
            }
            if self.per_sender.get(&sender).is_some_and(|n| *n >= self.limits.max_partial_per_sender) {
                let oldest = self.by_sender.range((sender, 0)..=(sender, u64::MAX)).next().map(|(_, o)| *o);
                if let Some(key) = oldest.and_then(|o| self.by_age.get(&o).copied()) {
                    self.remove(&key);
                    stats.dropped.reassembly_evicted += 1;
                }
            }
        }
        let new_cost = cost + if self.partials.contains_key(&key) { 0 } else { PARTIAL_OVERHEAD };
        while self.total_bytes + new_cost > self.limits.max_bytes {
            let oldest = self.by_age.values().find(|k| **k != key).copied();
            let Some(victim) = oldest else {
                // this event alone would pass the budget
                self.remove(&key);
                stats.dropped.oversize += 1;
                return Outcome::Oversize;
            };
            work::charge(1);
            self.remove(&victim);
            stats.dropped.reassembly_evicted += 1;
        }
        let deadline = now + self.limits.ttl;
        if !self.partials.contains_key(&key) {
            let order = self.next_order;
            self.next_order += 1;
            self.partials.insert(
                key,
                Partial {
                    count,
                    chunk: None,
                    last_len: None,
                    data_bytes: 0,
                    charged: PARTIAL_OVERHEAD,
                    fragments: BTreeMap::new(),
                    prefix: 0,
                    suffix: 0,
                    order,
                    deadline,
                },
            );
            self.by_age.insert(order, key);
            self.by_sender.insert((sender, order));
            *self.per_sender.entry(sender).or_default() += 1;
            self.by_deadline.insert((deadline, order));
            self.total_bytes += PARTIAL_OVERHEAD;
        }
        let Some(partial) = self.partials.get_mut(&key) else { return Outcome::Incomplete };
        if index + 1 == count {
            partial.last_len = Some(data.len());
        } else {
            partial.chunk = Some(data.len());
        }
        partial.fragments.insert(index, data.to_vec());
        partial.data_bytes += data.len();
        partial.charged += cost;
        partial.extend_runs();
        self.by_deadline.remove(&(partial.deadline, partial.order));
        partial.deadline = deadline;
        self.by_deadline.insert((deadline, partial.order));
        self.total_bytes += cost;
        if partial.fragments.len() < count as usize {
            return Outcome::Incomplete;
        }
        let Some(partial) = self.remove(&key) else { return Outcome::Incomplete };
        let mut payload = Vec::with_capacity(partial.data_bytes);
        for chunk in partial.fragments.into_values() {
            payload.extend_from_slice(&chunk);
        }
        Outcome::Complete(payload)
    }

    /// Discards incomplete events whose deadline has passed.
    pub fn expire(&mut self, now: Instant, stats: &mut ProtocolStats) {
        while let Some(&(deadline, order)) = self.by_deadline.first() {
            if deadline > now {
                break;
            }
            work::charge(1);
            match self.by_age.get(&order).copied() {
                Some(key) => {
                    self.remove(&key);
                }
                None => {
                    self.by_deadline.pop_first();
                }
            }
            stats.dropped.reassembly_timeout += 1;
        }
    }

    /// Forgets the incomplete events of `sender` whose sequence is in `seqs`.
    pub fn forget(&mut self, sender: u64, seqs: std::ops::RangeInclusive<u64>) {
        if seqs.is_empty() {
            return;
        }
        let keys: Vec<Key> = self.partials.range(key_range(sender, seqs)).map(|(k, _)| *k).collect();
        for key in keys {
            work::charge(1);
            self.remove(&key);
        }
    }

    /// The most complete of the partials of (`sender`, `seq`).
    fn best(&self, sender: u64, seq: u64) -> Option<&Partial> {
        self.partials
            .range(key_range(sender, seq..=seq))
            .map(|(_, p)| p)
            .inspect(|_| work::charge(1))
            .max_by_key(|p| p.fragments.len())
    }

    /// The fragments an incomplete event still lacks, as `first..end` ranges, at most
    /// `limit` of them (from the first lacking); `None` when no fragment of it is held.
    /// Walks at most [`MAX_WALK`] held fragments.
    pub fn missing_fragments(&self, sender: u64, seq: u64, limit: usize) -> Option<Vec<(u32, u32)>> {
        let p = self.best(sender, seq)?;
        let (mut next, stop) = (p.prefix, p.count - p.suffix);
        let mut ranges = Vec::new();
        for (walked, &index) in p.fragments.range(p.prefix..stop).map(|(i, _)| i).enumerate() {
            if ranges.len() >= limit {
                return Some(ranges);
            }
            if walked >= MAX_WALK {
                break;
            }
            work::charge(1);
            if index > next {
                ranges.push((next, index));
            }
            next = index + 1;
        }
        if next < stop && ranges.len() < limit {
            ranges.push((next, stop));
        }
        Some(ranges)
    }

    /// Whether everything the most complete partial of (`sender`, `seq`) lacks lies within
    /// fragments `first..end`; false when none is held. O(log n).
    pub fn lacks_only_within(&self, sender: u64, seq: u64, first: u32, end: u32) -> bool {
        self.best(sender, seq).is_some_and(|p| first <= p.prefix && end >= p.count - p.suffix)
    }

    /// Forgets every incomplete event of `sender`.
    pub fn forget_sender(&mut self, sender: u64) {
        self.forget(sender, 0..=u64::MAX);
    }

    fn remove(&mut self, key: &Key) -> Option<Partial> {
        let p = self.partials.remove(key)?;
        self.total_bytes -= p.charged;
        self.by_age.remove(&p.order);
        self.by_sender.remove(&(key.0, p.order));
        self.by_deadline.remove(&(p.deadline, p.order));
        if let Some(n) = self.per_sender.get_mut(&key.0) {
            *n -= 1;
            if *n == 0 {
                self.per_sender.remove(&key.0);
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
        let (mut r, mut s, t0) = (Reassembler::new(limits()), ProtocolStats::default(), Instant::now());
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
        let (mut r, mut s, t0) = (Reassembler::new(limits()), ProtocolStats::default(), Instant::now());
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
        let (mut r, mut s, t0) = (Reassembler::new(limits()), ProtocolStats::default(), Instant::now());
        assert_eq!(r.missing_fragments(1, 0, 64), None);
        for i in [1, 2, 5] {
            r.insert(t0, 1, 0, i, 8, b"x", &mut s);
        }
        assert_eq!(r.missing_fragments(1, 0, 64), Some(vec![(0, 1), (3, 5), (6, 8)]));
        r.forget(1, 0..=0);
        assert_eq!((r.missing_fragments(1, 0, 64), r.bytes()), (None, 0));
    }

    #[test]
    fn per_sender_bound_evicts_oldest() {
        let (mut r, mut s, t0) = (Reassembler::new(limits()), ProtocolStats::default(), Instant::now());
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
        let (mut r, mut s, t0) = (Reassembler::new(limits()), ProtocolStats::default(), Instant::now());
        let big = vec![0u8; 9_000];
        r.insert(t0, 1, 0, 0, 2, &big, &mut s);
        r.insert(t0 + Duration::from_millis(1), 2, 0, 0, 2, &big, &mut s);
        let each = PARTIAL_OVERHEAD + FRAGMENT_OVERHEAD;
        assert_eq!(r.bytes(), 18_000 + 2 * each);
        r.insert(t0 + Duration::from_millis(2), 3, 0, 0, 2, &big[..5_000], &mut s);
        assert_eq!((r.bytes(), s.dropped.reassembly_evicted), (14_000 + 2 * each, 1));
    }

    #[test]
    fn oversize_refused_and_disagreeing_counts_kept_apart() {
        let (mut r, mut s, t0) = (Reassembler::new(limits()), ProtocolStats::default(), Instant::now());
        assert_eq!(r.insert(t0, 1, 0, 0, 1000, &[0; 100], &mut s), Outcome::Oversize);
        assert_eq!(r.insert(t0, 1, 1, 0, 3, &[0; 100], &mut s), Outcome::Incomplete);
        // a fragment claiming another count (corrupt or forged) does not disturb the event
        assert_eq!(r.insert(t0, 1, 1, 1, 4, &[9; 100], &mut s), Outcome::Incomplete);
        assert_eq!(r.insert(t0, 1, 1, 0, 3, &[0; 100], &mut s), Outcome::Duplicate);
        assert_eq!(r.insert(t0, 1, 1, 1, 3, &[1; 100], &mut s), Outcome::Incomplete);
        assert_eq!(r.missing_fragments(1, 1, 64), Some(vec![(2, 3)]));
        assert!(r.lacks_only_within(1, 1, 2, 3) && !r.lacks_only_within(1, 1, 0, 2));
        // a last fragment larger than the others, or a middle one of another size: malformed
        assert_eq!(r.insert(t0, 1, 1, 2, 3, &[2; 101], &mut s), Outcome::Malformed);
        assert_eq!(r.insert(t0, 1, 1, 1, 4, &[2; 99], &mut s), Outcome::Duplicate);
        assert_eq!(r.insert(t0, 1, 1, 2, 4, &[2; 99], &mut s), Outcome::Malformed);
        assert_eq!((r.in_flight(), s.dropped.malformed), (2, 2));
        // a sum over max_event_size: fragments of 4,999 bytes, three of them
        assert_eq!(r.insert(t0, 1, 2, 0, 3, &[0; 4_999], &mut s), Outcome::Incomplete);
        assert_eq!(r.insert(t0, 1, 2, 1, 3, &[0; 4_999], &mut s), Outcome::Incomplete);
        assert_eq!(r.insert(t0, 1, 2, 2, 3, &[0; 4_999], &mut s), Outcome::Oversize);
        r.forget(1, 1..=1);
        assert_eq!((r.in_flight(), r.bytes()), (0, 0));
        assert_eq!((s.dropped.oversize, s.dropped.duplicate), (2, 2));
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
            limits.max_bytes = 1 << 20;
            let (mut r, mut s, t0) = (Reassembler::new(limits), ProtocolStats::default(), Instant::now());
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
            let (mut r, mut s, t0) = (Reassembler::new(limits()), ProtocolStats::default(), Instant::now());
            for (sender, seq, index, count, len) in frags {
                let _ = r.insert(t0, sender, seq, index % count, count, &vec![1; len], &mut s);
                prop_assert!(r.bytes() <= 20_000);
                prop_assert!(r.in_flight() <= 4 * 3);
            }
        }
    }
}
