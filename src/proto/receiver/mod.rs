//! The receiving half of the core: per-sender order, gap detection, NACK scheduling with
//! random backoff and suppression, loss reports, and the peer table.

mod nacks;
mod status;
mod types;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::idhash::{IdHash, IdMap};
use super::payload::PayloadView;
use super::reassembly::{Outcome, Reassembler};
use super::stats::{PeerStats, Stats};
use super::window::{SeqStatus, SeqWindow, WINDOW};
use super::wire;
pub use types::{DataFrame, Delivery, JOIN_HISTORY, JUMP_CONFIRMATIONS, Loss, ReceiverConfig};
use types::{Missing, Peer, stream_start};

/// The receiving half of an [`super::Endpoint`].
pub struct Incoming {
    config: ReceiverConfig,
    peers: IdMap<Peer>,
    reassembly: Reassembler,
    deliveries: VecDeque<Delivery>,
    losses: VecDeque<Loss>,
    rng: SmallRng,
    /// No NACK is due before this; recomputed on every timer pass.
    nack_due: Option<Instant>,
    /// Senders in the order first heard, to evict unproven ones first (may hold ids since
    /// proven or forgotten; they are skipped).
    unproven: VecDeque<u64>,
    /// No sender goes silent for `peer_timeout` before this (senders heard since only move
    /// it later, so it may wake early; each pass recomputes it).
    peer_expiry: Option<Instant>,
    /// NACK entries that may still be sent this second (token bucket).
    nack_budget: f64,
    nack_budget_at: Option<Instant>,
    /// Progress reports to send (see `status.rs`).
    statuses: Vec<(u64, u64)>,
    status_dirty: bool,
    status_due: Option<Instant>,
}

/// A sender that has sent this many datagrams counts as real even before a whole event of
/// it arrived (a large first event may need repairs to complete).
pub const PROOF_DATAGRAMS: u32 = 16;

/// A known sender's sequence more than this far ahead of what it has sent is implausible
/// until confirmed (see `implausible_jump`).
pub const MAX_JUMP: u64 = 4096;
/// Gaps tracked (asked for) across all senders at most; more are given up on and reported.
pub const MAX_MISSING_TOTAL: usize = 1 << 20;
/// Missing events asked for per second at most, across all senders.
const NACK_ENTRIES_PER_SEC: f64 = 50_000.0;
/// The earliest a new gap is asked for: it also keeps new gaps from making every datagram
/// rescan the schedule.
const NACK_GRANULARITY: Duration = Duration::from_millis(1);

impl Incoming {
    /// The receiving half; `seed` makes the NACK backoff reproducible.
    pub fn new(config: ReceiverConfig, seed: u64) -> Self {
        Incoming {
            reassembly: Reassembler::new(config.reassembly.clone()),
            config,
            peers: IdMap::with_hasher(IdHash::new(seed.rotate_left(32) ^ 0x5bd1_e995)),
            deliveries: VecDeque::new(),
            losses: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            nack_due: None,
            unproven: VecDeque::new(),
            peer_expiry: None,
            nack_budget: NACK_ENTRIES_PER_SEC,
            nack_budget_at: None,
            statuses: Vec::new(),
            status_dirty: false,
            status_due: None,
        }
    }

