//! Per-sender record of delivered sequence numbers, to drop duplicates (`docs/PROTOCOL.md`,
//! "Duplicates").

/// How many sequences below the highest one the window remembers.
pub const WINDOW: u64 = 65_536;
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
/// use eventcast::proto::window::{SeqWindow, SeqStatus};
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
        match self.highest {
            None => self.highest = Some(seq),
            Some(h) if seq > h => {
                if seq - h >= WINDOW {
                    self.bits = [0; WORDS];
                } else {
                    for s in h + 1..seq {
                        self.clear(s);
                    }
                }
                self.highest = Some(seq);
            }
            Some(h) if h - seq >= WINDOW => return,
            Some(_) => {}
        }
        let (w, b) = Self::slot(seq);
        self.bits[w] |= 1 << b;
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

    fn clear(&mut self, seq: u64) {
        let (w, b) = Self::slot(seq);
        self.bits[w] &= !(1 << b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
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
