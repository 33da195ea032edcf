//! The receiving half's repair requests: when to ask, how much, and when to hold back.
//!
//! Requests are budgeted per entry they list (a missing event, or one range of missing
//! fragments): across all senders ([`NACK_ENTRIES_PER_SEC`]) and per sender
//! ([`NACK_ENTRIES_PER_SENDER_PER_SEC`], a sixteenth of it for senders that have not
//! delivered an event yet), served first to the senders that delivered most; an event lists
//! at most [`MAX_RANGES_PER_EVENT`] fragment ranges per request. A pass visits only gaps that
//! are due and stops when the budget is spent, so its work is bounded by what it sends.

use std::time::{Duration, Instant};

use rand::RngExt;

use super::gaps::Gap;
use super::{Incoming, NACK_ENTRIES_PER_SEC, NACK_ENTRIES_PER_SENDER_PER_SEC, NACK_GRANULARITY};
use crate::seq::Seq;
use crate::stats::ProtocolStats;
use crate::window::SeqStatus;
use crate::wire::{NACK_WHOLE, NackEntry};
use crate::work;

/// Fragment ranges of one event listed in one request at most (about one 1024-byte NACK
/// datagram); the rest are asked for once these arrive.
pub const MAX_RANGES_PER_EVENT: usize = 62;

fn refill(budget: &mut f64, at: &mut Option<Instant>, now: Instant, rate: f64) {
    let elapsed = at.map_or(rate, |t| now.saturating_duration_since(t).as_secs_f64() * rate);
    *budget = (*budget + elapsed).min(rate);
    *at = Some(now);
}

impl Incoming {
    /// How long a new gap waits before its first NACK: at least [`NACK_GRANULARITY`], then a
    /// backoff within the rest of `nack_delay_max` drawn as the group's size says (see
    /// `group.rs`), so that an overheard NACK can spare the others.
    pub(super) fn random_nack_delay(&mut self) -> Duration {
        NACK_GRANULARITY + self.random_backoff()
    }

    /// A random wait within `nack_delay_max` less [`NACK_GRANULARITY`], later the larger the
    /// group (see `group.rs`). Every (re)scheduled request adds one, so that receivers
    /// that lost the same repair do not all ask again at the same moment.
    fn random_backoff(&mut self) -> Duration {
        let window = self.config.nack_delay_max.saturating_sub(NACK_GRANULARITY);
        let x: f64 = self.rng.random();
        self.group.backoff(window, x)
    }

    /// Another receiver asked `target` for these: hold back our own request for them. Each
    /// entry costs O(log n).
    pub fn handle_foreign_nack(
        &mut self,
        now: Instant,
        target: u64,
        entries: impl Iterator<Item = NackEntry>,
        stats: &mut ProtocolStats,
    ) {
        let later = now + self.config.nack_retry + self.random_backoff();
        let Some(peer) = self.peers.get_mut(&target) else {
            return;
        };
        for e in entries {
            work::charge(1);
            let seq = e.seq.get();
            if peer.gaps.find(seq).is_none() || peer.done.status(seq) != SeqStatus::Fresh {
                continue;
            }
            // Only a request that asks for everything we lack of that event spares ours.
            let covered = e.end == NACK_WHOLE || self.reassembly.lacks_only_within(target, seq, e.first, e.end);
            if !covered {
                continue;
            }
            if let Some(g) = peer.gaps.isolate(seq).filter(|g| g.end == seq + 1) {
                if g.next_at < later {
                    g.next_at = later;
                    stats.nacks_suppressed += 1;
                }
            }
        }
    }

