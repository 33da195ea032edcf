//! The receiving half's per-sender order: what was sent (`known_end`), what is missing (gaps,
//! as ranges), what is held for order, and what is given up on.
//!
//! Invariant: every sequence in `next_expected..known_end` is done (delivered, held or given
//! up, in the sender's window) or inside a gap. Every step here costs O(log n) or one step per
//! 64 sequences of the window, never one step per sequence a frame names.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use super::{Incoming, MAX_JUMP};
use crate::payload::PayloadView;
use crate::stats::ProtocolStats;
use crate::window::WINDOW;
use crate::wire;
use crate::work;

use super::types::{Delivery, Loss};

/// Memory a queued event of `len` payload bytes takes: the payload and its entry.
pub(super) fn queued_bytes(len: usize) -> usize {
    len + std::mem::size_of::<Delivery>()
}

impl Incoming {
    /// Everything below `end` was sent: what is not done there is missing from now on, and
    /// what falls more than [`WINDOW`] behind `end` is given up on.
    pub(super) fn sent_up_to(&mut self, now: Instant, sender: u64, end: u64, stats: &mut ProtocolStats) {
        let floor = end.saturating_sub(WINDOW - 1);
        if let Some(peer) = self.peers.get_mut(&sender).filter(|p| !p.proven) {
            // nothing was ever expected of it: move along without reports
            peer.next_expected = peer.next_expected.max(floor);
            peer.known_end = peer.known_end.max(end);
            return;
        }
        let first_nack = now + self.random_nack_delay();
        self.skip_below(sender, floor, stats);
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        if end <= peer.known_end {
            return;
        }
        let from = peer.known_end.max(peer.next_expected);
        peer.known_end = end;
        // Until a sender has proven itself, its gaps are not tracked or asked for: anyone can
        // mint sender ids, and a flood of them must cost no memory and draw no NACKs. The
        // gaps are opened when it proves itself.
        if peer.proven {
            self.open_gap(now, sender, from, end, first_nack, stats);
        }
    }

    /// Opens the gap `from..end` of `sender` (what is not done there), first asked for at
    /// `first_nack`. One entry, whatever its length.
    pub(super) fn open_gap(
        &mut self,
        now: Instant,
        sender: u64,
        from: u64,
        end: u64,
        first_nack: Instant,
        stats: &mut ProtocolStats,
    ) {
        let Some(peer) = self.peers.get_mut(&sender) else { return };
        let from = from.max(peer.next_expected);
        if from >= end {
            return;
        }
        let fresh: u64 = peer.done.fresh_runs(from, end).iter().map(|&(a, b)| b - a + 1).sum();
        if fresh == 0 {
            return;
        }
        stats.gaps_detected += fresh;
        // a request to this sender already scheduled takes the new gap along (one NACK for
        // both) rather than sending another of its own
        let first_nack = match peer.nack_at {
            Some(pending) if pending > now => pending.min(first_nack).max(now + super::NACK_GRANULARITY),
            _ => first_nack,
        };
        peer.gaps.open(from, end, now, first_nack);
        super::no_later_than(&mut peer.nack_at, first_nack);
        super::no_later_than(&mut self.nack_due, first_nack);
    }

