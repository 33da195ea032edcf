//! The receiving half's repair requests: when to ask, how much, and when to hold back.

use std::time::{Duration, Instant};

use rand::RngExt;

use super::{Incoming, NACK_ENTRIES_PER_SEC, NACK_GRANULARITY};
use crate::proto::stats::Stats;
use crate::proto::wire::{NACK_WHOLE, NackEntry};

impl Incoming {
    pub(super) fn random_nack_delay(&mut self) -> Duration {
        let max = self.config.nack_delay_max.as_micros() as u64;
        let delay = Duration::from_micros(if max == 0 { 0 } else { self.rng.random_range(0..=max) });
        delay.max(NACK_GRANULARITY)
    }

    /// Another receiver asked `target` for these: hold back our own request for them.
    pub fn handle_foreign_nack(
        &mut self,
        now: Instant,
        target: u64,
        entries: impl Iterator<Item = NackEntry>,
        stats: &mut Stats,
    ) {
        let Some(peer) = self.peers.get_mut(&target) else {
            return;
        };
        let later = now + self.config.nack_retry;
        for e in entries {
            // Only a request that asks for everything we lack of that event spares ours.
            let covered = match self.reassembly.missing_fragments(target, e.seq) {
                _ if e.end == NACK_WHOLE => true,
                Some(ours) => ours.iter().all(|&(first, end)| first >= e.first && end <= e.end),
                None => false,
            };
            if !covered {
                continue;
            }
            if let Some(m) = peer.missing.get_mut(&e.seq) {
                if m.next_at < later {
                    m.next_at = later;
                    stats.nacks_suppressed += 1;
                }
            }
        }
    }

    /// NACKs that are due, by sender; missing events asked for too often are reported lost.
    pub fn due_nacks(&mut self, now: Instant, stats: &mut Stats) -> Vec<(u64, Vec<NackEntry>)> {
        if self.nack_due.is_none_or(|d| d > now) {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut give_up = Vec::new();
        let mut next_due: Option<Instant> = None;
        let elapsed = self.nack_budget_at.map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64());
        self.nack_budget = (self.nack_budget + elapsed * NACK_ENTRIES_PER_SEC).min(NACK_ENTRIES_PER_SEC);
        self.nack_budget_at = Some(now);
        // Senders that gave us the most events are served first, so a flood of minted or
        // forged senders cannot spend the budget that real senders' repairs need.
        let mut order: Vec<(u64, u64)> =
            self.peers.iter().filter(|(_, p)| !p.missing.is_empty()).map(|(id, p)| (p.stats.events, *id)).collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        let mut exhausted = false;
        'peers: for (_, sender) in order {
            let Some(peer) = self.peers.get_mut(&sender) else { continue };
            let mut entries = Vec::new();
            for (&seq, m) in peer.missing.iter_mut() {
                if m.next_at > now {
                    next_due = Some(next_due.map_or(m.next_at, |d| d.min(m.next_at)));
                    continue;
                }
                if self.nack_budget < 1.0 {
                    // over the request budget: the rest waits for the next pass
                    stats.nacks_rate_limited += 1;
                    exhausted = true;
                    if !entries.is_empty() {
                        peer.stats.nacks_sent += 1;
                        out.push((sender, std::mem::take(&mut entries)));
                    }
                    break 'peers;
                }
                self.nack_budget -= 1.0;
                if now.saturating_duration_since(m.noticed) >= self.config.nack_give_up || seq < peer.oldest_available {
                    give_up.push((sender, seq));
                    continue;
                }
                m.tries += 1;
                m.next_at = now + m.backoff(&self.config);
                next_due = Some(next_due.map_or(m.next_at, |d| d.min(m.next_at)));
                match self.reassembly.missing_fragments(sender, seq) {
                    Some(ranges) => {
                        entries.extend(ranges.into_iter().map(|(first, end)| NackEntry { seq, first, end }))
                    }
                    None => entries.push(NackEntry { seq, first: 0, end: NACK_WHOLE }),
                }
            }
            if !entries.is_empty() {
                peer.stats.nacks_sent += 1;
                out.push((sender, entries));
            }
        }
        if exhausted {
            let again = now + NACK_GRANULARITY;
            next_due = Some(next_due.map_or(again, |d| d.min(again)));
        }
        self.nack_due = next_due;
        for (sender, seq) in give_up {
            self.declare_lost(sender, seq, stats);
        }
        out
    }
}
