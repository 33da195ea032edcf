//! The receiving half of the core: per-sender order, gap detection, NACK scheduling with
//! random backoff and suppression, loss reports, and the peer table.

mod gaps;
pub mod group;
mod nacks;
mod order;
mod status;
mod types;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;
use rand::rngs::SmallRng;

use super::idhash::{IdHash, IdMap};
use super::payload::PayloadView;
use super::reassembly::{Outcome, Reassembler};
use super::sender::ORIGIN_PERIOD;
use super::stats::{PeerStats, ProtocolStats};
use super::window::{SeqStatus, SeqWindow};
use super::wire;
pub use gaps::MAX_GAPS_PER_SENDER;
use types::Peer;
pub use types::{DataFrame, Delivery, JUMP_CONFIRMATIONS, Loss, ReceiverConfig, StartAt, Taken};

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
    /// NACK entries that may still be sent this second (token bucket, all senders).
    nack_budget: f64,
    nack_budget_at: Option<Instant>,
    /// Bytes of complete events held for order, all senders together.
    held_total: usize,
    /// Bytes of payload in `deliveries`.
    delivery_bytes: usize,
    /// When this receiver joined: the first `now` it was given.
    joined: Option<Instant>,
    /// Datagrams seen so far: a sender is heard once per datagram, however many frames.
    datagrams: u64,
    /// Progress reports to send (see `status.rs`).
    statuses: Vec<(u64, u64)>,
    status_dirty: bool,
    status_due: Option<Instant>,
    /// Senders forgotten in this run (evicted or silent), newest last, at most
    /// `max_senders`: an ORIGIN from one of them does not restart its stream at 0.
    forgotten: HashSet<u64, IdHash>,
    forgotten_order: VecDeque<u64>,
    /// How many nodes share the group (scales the NACK backoff).
    group: group::GroupEstimate,
}

/// Moves the timer `slot` to `at` if that is sooner (or it is unset).
fn no_later_than(slot: &mut Option<Instant>, at: Instant) {
    *slot = Some(slot.map_or(at, |t| t.min(at)));
}

/// A sender that has sent this many datagrams, over at least [`PROOF_AGE`], counts as real
/// even before a whole event of it arrived (a large first event may need repairs to
/// complete). Frames do not count: one datagram can carry hundreds.
pub const PROOF_DATAGRAMS: u32 = 16;
/// See [`PROOF_DATAGRAMS`].
pub const PROOF_AGE: Duration = Duration::from_millis(100);