    /// Notes that `sender` was heard from `from`; creates its entry, forgetting the stalest
    /// sender when the table is full. `start`, when given, is where the sender's reliable
    /// stream begins for us if it has no start yet: a late joiner never asks for history.
    fn touch(
        &mut self,
        now: Instant,
        sender: u64,
        from: SocketAddr,
        start: Option<u64>,
        stats: &mut Stats,
    ) -> &mut Peer {
        if !self.peers.contains_key(&sender) && self.peers.len() >= self.config.max_senders {
            // Senders that never gave a valid event go first, oldest first, so minted ids
            // cannot push out real senders (and cost O(1) each); then the stalest sender.
            let stalest = self
                .oldest_unproven()
                .or_else(|| self.peers.iter().min_by_key(|(_, p)| p.last_heard).map(|(id, _)| *id));
            if let Some(id) = stalest {
                self.forget(id);
                stats.dropped.sender_evicted += 1;
            }
        }
        if !self.peers.contains_key(&sender) {
            let expiry = now + self.config.peer_timeout;
            self.peer_expiry = Some(self.peer_expiry.map_or(expiry, |t| t.min(expiry)));
            self.unproven.push_back(sender);
            if self.unproven.len() > 2 * self.config.max_senders {
                let peers = &self.peers;
                self.unproven.retain(|id| peers.get(id).is_some_and(|p| !p.proven));
            }
        }
        let peer = self.peers.entry(sender).or_insert_with(|| Peer {
            anchored: false,
            proven: false,
            heard: 0,
            ahead_streak: 0,
            addr: from,
            last_heard: now,
            done: SeqWindow::default(),
            best_effort: SeqWindow::default(),
            next_expected: 0,
            known_end: 0,
            oldest_available: 0,
            held: BTreeMap::new(),
            held_bytes: 0,
            missing: BTreeMap::new(),
            stats: PeerStats { sender, ..PeerStats::default() },
            status_sent: 0,
            bytes_since_status: 0,
        });
        peer.last_heard = now;
        peer.heard = peer.heard.saturating_add(1);
        peer.addr = from;
        if let (false, Some(start)) = (peer.anchored, start) {
            peer.anchored = true;
            peer.next_expected = start;
            peer.known_end = start;
        }
        peer
    }

    /// From now on `sender` counts as real: its gaps are tracked and asked for.
    fn prove(&mut self, now: Instant, sender: u64, stats: &mut Stats) {
        let Some(peer) = self.peers.get_mut(&sender).filter(|p| !p.proven) else { return };
        peer.proven = true;
        let (from, first_nack) = (peer.next_expected, now + self.config.nack_delay_max);
        self.track_missing(now, sender, from, first_nack, stats);
    }

    /// The unproven sender first heard longest ago, if any.
    fn oldest_unproven(&mut self) -> Option<u64> {
        while let Some(id) = self.unproven.pop_front() {
            if self.peers.get(&id).is_some_and(|p| !p.proven) {
                return Some(id);
            }
        }
        None
    }

    fn forget(&mut self, sender: u64) {
        self.peers.remove(&sender);
        self.reassembly.forget_sender(sender);
    }

    /// Handles one EVENT or FRAGMENT frame.
    pub fn handle_data(&mut self, now: Instant, f: DataFrame<'_>, stats: &mut Stats) {
        if f.flags & wire::FRAME_RETRANSMIT != 0 {
            stats.repairs_received += 1;
        }
        if f.fragment.is_some() {
            stats.fragments_in += 1;
        }
        if f.flags & wire::FRAME_UNRELIABLE != 0 {
            return self.handle_best_effort(now, f, stats);
        }
        let repair = f.flags & wire::FRAME_RETRANSMIT != 0;
        if repair && !self.peers.get(&f.sender).is_some_and(|p| p.anchored) {
            return; // a repair someone else asked for, from before we joined
        }
        if self.implausible_jump(f.sender, f.seq, stats) {
            return;
        }
        let peer = self.touch(now, f.sender, f.from, Some(stream_start(f.seq)), stats);
        if f.seq < peer.next_expected || peer.done.status(f.seq) != SeqStatus::Fresh {
            stats.dropped.duplicate += 1;
            peer.stats.duplicates += 1;
            return;
        }
        if !repair {
            self.sent_up_to(now, f.sender, f.seq, stats);
        }
        if self.peers.get(&f.sender).is_some_and(|p| p.heard >= PROOF_DATAGRAMS) {
            self.prove(now, f.sender, stats);
        }
        let payload = match f.fragment {
            None => f.bytes.to_vec(),
            Some((index, count)) => match self.reassembly.insert(now, f.sender, f.seq, index, count, f.bytes, stats) {
                Outcome::Complete(p) => p,
                Outcome::Incomplete => {
                    // Progress on a missing event: ask again soon for the rest, without backoff.
                    let retry = now + self.config.nack_retry;
                    if let Some(m) = self.peers.get_mut(&f.sender).and_then(|p| p.missing.get_mut(&f.seq)) {
                        m.tries = 0;
                        m.next_at = m.next_at.min(retry);
                        self.nack_due = Some(self.nack_due.map_or(retry, |d| d.min(retry)));
                    }
                    return;
                }
                _ => return,
            },
        };
        self.complete(now, f.sender, f.from, f.seq, f.flags, payload, stats);
        self.enforce_bounds(f.sender, stats);
    }