    /// NACKs that are due, by sender; gaps asked for too long are reported lost.
    pub fn due_nacks(&mut self, now: Instant, stats: &mut ProtocolStats) -> Vec<(u64, Vec<NackEntry>)> {
        if self.nack_due.is_none_or(|d| d > now) {
            return Vec::new();
        }
        refill(&mut self.nack_budget, &mut self.nack_budget_at, now, NACK_ENTRIES_PER_SEC);
        // Senders that gave us the most events are served first, so a flood of minted or
        // forged senders cannot spend the budget that real senders' repairs need.
        let mut order: Vec<(u64, u64)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.nack_at.is_some_and(|t| t <= now))
            .map(|(id, p)| (p.stats.events, *id))
            .collect();
        order.sort_unstable_by(|a, b| b.cmp(a));
        let mut out = Vec::new();
        let mut give_up = Vec::new();
        let mut exhausted = false;
        work::charge(order.len() as u64);
        for (_, sender) in order {
            if self.nack_budget < 1.0 {
                exhausted = true;
                stats.nacks_rate_limited += 1;
                break;
            }
            let (entries, spent_all) = self.nacks_for(now, sender, &mut give_up, stats);
            exhausted |= spent_all;
            if !entries.is_empty() {
                if let Some(p) = self.peers.get_mut(&sender) {
                    p.stats.nacks_sent += 1;
                }
                out.push((sender, entries));
            }
        }
        for (sender, first, end) in give_up {
            self.declare_lost(sender, first, end, stats);
        }
        let mut next = self.peers.values().filter_map(|p| p.nack_at).min();
        if exhausted {
            let again = now + NACK_GRANULARITY;
            next = Some(next.map_or(again, |d| d.max(again)));
        }
        self.nack_due = next;
        out
    }

    /// The entries due for `sender` within the budgets; gaps to give up go to `give_up`.
    /// Returns whether a budget ran out.
    fn nacks_for(
        &mut self,
        now: Instant,
        sender: u64,
        give_up: &mut Vec<(u64, u64, u64)>,
        stats: &mut ProtocolStats,
    ) -> (Vec<NackEntry>, bool) {
        let jitter = self.random_backoff();
        let Some(peer) = self.peers.get_mut(&sender) else { return (Vec::new(), false) };
        let rate = match peer.stats.events {
            0 => NACK_ENTRIES_PER_SENDER_PER_SEC / 16.0,
            _ => NACK_ENTRIES_PER_SENDER_PER_SEC,
        };
        refill(&mut peer.nack_budget, &mut peer.nack_budget_at, now, rate);
        let due: Vec<(u64, Gap)> = peer.gaps.iter().filter(|(_, g)| g.next_at <= now).map(|(s, g)| (s, *g)).collect();
        let mut entries = Vec::new();
        let mut spent = false;
        for (start, gap) in due {
            work::charge(1);
            if now.saturating_duration_since(gap.noticed) >= self.config.nack_give_up {
                peer.gaps.remove(start);
                give_up.push((sender, start, gap.end));
                continue;
            }
            if start < peer.oldest_available {
                // the sender can no longer repair these (a heartbeat usually says so first);
                // the rest of the gap, if any, is asked for in the next pass
                let end = gap.end.min(peer.oldest_available);
                peer.gaps.remove(start);
                if end < gap.end {
                    peer.gaps.put(end, gap);
                }
                give_up.push((sender, start, end));
                continue;
            }
            let mut seq = start;
            let mut listed = false;
            loop {
                seq = peer.done.first_fresh_from(seq);
                if seq >= gap.end {
                    break;
                }
                if self.nack_budget < 1.0 || peer.nack_budget < 1.0 {
                    spent = true;
                    stats.nacks_rate_limited += 1;
                    break;
                }
                let before = entries.len();
                let wire_seq = Seq::new(seq).unwrap_or(Seq::MAX);
                match self.reassembly.missing_fragments(sender, seq, MAX_RANGES_PER_EVENT) {
                    Some(ranges) => {
                        entries.extend(ranges.into_iter().map(|(first, end)| NackEntry { seq: wire_seq, first, end }))
                    }
                    None => entries.push(NackEntry { seq: wire_seq, first: 0, end: NACK_WHOLE }),
                }
                let cost = (entries.len() - before).max(1) as f64;
                work::charge(cost as u64);
                self.nack_budget -= cost;
                peer.nack_budget -= cost;
                listed = true;
                seq += 1;
            }
            let tries = gap.tries.saturating_add(1);
            let asked = Gap { tries, next_at: now + Gap { tries, ..gap }.backoff(&self.config) + jitter, ..gap };
            if seq >= gap.end && !listed {
                peer.gaps.remove(start); // everything in it arrived meanwhile
            } else if seq >= gap.end || (listed && !peer.gaps.split_at(start, seq, asked)) {
                // asked for all of it (or no room to split: the rest waits one backoff too)
                peer.gaps.put(start, asked);
            }
            if spent {
                break;
            }
        }
        peer.nack_at = peer.gaps.next_due();
        (entries, spent)
    }
}