/// A known sender's sequence more than this far ahead of what it has sent is implausible
/// until confirmed (see `implausible_jump`).
pub const MAX_JUMP: u64 = 4096;
/// NACK entries (missing events or fragment ranges) asked for per second at most, across
/// all senders.
pub const NACK_ENTRIES_PER_SEC: f64 = 50_000.0;
/// NACK entries asked of one sender per second at most, so that no sender (a forged one
/// above all) can spend the budget of all; a sender that has not delivered an event yet
/// gets a sixteenth of it.
pub const NACK_ENTRIES_PER_SENDER_PER_SEC: f64 = 25_000.0;
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
            held_total: 0,
            delivery_bytes: 0,
            joined: None,
            datagrams: 0,
            forgotten: HashSet::with_hasher(IdHash::new(seed.rotate_left(17) ^ 0x27d4_eb2f)),
            forgotten_order: VecDeque::new(),
            group: group::GroupEstimate::new(seed.rotate_left(7) ^ 0x85eb_ca6b),
            statuses: Vec::new(),
            status_dirty: false,
            status_due: None,
        }
    }

    /// Notes the time: the first `now` given is when this receiver joined.
    pub fn observe(&mut self, now: Instant) {
        self.joined.get_or_insert(now);
    }

    /// Where a sender's reliable stream starts for us when `first` is the first sequence
    /// heard of it (data, or a heartbeat's next), with no ORIGIN saying we were there
    /// from its start: (start, history_until).
    fn anchor_at(&self, first: u64) -> (u64, u64) {
        match self.config.start_at {
            StartAt::Live => (first, 0),
            StartAt::Oldest => (0, first),
        }
    }

    /// An ORIGIN frame: `sender`'s reliable stream began `age_ms` ago. If we have been
    /// running at least that long and do not follow it yet, its stream starts at 0 for us:
    /// every event it sent is owed to us, the first ones repaired if their datagrams were
    /// lost.
    ///
    /// Only a young stream counts (younger than the sender's `ORIGIN_PERIOD`, within which
    /// its first events can still be repaired): an older one is joined like a late joiner,
    /// so a receiver that only now hears a long-running sender is not owed minutes of
    /// history it can never get. A sender this receiver forgot in this run (evicted or
    /// silent) is never restarted at 0: that would deliver its first events twice.
    pub fn handle_origin(
        &mut self,
        now: Instant,
        sender: u64,
        from: SocketAddr,
        age_ms: u32,
        stats: &mut ProtocolStats,
    ) {
        if self.peers.get(&sender).is_some_and(|p| p.anchored) || self.forgotten.contains(&sender) {
            return;
        }
        let age = Duration::from_millis(u64::from(age_ms));
        if age >= ORIGIN_PERIOD {
            return;
        }
        let uptime = now.saturating_duration_since(self.joined.unwrap_or(now));
        if uptime >= age {
            self.touch(now, sender, from, Some((0, 0)), stats);
        }
    }

    /// Notes that `sender` was heard from `from`; creates its entry, forgetting the stalest
    /// sender when the table is full. `anchor`, when given, is (start, history_until) of
    /// the sender's reliable stream for us if it has no start yet (see `anchor_at`).
    fn touch(
        &mut self,
        now: Instant,
        sender: u64,
        from: SocketAddr,
        anchor: Option<(u64, u64)>,
        stats: &mut ProtocolStats,
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
            no_later_than(&mut self.peer_expiry, expiry);
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
            gaps: Default::default(),
            nack_at: None,
            nack_budget: 0.0,
            nack_budget_at: None,
            first_heard: now,
            last_datagram: 0,
            stats: PeerStats { sender, ..PeerStats::default() },
            status_sent: 0,
            bytes_since_status: 0,
            in_app: 0,
            taken_end: 0,
            history_until: 0,
        });
        peer.last_heard = now;
        if peer.last_datagram != self.datagrams {
            peer.last_datagram = self.datagrams;
            peer.heard = peer.heard.saturating_add(1);
        }
        peer.addr = from;
        if let (false, Some((start, history_until))) = (peer.anchored, anchor) {
            peer.anchored = true;
            peer.next_expected = start;
            peer.known_end = start;
            peer.taken_end = start;
            peer.history_until = history_until;
        }
        peer
    }

    /// A datagram begins: the frames that follow count as one hearing of their sender.
    pub fn begin_datagram(&mut self, now: Instant, sender: u64) {
        self.datagrams += 1;
        self.group.observe(now, sender);
    }

    /// From now on `sender` counts as real: its gaps are tracked and asked for.
    fn prove(&mut self, now: Instant, sender: u64, stats: &mut ProtocolStats) {
        let Some(peer) = self.peers.get_mut(&sender).filter(|p| !p.proven) else { return };
        peer.proven = true;
        let (from, end, first_nack) = (peer.next_expected, peer.known_end, now + self.config.nack_delay_max);
        self.open_gap(now, sender, from, end, first_nack, stats);
    }

    /// Proves `sender` once it was heard in [`PROOF_DATAGRAMS`] datagrams over [`PROOF_AGE`].
    fn prove_if_heard_enough(&mut self, now: Instant, sender: u64, stats: &mut ProtocolStats) {
        let heard = |p: &Peer| p.heard >= PROOF_DATAGRAMS && now.saturating_duration_since(p.first_heard) >= PROOF_AGE;
        if self.peers.get(&sender).is_some_and(heard) {
            self.prove(now, sender, stats);
        }
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
        if let Some(peer) = self.peers.remove(&sender) {
            self.held_total -= peer.held_bytes;
            if peer.anchored && self.forgotten.insert(sender) {
                self.forgotten_order.push_back(sender);
                if self.forgotten_order.len() > self.config.max_senders
                    && let Some(old) = self.forgotten_order.pop_front()
                {
                    self.forgotten.remove(&old);
                }
            }
        }
        self.reassembly.forget_sender(sender);
    }

    /// Handles one EVENT or FRAGMENT frame.
    pub fn handle_data(&mut self, now: Instant, f: DataFrame<'_>, stats: &mut ProtocolStats) {
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
        if repair && !self.peers.get(&f.sender).is_some_and(|p| p.anchored && f.seq < p.known_end) {
            // a repair someone else asked for, from before we joined — or of an event we
            // never heard of: only a NACK of ours, for what we know was sent, needs one
            stats.dropped.implausible += u64::from(self.peers.get(&f.sender).is_some_and(|p| p.anchored));
            return;
        }
        if self.implausible_jump(f.sender, f.seq, stats) {
            return;
        }
        let anchor = self.anchor_at(f.seq);
        let peer = self.touch(now, f.sender, f.from, Some(anchor), stats);
        if f.seq < peer.next_expected || peer.done.status(f.seq) != SeqStatus::Fresh {
            stats.dropped.duplicate += 1;
            peer.stats.duplicates += 1;
            return;
        }
        if !repair {
            self.sent_up_to(now, f.sender, f.seq, stats);
        }
        self.prove_if_heard_enough(now, f.sender, stats);
        let payload = match f.fragment {
            None => f.bytes.to_vec(),
            Some((index, count)) => match self.reassembly.insert(now, f.sender, f.seq, index, count, f.bytes, stats) {
                Outcome::Complete(p) => p,
                Outcome::Incomplete => {
                    // Progress on a missing event: ask again soon for the rest, without backoff.
                    let retry = now + self.config.nack_retry;
                    if let Some(peer) = self.peers.get_mut(&f.sender) {
                        if let Some(g) = peer.gaps.isolate(f.seq) {
                            g.tries = 0;
                            g.next_at = g.next_at.min(retry);
                            no_later_than(&mut peer.nack_at, retry);
                            no_later_than(&mut self.nack_due, retry);
                        }
                    }
                    return;
                }
                _ => return,
            },
        };
        self.complete(now, f.sender, f.from, f.seq, f.flags, payload, stats);
        self.enforce_bounds(f.sender, stats);
    }

    fn handle_best_effort(&mut self, now: Instant, f: DataFrame<'_>, stats: &mut ProtocolStats) {
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
        let view = match PayloadView::parse(&payload) {
            Ok(view) => view,
            Err(e) => return stats.dropped.count_payload_error(&e),
        };
        if let Some(peer) = self.peers.get_mut(&f.sender) {
            peer.best_effort.mark(f.seq);
        }
        self.push_delivery(
            Delivery {
                sender: f.sender,
                from: f.from,
                seq: f.seq,
                payload: Bytes::from(payload),
                view,
                reliable: false,
            },
            stats,
        );
    }

    /// Whether `seq` from a sender we follow is so far ahead of what it has sent (more than
    /// the tracking window) that it is more likely corrupt or forged than real. A sender
    /// that really jumped (we were cut off for long) shows it in every frame, so after
    /// [`JUMP_CONFIRMATIONS`] such frames in a row the jump is accepted and the gap reported.
    fn implausible_jump(&mut self, sender: u64, seq: u64, stats: &mut ProtocolStats) -> bool {
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

    /// Discards incomplete events past `message_ttl` and forgets silent senders.
    pub fn handle_timeout(&mut self, now: Instant, stats: &mut ProtocolStats) {
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
        let d = self.deliveries.pop_front()?;
        self.delivery_bytes -= order::queued_bytes(d.payload.len());
        Some(d)
    }

    /// Whether events wait in `poll_event`.
    pub fn has_events(&self) -> bool {
        !self.deliveries.is_empty()
    }

    /// The application took a run of reliable events of one sender (handed out by
    /// `poll_event`): the progress reported to the sender may move past them.
    pub fn handle_taken(&mut self, run: Taken) {
        let Some(peer) = self.peers.get_mut(&run.sender).filter(|_| self.config.confirm_taken) else { return };
        peer.in_app = peer.in_app.saturating_sub(run.count);
        peer.taken_end = peer.taken_end.max(run.last_seq.saturating_add(1));
        self.note_progress(run.sender);
    }

    /// The next loss report.
    pub fn poll_loss(&mut self) -> Option<Loss> {
        self.losses.pop_front()
    }

    /// Gauges and the per-sender table for the stats snapshot.
    pub fn refresh_gauges(&self, stats: &mut ProtocolStats) {
        stats.reassembly_in_flight = self.reassembly.in_flight() as u64;
        stats.reassembly_bytes = self.reassembly.bytes() as u64;
        stats.peers = self.peers.len() as u64;
        stats.held_events = self.peers.values().map(|p| p.held.len() as u64).sum();
        stats.held_bytes = self.held_total as u64;
        stats.missing_events = self
            .peers
            .values()
            .flat_map(|p| p.gaps.iter().map(|(start, g)| p.done.fresh_runs(start, g.end)))
            .flatten()
            .map(|(a, b)| b - a + 1)
            .sum();
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