    fn handle_best_effort(&mut self, now: Instant, f: DataFrame<'_>, stats: &mut Stats) {
        let peer = self.touch(now, f.sender, f.from, None, stats);
        if peer.best_effort.status(f.seq) != SeqStatus::Fresh {
            stats.dropped.duplicate += 1;
            peer.stats.duplicates += 1;
            return;
        }
        // Best-effort fragments share the reassembler under a key of their own space.
        let key_seq = f.seq | (1 << 63);
        let payload = match f.fragment {
            None => f.bytes.to_vec(),
            Some((index, count)) => {
                match self.reassembly.insert(now, f.sender, key_seq, index, count, f.bytes, stats) {
                    Outcome::Complete(p) => p,
                    _ => return,
                }
            }
        };
        let Ok(view) = PayloadView::parse(&payload) else {
            stats.dropped.malformed += 1;
            return;
        };
        if let Some(peer) = self.peers.get_mut(&f.sender) {
            peer.best_effort.mark(f.seq);
        }
        self.push_delivery(
            Delivery { sender: f.sender, from: f.from, seq: f.seq, payload: Bytes::from(payload), view },
            stats,
        );
    }

    /// Whether `seq` from a sender we follow is so far ahead of what it has sent (more than
    /// the tracking window) that it is more likely corrupt or forged than real. A sender
    /// that really jumped (we were cut off for long) shows it in every frame, so after
    /// [`JUMP_CONFIRMATIONS`] such frames in a row the jump is accepted and the gap reported.
    fn implausible_jump(&mut self, sender: u64, seq: u64, stats: &mut Stats) -> bool {
        let Some(peer) = self.peers.get_mut(&sender).filter(|p| p.anchored) else { return false };
        if seq < peer.known_end.saturating_add(MAX_JUMP) {
            peer.ahead_streak = 0;
            return false;
        }
        peer.ahead_streak += 1;
        if peer.ahead_streak >= JUMP_CONFIRMATIONS {
            peer.ahead_streak = 0;
            return false;
        }
        stats.dropped.implausible += 1;
        true
    }

    /// Everything below `end` was sent: what is not done there is missing from now on, and
    /// what falls more than [`WINDOW`] behind `end` is given up on.
    ///
    /// Invariant: every sequence in `next_expected..known_end` is done, held, or missing.
    fn sent_up_to(&mut self, now: Instant, sender: u64, end: u64, stats: &mut Stats) {
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
        // Until a sender has given us one whole, valid event, its gaps are not tracked or
        // asked for: anyone can mint sender ids, and a flood of them must cost no memory
        // and draw no NACKs. The gaps are filled in when it proves itself.
        if peer.proven {
            self.track_missing(now, sender, from, first_nack, stats);
        }
    }

    /// Marks every sequence of `sender` from `from` up to `known_end` that is not done as
    /// missing, first asked for at `first_nack`.
    fn track_missing(&mut self, now: Instant, sender: u64, from: u64, first_nack: Instant, stats: &mut Stats) {
        let tracked: usize = self.peers.values().map(|p| p.missing.len()).sum();
        let mut room = MAX_MISSING_TOTAL.saturating_sub(tracked);
        let Some(peer) = self.peers.get_mut(&sender) else { return };
        let mut scheduled = false;
        let mut untracked = Vec::new();
        for seq in from.max(peer.next_expected)..peer.known_end {
            if room == 0 {
                if peer.done.status(seq) == SeqStatus::Fresh && !peer.held.contains_key(&seq) {
                    untracked.push(seq);
                }
                continue;
            }
            room -= 1;
            if peer.done.status(seq) == SeqStatus::Fresh
                && !peer.held.contains_key(&seq)
                && peer.missing.insert(seq, Missing { noticed: now, next_at: first_nack, tries: 0 }).is_none()
            {
                stats.gaps_detected += 1;
                scheduled = true;
            }
        }
        if scheduled {
            self.nack_due = Some(self.nack_due.map_or(first_nack, |d| d.min(first_nack)));
        }
        // Beyond the bound on tracked gaps, gaps are given up on at once (and reported).
        for seq in untracked {
            self.declare_lost(sender, seq, stats);
        }
    }

