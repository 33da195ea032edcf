//! Refusal of replayed sealed datagrams: each sender's nonces only ever move forward
//! (`crypto::NonceSequence`), so a nonce seen before from the same sender is a replay.

use std::collections::{HashMap, VecDeque};

use super::window::{SeqStatus, SeqWindow, WINDOW};

/// How far before the first nonce heard from a sender a reordered datagram may be.
const REORDER_ALLOWANCE: u128 = WINDOW as u128 / 2;
const NONCE_MASK: u128 = (1 << 96) - 1;

/// Per-sender windows over the nonces accepted, bounded to `max_senders` senders (the one
/// first heard longest ago is forgotten first).
///
/// ```
/// use eventcast_proto::replay::ReplayGuard;
/// let mut guard = ReplayGuard::new(16);
/// assert!(guard.accept(7, 1000));
/// assert!(guard.accept(7, 1001));
/// assert!(!guard.accept(7, 1000), "seen before");
/// ```
#[derive(Debug)]
pub struct ReplayGuard {
    senders: HashMap<u64, (u128, SeqWindow)>,
    order: VecDeque<u64>,
    max_senders: usize,
}

impl ReplayGuard {
    /// A guard remembering at most `max_senders` senders.
    pub fn new(max_senders: usize) -> Self {
        ReplayGuard { senders: HashMap::new(), order: VecDeque::new(), max_senders: max_senders.max(1) }
    }

    /// Whether `nonce` from `sender` is new; records it if so.
    pub fn accept(&mut self, sender: u64, nonce: u128) -> bool {
        if !self.senders.contains_key(&sender) {
            while self.senders.len() >= self.max_senders {
                let Some(old) = self.order.pop_front() else { break };
                self.senders.remove(&old);
            }
            let origin = nonce.wrapping_sub(REORDER_ALLOWANCE) & NONCE_MASK;
            self.senders.insert(sender, (origin, SeqWindow::default()));
            self.order.push_back(sender);
        }
        let Some((origin, window)) = self.senders.get_mut(&sender) else { return false };
        let offset = nonce.wrapping_sub(*origin) & NONCE_MASK;
        let Ok(offset) = u64::try_from(offset) else { return false };
        if window.status(offset) != SeqStatus::Fresh {
            return false;
        }
        window.mark(offset);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn reordering_within_the_allowance_is_fine_and_senders_are_bounded() {
        let mut g = ReplayGuard::new(2);
        assert!(g.accept(1, 5_000));
        assert!(g.accept(1, 4_000), "a little older than the first: reordered, not replayed");
        assert!(!g.accept(1, 4_000));
        assert!(g.accept(2, 0));
        assert!(g.accept(3, 0));
        assert_eq!(g.senders.len(), 2, "sender 1 forgotten");
    }

    proptest! {
        /// Against a set model: every nonce is accepted once at most, and a nonce within the
        /// window of the newest one is accepted exactly when it was not seen.
        #[test]
        fn never_accepts_twice(nonces in proptest::collection::vec(0u128..200_000, 1..300)) {
            let mut g = ReplayGuard::new(4);
            let mut seen = HashSet::new();
            for n in nonces {
                let base = 1u128 << 80;
                let accepted = g.accept(9, base + n);
                if accepted {
                    prop_assert!(seen.insert(n), "accepted {} twice", n);
                }
            }
        }
    }
}