    /// Moves `next_expected` up to `floor`: held events below it are delivered, and every
    /// other sequence below it that is not done is reported lost.
    pub(super) fn skip_below(&mut self, sender: u64, floor: u64, stats: &mut ProtocolStats) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        if peer.next_expected >= floor {
            return;
        }
        let first = peer.next_expected;
        let kept = peer.held.split_off(&floor);
        let below = std::mem::replace(&mut peer.held, kept);
        peer.gaps.take_below(floor);
        let lost = peer.done.fresh_runs(first, floor);
        peer.done.mark_range(first, floor);
        peer.next_expected = floor;
        peer.known_end = peer.known_end.max(floor);
        let released: usize = below.values().map(|d| d.payload.len()).sum();
        peer.held_bytes -= released;
        self.held_total -= released;
        for d in below.into_values() {
            self.push_delivery(d, stats);
        }
        for (a, b) in lost {
            self.report_lost(sender, a, b, stats);
        }
        self.advance(sender, stats);
    }

    /// A reliable event is whole: deliver it, or hold it until the events before it are in.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn complete(
        &mut self,
        now: Instant,
        sender: u64,
        from: SocketAddr,
        seq: u64,
        flags: u8,
        payload: Vec<u8>,
        stats: &mut ProtocolStats,
    ) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let view = match PayloadView::parse(&payload) {
            Ok(view) => view,
            // Corrupt or forged: not done, so it is asked for again like a lost one (and
            // reported lost if no good copy comes).
            Err(e) => return stats.dropped.count_payload_error(&e),
        };
        let deliver_now = flags & wire::FRAME_UNORDERED != 0 || seq == peer.next_expected;
        let room = match deliver_now {
            true => !self.delivery_full(payload.len(), true),
            // held for order: within the sender's held bound, or put off like a full
            // queue's (the bound of all senders together gives up on the biggest holder's
            // oldest gap instead, see `enforce_bounds`, so that one sender cannot make
            // every other sender's events be put off)
            false => peer.held_bytes + payload.len() <= self.config.max_held_bytes,
        };
        if !room {
            return self.defer(now, sender, seq, stats);
        }
        let Some(peer) = self.peers.get_mut(&sender) else { return };
        peer.done.mark(seq);
        if peer.gaps.arrived(seq) {
            stats.gaps_recovered += 1;
            peer.stats.gaps_recovered += 1;
        }
        self.prove(now, sender, stats);
        let Some(peer) = self.peers.get_mut(&sender) else { return };
        let delivery = Delivery { sender, from, seq, payload: Bytes::from(payload), view, reliable: true };
        if deliver_now {
            self.push_delivery(delivery, stats);
        } else {
            peer.held_bytes += delivery.payload.len();
            self.held_total += delivery.payload.len();
            peer.held.insert(seq, delivery);
        }
        self.advance(sender, stats);
    }

    /// Moves `next_expected` over done sequences, delivering held events in order.
    pub(super) fn advance(&mut self, sender: u64, stats: &mut ProtocolStats) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let next = peer.done.first_fresh_from(peer.next_expected);
        if next > peer.next_expected {
            let kept = peer.held.split_off(&next);
            let ready = std::mem::replace(&mut peer.held, kept);
            let released: usize = ready.values().map(|d| d.payload.len()).sum();
            peer.held_bytes -= released;
            self.held_total -= released;
            peer.next_expected = next;
            peer.gaps.take_below(next); // all done: nothing to report
            for d in ready.into_values() {
                work::charge(1);
                self.push_delivery(d, stats);
            }
        }
        self.note_progress(sender);
    }

    /// Queues a complete event for the application. A best-effort event that finds the
    /// queue at its bound (events or bytes) is dropped and counted. Reliable events do not
    /// get here then (see `defer`), except those held for order, which were counted against
    /// the held bound while held: they may take the queue past its bound by that much.
    pub(super) fn push_delivery(&mut self, d: Delivery, stats: &mut ProtocolStats) {
        let len = d.payload.len();
        if !d.reliable && self.delivery_full(len, false) {
            stats.dropped.delivery_queue_full += 1;
            return;
        }
        if let Some(peer) = self.peers.get_mut(&d.sender) {
            peer.stats.events += 1;
            peer.bytes_since_status += len;
            peer.in_app += u64::from(d.reliable && self.config.confirm_taken);
        }
        stats.events_in += 1;
        self.delivery_bytes += queued_bytes(len);
        self.deliveries.push_back(d);
    }

    /// Whether the delivery queue has no room for an event of `len` bytes. Best-effort
    /// events may fill half the queue only, so that a flood of them that the application
    /// cannot keep up with never takes the room of reliable events.
    fn delivery_full(&self, len: usize, reliable: bool) -> bool {
        let share = if reliable { 1 } else { 2 };
        self.deliveries.len() >= self.config.max_delivery_queue / share
            || (self.delivery_bytes + queued_bytes(len) > self.config.max_delivery_queue_bytes / share
                && !self.deliveries.is_empty())
    }

    /// A whole reliable event found no room: the delivery queue is full (the application is
    /// behind, with more senders in flight than the queue holds), or it would be held for
    /// order beyond the held bounds (large events after a missing one). It is not taken but
    /// left missing, asked for again after `nack_retry` (backing off as any gap), and only
    /// reported lost if that lasts `nack_give_up`. Its sender, held to its flow window by
    /// this receiver's progress, keeps it for repair meanwhile.
    fn defer(&mut self, now: Instant, sender: u64, seq: u64, stats: &mut ProtocolStats) {
        let Some(peer) = self.peers.get_mut(&sender) else { return };
        if !peer.proven {
            return; // dropped as the network might have: no gaps, NACKs or reports for it
        }
        stats.delivery_deferred += 1;
        // everything below known_end is done or in a gap; gaps open only above it
        peer.known_end = peer.known_end.max(seq.saturating_add(1));
        if peer.gaps.find(seq).is_some() {
            return; // a gap already asks for it
        }
        let retry = now + self.config.nack_retry;
        if !peer.gaps.insert_one(seq, now, retry) {
            // no room for another gap: as before this receiver could defer, it is lost
            stats.dropped.delivery_queue_full += 1;
            return self.declare_lost(sender, seq, seq.saturating_add(1), stats);
        }
        super::no_later_than(&mut peer.nack_at, retry);
        super::no_later_than(&mut self.nack_due, retry);
    }

    /// Keeps a sender's held events within `max_held_bytes`, and all senders' within
    /// `max_held_total_bytes`: while over, the oldest gap (of this sender, then of the
    /// sender holding most) is given up on and reported.
    pub(super) fn enforce_bounds(&mut self, sender: u64, stats: &mut ProtocolStats) {
        while self.peers.get(&sender).is_some_and(|p| p.held_bytes > self.config.max_held_bytes) {
            self.give_up_first_gap(sender, stats);
        }
        while self.held_total > self.config.max_held_total_bytes {
            work::charge(self.peers.len() as u64);
            let Some(biggest) = self.peers.iter().max_by_key(|(_, p)| p.held_bytes).map(|(id, _)| *id) else { break };
            if !self.give_up_first_gap(biggest, stats) {
                break;
            }
        }
    }

    /// Gives up on the missing run at `sender`'s `next_expected`, which holds back its held
    /// events; false when it holds none.
    fn give_up_first_gap(&mut self, sender: u64, stats: &mut ProtocolStats) -> bool {
        let Some(peer) = self.peers.get_mut(&sender) else { return false };
        let Some(&first_held) = peer.held.keys().next() else { return false };
        stats.held_overflow += 1;
        let start = peer.next_expected;
        peer.gaps.take_below(first_held);
        self.declare_lost(sender, start, first_held, stats);
        true
    }

    /// Gives up on `first..end`: reports what of it is not done, and lets the events after
    /// it through.
    pub(super) fn declare_lost(&mut self, sender: u64, first: u64, end: u64, stats: &mut ProtocolStats) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let first = first.max(peer.next_expected);
        let lost = peer.done.fresh_runs(first, end);
        peer.done.mark_range(first, end);
        for (a, b) in lost {
            self.report_lost(sender, a, b, stats);
        }
        self.advance(sender, stats);
    }

    fn report_lost(&mut self, sender: u64, first: u64, last: u64, stats: &mut ProtocolStats) {
        work::charge(1);
        self.reassembly.forget(sender, first..=last);
        // history asked for on joining (`StartAt::Oldest`) was never owed: not a loss
        let owed_from = self.peers.get(&sender).map_or(0, |p| p.history_until);
        if last < owed_from {
            return;
        }
        let first = first.max(owed_from);
        let count = last - first + 1;
        stats.events_lost = stats.events_lost.saturating_add(count);
        if let Some(peer) = self.peers.get_mut(&sender) {
            peer.stats.events_lost = peer.stats.events_lost.saturating_add(count);
        }
        let full = self.losses.len() >= self.config.max_delivery_queue;
        match self.losses.back_mut() {
            Some(l) if l.sender == sender && l.last.checked_add(1) == Some(first) => l.last = last,
            _ if full => stats.dropped.delivery_queue_full += 1,
            _ => self.losses.push_back(Loss { sender, first, last }),
        }
    }

    /// Handles a heartbeat: what the sender has sent, and what it can still repair.
    pub fn handle_heartbeat(
        &mut self,
        now: Instant,
        sender: u64,
        from: SocketAddr,
        next_seq: u64,
        oldest: u64,
        stats: &mut ProtocolStats,
    ) {
        stats.heartbeats_received += 1;
        // Too far ahead to trust yet: believe it only as far as a plausible jump, so that a
        // long tail loss is still found at once (and the rest by the next heartbeats),
        // without letting one forged frame open an unbounded gap.
        let next_seq = match self.implausible_jump(sender, next_seq, stats) {
            false => next_seq,
            true => match self.peers.get(&sender) {
                Some(p) => p.known_end.saturating_add(MAX_JUMP - 1),
                None => return,
            },
        };
        let oldest = oldest.min(next_seq);
        let anchor = self.anchor_at(next_seq);
        let peer = self.touch(now, sender, from, Some(anchor), stats);
        peer.oldest_available = peer.oldest_available.max(oldest);
        self.sent_up_to(now, sender, next_seq, stats);
        self.prove_if_heard_enough(now, sender, stats);
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let gone = peer.gaps.take_below(oldest);
        for (a, b) in gone {
            self.declare_lost(sender, a, b, stats);
        }
    }
}