    /// Moves `next_expected` up to `floor`: held events below it are delivered, and every
    /// other sequence below it that is not done is reported lost.
    fn skip_below(&mut self, sender: u64, floor: u64, stats: &mut Stats) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        if peer.next_expected >= floor {
            return;
        }
        let first = peer.next_expected;
        let kept = peer.held.split_off(&floor);
        let below = std::mem::replace(&mut peer.held, kept);
        let kept = peer.missing.split_off(&floor);
        let lost_tracked: Vec<u64> = std::mem::replace(&mut peer.missing, kept).into_keys().collect();
        let untracked = peer.known_end.clamp(first, floor)..floor;
        peer.next_expected = floor;
        peer.known_end = peer.known_end.max(floor);
        peer.held_bytes -= below.values().map(|d| d.payload.len()).sum::<usize>();
        for d in below.into_values() {
            self.push_delivery(d, stats);
        }
        for seq in lost_tracked {
            self.report_lost(sender, seq, seq, stats);
        }
        if !untracked.is_empty() {
            self.report_lost(sender, untracked.start, untracked.end - 1, stats);
        }
        self.advance(sender, stats);
    }

    /// A reliable event is whole: deliver it, or hold it until the events before it are in.
    #[allow(clippy::too_many_arguments)]
    fn complete(
        &mut self,
        now: Instant,
        sender: u64,
        from: SocketAddr,
        seq: u64,
        flags: u8,
        payload: Vec<u8>,
        stats: &mut Stats,
    ) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let Ok(view) = PayloadView::parse(&payload) else {
            // Corrupt or forged: not done, so it is asked for again like a lost one (and
            // reported lost if no good copy comes).
            stats.dropped.malformed += 1;
            return;
        };
        peer.done.mark(seq);
        if peer.missing.remove(&seq).is_some() {
            stats.gaps_recovered += 1;
            peer.stats.gaps_recovered += 1;
        }
        self.prove(now, sender, stats);
        let Some(peer) = self.peers.get_mut(&sender) else { return };
        let delivery = Delivery { sender, from, seq, payload: Bytes::from(payload), view };
        if flags & wire::FRAME_UNORDERED != 0 || seq == peer.next_expected {
            self.push_delivery(delivery, stats);
        } else {
            peer.held_bytes += delivery.payload.len();
            peer.held.insert(seq, delivery);
        }
        self.advance(sender, stats);
    }

    /// Moves `next_expected` over done sequences, delivering held events in order.
    fn advance(&mut self, sender: u64, stats: &mut Stats) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let mut ready = Vec::new();
        loop {
            let seq = peer.next_expected;
            if let Some(d) = peer.held.remove(&seq) {
                peer.held_bytes -= d.payload.len();
                ready.push(d);
            } else if peer.done.status(seq) == SeqStatus::Fresh {
                break;
            }
            peer.next_expected += 1;
        }
        for d in ready {
            self.push_delivery(d, stats);
        }
        self.note_progress(sender);
    }

    fn push_delivery(&mut self, d: Delivery, stats: &mut Stats) {
        if self.deliveries.len() >= self.config.max_delivery_queue {
            stats.dropped.delivery_queue_full += 1;
            return;
        }
        if let Some(peer) = self.peers.get_mut(&d.sender) {
            peer.stats.events += 1;
            peer.bytes_since_status += d.payload.len();
        }
        stats.events_in += 1;
        self.deliveries.push_back(d);
    }

    /// Keeps a sender's held events within `max_held_bytes`: while over, the oldest gap
    /// is given up on and reported.
    fn enforce_bounds(&mut self, sender: u64, stats: &mut Stats) {
        while let Some(peer) = self.peers.get(&sender) {
            if peer.held_bytes <= self.config.max_held_bytes || peer.held.is_empty() {
                return;
            }
            stats.held_overflow += 1;
            let seq = peer.next_expected;
            self.declare_lost(sender, seq, stats);
        }
    }

    /// Gives up on `seq`: reports it, and lets the events after it through.
    fn declare_lost(&mut self, sender: u64, seq: u64, stats: &mut Stats) {
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        peer.missing.remove(&seq);
        peer.done.mark(seq);
        self.report_lost(sender, seq, seq, stats);
        self.advance(sender, stats);
    }

    fn report_lost(&mut self, sender: u64, first: u64, last: u64, stats: &mut Stats) {
        let count = last - first + 1;
        stats.events_lost += count;
        if let Some(peer) = self.peers.get_mut(&sender) {
            peer.stats.events_lost += count;
        }
        self.reassembly.forget(sender, first..=last);
        let full = self.losses.len() >= self.config.max_delivery_queue;
        match self.losses.back_mut() {
            Some(l) if l.sender == sender && l.last + 1 == first => l.last = last,
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
        stats: &mut Stats,
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
        let peer = self.touch(now, sender, from, Some(stream_start(next_seq)), stats);
        peer.oldest_available = peer.oldest_available.max(oldest.min(next_seq));
        self.sent_up_to(now, sender, next_seq, stats);
        if self.peers.get(&sender).is_some_and(|p| p.heard >= PROOF_DATAGRAMS) {
            self.prove(now, sender, stats);
        }
        let Some(peer) = self.peers.get_mut(&sender) else {
            return;
        };
        let gone: Vec<u64> = peer.missing.range(..oldest).map(|(s, _)| *s).collect();
        for seq in gone {
            self.declare_lost(sender, seq, stats);
        }
    }

    /// Discards incomplete events past `message_ttl` and forgets silent senders.
    pub fn handle_timeout(&mut self, now: Instant, stats: &mut Stats) {
        self.reassembly.expire(now, stats);
        self.status_timer(now);
        if self.peer_expiry.is_none_or(|t| t > now) {
            return;
        }
        let timeout = self.config.peer_timeout;
        let silent: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, p)| now.saturating_duration_since(p.last_heard) >= timeout)
            .map(|(id, _)| *id)
            .collect();
        for id in silent {
            self.forget(id);
        }
        self.peer_expiry = self.peers.values().map(|p| p.last_heard + timeout).min();
    }

    /// When the receiving half next needs the clock.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.nack_due, self.reassembly.next_deadline(), self.peer_expiry, self.status_due].into_iter().flatten().min()
    }

    /// The next event to hand to the application.
    pub fn poll_event(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// The next loss report.
    pub fn poll_loss(&mut self) -> Option<Loss> {
        self.losses.pop_front()
    }

    /// Gauges and the per-sender table for the stats snapshot.
    pub fn refresh_gauges(&self, stats: &mut Stats) {
        stats.reassembly_in_flight = self.reassembly.in_flight() as u64;
        stats.reassembly_bytes = self.reassembly.bytes() as u64;
        stats.peers = self.peers.len() as u64;
        stats.held_events = self.peers.values().map(|p| p.held.len() as u64).sum();
        stats.missing_events = self.peers.values().map(|p| p.missing.len() as u64).sum();
    }

    /// The per-sender table, `now` giving the age of each sender's last datagram.
    pub fn peer_stats(&self, now: Instant) -> Vec<PeerStats> {
        let mut list: Vec<PeerStats> = self
            .peers
            .values()
            .map(|p| PeerStats {
                addr: Some(p.addr),
                last_heard_ms: now.saturating_duration_since(p.last_heard).as_millis() as u64,
                next_expected: p.next_expected,
                ..p.stats.clone()
            })
            .collect();
        list.sort_by_key(|p| p.sender);
        list
    }
}
