//! The sequences of one sender that are missing, as ranges: opening a gap of any length,
//! finding the gap of a sequence and giving a gap up cost O(log n), never one step per
//! sequence, so a sender (or a forger) naming a far sequence buys no work.
//!
//! A gap may come to hold sequences that arrived since it was opened: they are marked done
//! in the sender's window, and every reader of a gap skips them through the window (which
//! steps 64 sequences at a time). Ranges are trimmed where that is O(log n) — at their ends,
//! and below `next_expected` — and otherwise left whole until asked for or given up.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::types::ReceiverConfig;
use crate::work;

/// Gaps (ranges) tracked per sender at most. A sender with more has its new gaps merged
/// into its last one: the requests stay exact (done sequences are skipped), only their
/// timing is shared.
pub const MAX_GAPS_PER_SENDER: usize = 256;

/// One range of missing sequences, `start..end`, and when to ask for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    /// One past the last sequence of the range.
    pub end: u64,
    /// When it was noticed: it is given up `nack_give_up` later.
    pub noticed: Instant,
    /// When to ask (again).
    pub next_at: Instant,
    /// Requests sent so far.
    pub tries: u32,
}

impl Gap {
    /// The wait after the latest request.
    pub fn backoff(&self, config: &ReceiverConfig) -> Duration {
        (config.nack_retry * 2u32.saturating_pow(self.tries.saturating_sub(1).min(16))).min(config.nack_retry_max)
    }
}

/// A sender's gaps, keyed by their first sequence; ranges never overlap.
#[derive(Debug, Default)]
pub struct Gaps {
    map: BTreeMap<u64, Gap>,
}

