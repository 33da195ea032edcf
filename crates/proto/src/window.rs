//! Per-sender record of delivered sequence numbers, to drop duplicates (`docs/PROTOCOL.md`,
//! "Duplicates").

/// How many sequences below the highest one the window remembers.
pub const WINDOW: u64 = 65_536;
use super::work;

const WORDS: usize = (WINDOW / 64) as usize;

/// What the window knows of a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqStatus {
    /// Not delivered yet.
    Fresh,
    /// Already delivered.
    Duplicate,
    /// Too far below the highest sequence to tell; treated as a duplicate.
    TooOld,
}

/// A sliding bitmap of the last [`WINDOW`] sequence numbers.
///
/// ```
/// use eventcast_proto::window::{SeqWindow, SeqStatus};
/// let mut w = SeqWindow::default();
/// assert_eq!(w.status(3), SeqStatus::Fresh);
/// w.mark(3);
/// assert_eq!(w.status(3), SeqStatus::Duplicate);
/// w.mark(100_000);
/// assert_eq!(w.status(3), SeqStatus::TooOld);
/// ```
#[derive(Debug, Clone)]
pub struct SeqWindow {
    highest: Option<u64>,
    bits: [u64; WORDS],
}

impl Default for SeqWindow {
    fn default() -> Self {
        SeqWindow { highest: None, bits: [0; WORDS] }
    }
}

impl SeqWindow {
    /// Whether `seq` was delivered.
    pub fn status(&self, seq: u64) -> SeqStatus {
        let Some(highest) = self.highest else {
            return SeqStatus::Fresh;
        };
        if seq > highest {
            SeqStatus::Fresh
        } else if highest - seq >= WINDOW {
            SeqStatus::TooOld
        } else if self.bit(seq) {
            SeqStatus::Duplicate
        } else {
            SeqStatus::Fresh
        }
    }

    /// Records `seq` as delivered. Marking a sequence older than the window does nothing.
    pub fn mark(&mut self, seq: u64) {
        self.mark_range(seq, seq.saturating_add(1));
    }

    /// Records every sequence in `first..end` as delivered (or given up on). Costs one step
    /// per 64 sequences, however far the range or the move of the highest reaches.
    pub fn mark_range(&mut self, first: u64, end: u64) {
        if first >= end {
            return;
        }
        let last = end - 1;
        match self.highest {
            Some(h) if last > h => {
                if last - h >= WINDOW {
                    self.bits = [0; WORDS];
                } else {
                    self.set_bits(h + 1, last + 1, false);
                }
                self.highest = Some(last);
            }
            None => self.highest = Some(last),
            Some(_) => {}
        }
        let floor = self.floor();
        if last < floor {
            return;
        }
        self.set_bits(first.max(floor), end, true);
    }

    /// The first sequence at or after `from` that is not delivered (sequences below the
    /// window count as delivered). Costs one step per 64 sequences.
    pub fn first_fresh_from(&self, from: u64) -> u64 {
        let Some(highest) = self.highest else { return from };
        let mut seq = from.max(self.floor());
        while seq <= highest {
            work::charge(1);
            let (w, b) = Self::slot(seq);
            let free = !self.bits[w] >> b; // bit i: seq + i is fresh
            let span = (64 - b as u64).min(highest - seq + 1);
            let hit = u64::from(free.trailing_zeros());
            if hit < span {
                return seq + hit;
            }
            seq += span;
        }
        from.max(highest + 1)
    }

    /// The first sequence at or after `from`, and below `end`, that is delivered; `end` when
    /// there is none. Costs one step per 64 sequences.
    pub fn first_done_from(&self, from: u64, end: u64) -> u64 {
        let Some(highest) = self.highest else { return end };
        if from < self.floor() {
            return from.min(end);
        }
        let stop = end.min(highest.saturating_add(1));
        let mut seq = from;
        while seq < stop {
            work::charge(1);
            let (w, b) = Self::slot(seq);
            let set = self.bits[w] >> b;
            let span = (64 - b as u64).min(stop - seq);
            let hit = u64::from(set.trailing_zeros());
            if hit < span {
                return seq + hit;
            }
            seq += span;
        }
        end
    }

    /// The runs of sequences in `first..end` that are not delivered, as `(first, last)`.
    pub fn fresh_runs(&self, first: u64, end: u64) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        let mut seq = first;
        while seq < end {
            let start = self.first_fresh_from(seq);
            if start >= end {
                break;
            }
            let stop = self.first_done_from(start, end);
            runs.push((start, stop - 1));
            seq = stop;
        }
        runs
    }

    /// Lowest sequence the window still knows about.
    fn floor(&self) -> u64 {
        self.highest.map_or(0, |h| h.saturating_sub(WINDOW - 1))
    }

    fn set_bits(&mut self, first: u64, end: u64, value: bool) {
        let mut seq = first;
        while seq < end {
            work::charge(1);
            let (w, b) = Self::slot(seq);
            let n = (64 - u64::from(b)).min(end - seq);
            let mask = if n == 64 { u64::MAX } else { ((1u64 << n) - 1) << b };
            if value {
                self.bits[w] |= mask;
            } else {
                self.bits[w] &= !mask;
            }
            seq += n;
        }
    }

    /// The highest sequence marked.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    fn slot(seq: u64) -> (usize, u32) {
        let i = seq % WINDOW;
        ((i / 64) as usize, (i % 64) as u32)
    }

    fn bit(&self, seq: u64) -> bool {
        let (w, b) = Self::slot(seq);
        self.bits[w] & (1 << b) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Range operations agree with a set model.
        #[test]
        fn ranges_match_a_set_model(ops in proptest::collection::vec((0u64..200_000, 0u64..300), 1..100),
                                    probes in proptest::collection::vec(0u64..200_400, 1..20)) {
            let mut w = SeqWindow::default();
            let mut model = BTreeSet::new();
            for (first, len) in ops {
                w.mark_range(first, first + len);
                model.extend(first..first + len);
            }
            let highest = model.iter().next_back().copied();
            let done = |s: u64| match highest {
                None => false,
                Some(h) => s <= h && (h - s >= WINDOW || model.contains(&s)),
            };
            for p in probes {
                let fresh = (p..).find(|s| !done(*s)).unwrap();
                prop_assert_eq!(w.first_fresh_from(p), fresh);
                let end = p + 500;
                let first_done = (p..end).find(|s| done(*s)).unwrap_or(end);
                prop_assert_eq!(w.first_done_from(p, end), first_done);
                let runs = w.fresh_runs(p, end);
                let flat: Vec<u64> = runs.iter().flat_map(|&(a, b)| a..=b).collect();
                let want: Vec<u64> = (p..end).filter(|s| !done(*s)).collect();
                prop_assert_eq!(flat, want);
            }
        }

        /// The window agrees with a set of every marked sequence, within its reach.
        #[test]
        fn matches_a_set_model(ops in proptest::collection::vec(0u64..300_000, 1..400)) {
            let mut w = SeqWindow::default();
            let mut model = BTreeSet::new();
            for seq in ops {
                let highest = model.iter().next_back().copied();
                let expected = match highest {
                    Some(h) if seq <= h && h - seq >= WINDOW => SeqStatus::TooOld,
                    _ if model.contains(&seq) => SeqStatus::Duplicate,
                    _ => SeqStatus::Fresh,
                };
                prop_assert_eq!(w.status(seq), expected);
                w.mark(seq);
                model.insert(seq);
            }
        }
    }
}