impl Gaps {
    /// How many ranges.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The ranges in order, as `(start, gap)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Gap)> {
        self.map.iter().map(|(s, g)| (*s, g))
    }

    /// Opens `start..end` (above every gap held). Returns false when it was merged into
    /// the last gap because the sender has [`MAX_GAPS_PER_SENDER`] already.
    pub fn open(&mut self, start: u64, end: u64, now: Instant, first_nack: Instant) -> bool {
        work::charge(1);
        if start >= end {
            return true;
        }
        if self.map.len() >= MAX_GAPS_PER_SENDER {
            if let Some(mut last) = self.map.last_entry() {
                let gap = last.get_mut();
                gap.end = gap.end.max(end);
                gap.next_at = gap.next_at.min(first_nack);
                return false;
            }
        }
        self.map.insert(start, Gap { end, noticed: now, next_at: first_nack, tries: 0 });
        true
    }

    /// Opens the one-sequence gap `seq` anywhere (it must be in no gap), first asked for at
    /// `first_nack`; false, and nothing opened, when the sender has [`MAX_GAPS_PER_SENDER`].
    pub fn insert_one(&mut self, seq: u64, now: Instant, first_nack: Instant) -> bool {
        work::charge(1);
        if self.map.len() >= MAX_GAPS_PER_SENDER || seq == u64::MAX {
            return false;
        }
        debug_assert!(self.find(seq).is_none(), "{seq} is in a gap already");
        self.map.insert(seq, Gap { end: seq + 1, noticed: now, next_at: first_nack, tries: 0 });
        true
    }

    /// The gap holding `seq`, as `(start, gap)`.
    pub fn find(&self, seq: u64) -> Option<(u64, &Gap)> {
        work::charge(1);
        self.map.range(..=seq).next_back().filter(|(_, g)| g.end > seq).map(|(s, g)| (*s, g))
    }

    /// `seq` arrived: trims it off its gap when it sits at an end. Returns whether it was
    /// in a gap (it was missing, so this is a recovery).
    pub fn arrived(&mut self, seq: u64) -> bool {
        let Some((start, gap)) = self.find(seq).map(|(s, g)| (s, *g)) else { return false };
        if seq == start {
            self.map.remove(&start);
            if seq + 1 < gap.end {
                self.map.insert(seq + 1, gap);
            }
        } else if seq + 1 == gap.end {
            if let Some(g) = self.map.get_mut(&start) {
                g.end = seq;
            }
        }
        true
    }

    /// Makes `seq` a gap of its own (splitting its range) so that its timing can differ, and
    /// returns it; when the split would pass [`MAX_GAPS_PER_SENDER`], returns the whole range
    /// holding `seq` instead. `None` when `seq` is in no gap.
    pub fn isolate(&mut self, seq: u64) -> Option<&mut Gap> {
        let (start, gap) = self.find(seq).map(|(s, g)| (s, *g))?;
        let pieces = usize::from(start < seq) + usize::from(seq + 1 < gap.end);
        if pieces == 0 || self.map.len() + pieces > MAX_GAPS_PER_SENDER {
            return self.map.get_mut(&start);
        }
        self.map.remove(&start);
        if start < seq {
            self.map.insert(start, Gap { end: seq, ..gap });
        }
        if seq + 1 < gap.end {
            self.map.insert(seq + 1, gap);
        }
        self.map.insert(seq, Gap { end: seq + 1, ..gap });
        self.map.get_mut(&seq)
    }

    /// Splits the gap starting at `start` at `at` (`start < at < end`): the lower part gets
    /// `lower`, the upper part keeps the gap's state. Does nothing when the sender has no
    /// room for another gap (the caller then treats the whole gap as `lower`).
    pub fn split_at(&mut self, start: u64, at: u64, lower: Gap) -> bool {
        if self.map.len() >= MAX_GAPS_PER_SENDER {
            return false;
        }
        let Some(gap) = self.map.get(&start).copied().filter(|g| start < at && at < g.end) else { return false };
        self.map.insert(start, Gap { end: at, ..lower });
        self.map.insert(at, gap);
        true
    }

    /// Puts `gap` at `start`, replacing what starts there (the caller keeps ranges apart).
    pub fn put(&mut self, start: u64, gap: Gap) {
        self.map.insert(start, gap);
    }

    /// Removes and returns every range, or part of a range, below `floor`.
    pub fn take_below(&mut self, floor: u64) -> Vec<(u64, u64)> {
        let mut kept = self.map.split_off(&floor);
        let below = std::mem::take(&mut self.map);
        let mut out = Vec::with_capacity(below.len());
        for (start, gap) in below {
            work::charge(1);
            if gap.end > floor {
                out.push((start, floor));
                kept.insert(floor, gap);
            } else {
                out.push((start, gap.end));
            }
        }
        self.map = kept;
        out
    }

    /// Removes the gap starting at `start`.
    pub fn remove(&mut self, start: u64) -> Option<Gap> {
        self.map.remove(&start)
    }

    /// The earliest time any gap is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.map.values().map(|g| g.next_at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn open_find_arrive_and_take() {
        let now = t0();
        let mut g = Gaps::default();
        g.open(10, 20, now, now);
        assert!(g.find(9).is_none() && g.find(20).is_none());
        assert_eq!(g.find(15).map(|(s, _)| s), Some(10));
        assert!(g.arrived(10) && g.arrived(19) && g.arrived(15));
        let ranges: Vec<(u64, u64)> = g.iter().map(|(s, x)| (s, x.end)).collect();
        assert_eq!(ranges, [(11, 19)], "middle arrivals leave the range whole");
        assert!(g.isolate(13).is_some());
        let ranges: Vec<(u64, u64)> = g.iter().map(|(s, x)| (s, x.end)).collect();
        assert_eq!(ranges, [(11, 13), (13, 14), (14, 19)]);
        assert_eq!(g.take_below(12), [(11, 12)]);
        assert_eq!(g.iter().next().map(|(s, _)| s), Some(12));
        assert_eq!(g.take_below(100).len(), 3);
        assert_eq!(g.len(), 0);
    }

    #[test]
    fn a_gap_of_any_length_is_one_entry_and_the_count_is_bounded() {
        let now = t0();
        let mut g = Gaps::default();
        assert!(g.open(0, 1 << 62, now, now));
        for i in 0..(2 * MAX_GAPS_PER_SENDER as u64) {
            g.open((1 << 62) + 2 * i, (1 << 62) + 2 * i + 1, now, now);
        }
        assert_eq!(g.len(), MAX_GAPS_PER_SENDER);
        // splits past the bound hand back the whole range instead
        assert_eq!(g.isolate(5).map(|x| x.end), Some(1 << 62));
        assert_eq!(g.len(), MAX_GAPS_PER_SENDER);
    }
}
