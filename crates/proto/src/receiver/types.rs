//! The receiving half's settings, outputs and per-sender state.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::gaps::Gaps;

use bytes::Bytes;

use crate::payload::PayloadView;
use crate::reassembly::ReassemblyLimits;
use crate::stats::PeerStats;
use crate::window::SeqWindow;

/// Which events of a sender a receiver delivers: where its stream of that sender starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartAt {
    /// Events sent after this receiver joined (as Node's EventEmitter, NATS and LCM
    /// deliver): a sender whose stream began while the receiver was running is taken from
    /// its first event, repaired if lost; a sender heard for the first time later is taken
    /// from the first event heard. A restarted receiver never gets its previous run's
    /// events again.
    #[default]
    Live,
    /// Also what the sender still holds for repair when first heard (up to the tracking
    /// window of 65,536 events): a late joiner asks for the recent past. What the sender
    /// no longer holds is skipped without a loss report.
    Oldest,
}

/// How many frames in a row must show a sender far ahead of the tracking window before
/// the receiver believes the jump (see `Incoming::implausible_jump`).
pub const JUMP_CONFIRMATIONS: u32 = 16;

/// Settings of the receiving half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// Bounds on reassembly.
    pub reassembly: ReassemblyLimits,
    /// Senders remembered.
    pub max_senders: usize,
    /// A missing event is first asked for after a random delay up to this long, so that one
    /// receiver's NACK can spare the others theirs.
    pub nack_delay_max: Duration,
    /// Wait this long for a repair before asking again; the wait doubles with each request
    /// for the same event, up to `nack_retry_max`, so a busy network is not flooded.
    pub nack_retry: Duration,
    /// The longest wait between two requests for the same event.
    pub nack_retry_max: Duration,
    /// Report an event lost when it is still missing this long after it was noticed.
    pub nack_give_up: Duration,
    /// Complete events held per sender while an earlier one is missing, in bytes.
    pub max_held_bytes: usize,
    /// Complete events held for order by all senders together, in bytes.
    pub max_held_total_bytes: usize,
    /// Received events waiting in `poll_event` (the application has not taken them yet);
    /// a reliable event that finds the queue full is put off and asked for again (see
    /// `delivery_deferred`). Best-effort events may fill half of it (and of the byte
    /// bound) only, so that they never crowd out reliable ones.
    pub max_delivery_queue: usize,
    /// The same bound in bytes: payloads and each entry's bookkeeping (about 100 bytes), so
    /// that it bounds real memory also for many small events.
    pub max_delivery_queue_bytes: usize,
    /// Where a receiver's stream of each sender starts.
    pub start_at: StartAt,
    /// Whether the application confirms the reliable events it took
    /// (`Endpoint::handle_taken`), so that progress reports count only those. Off, an
    /// event counts as taken when `poll_event` hands it out.
    pub confirm_taken: bool,
    /// A sender not heard from for this long is forgotten.
    pub peer_timeout: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            reassembly: ReassemblyLimits {
                max_event_size: 8 << 20,
                max_partial_per_sender: 1024,
                max_bytes: 64 << 20,
                ttl: Duration::from_secs(3),
            },
            max_senders: 1024,
            nack_delay_max: Duration::from_millis(2),
            nack_retry: Duration::from_millis(20),
            nack_retry_max: Duration::from_millis(200),
            nack_give_up: Duration::from_secs(20),
            max_held_bytes: 32 << 20,
            max_held_total_bytes: 64 << 20,
            max_delivery_queue: 1 << 20,
            max_delivery_queue_bytes: 64 << 20,
            confirm_taken: false,
            start_at: StartAt::Live,
            peer_timeout: Duration::from_secs(60),
        }
    }
}

/// An event received from the network, its payload checked for framing.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Sender id.
    pub sender: u64,
    /// Source address of the datagram that completed it.
    pub from: SocketAddr,
    /// Sender's sequence number.
    pub seq: u64,
    /// The event payload.
    pub payload: Bytes,
    /// Where name and arguments are in `payload`.
    pub view: PayloadView,
    /// Whether it belongs to the sender's reliable stream: the application confirms it
    /// took such an event with `Endpoint::handle_taken`, and progress reports (STATUS) say
    /// only what the application took.
    pub reliable: bool,
}

/// Reliable events of one sender that the application took, in a row: `count` of them, the
/// last with sequence `last_seq` (see `Endpoint::handle_taken`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// Sender id.
    pub sender: u64,
    /// The highest sequence among them.
    pub last_seq: u64,
    /// How many.
    pub count: u64,
}

impl Taken {
    /// Adds the reliable event `seq` of `sender` to `runs`, extending the last run when it
    /// is of the same sender.
    pub fn push(runs: &mut Vec<Taken>, sender: u64, seq: u64) {
        match runs.last_mut() {
            Some(run) if run.sender == sender => {
                run.last_seq = run.last_seq.max(seq);
                run.count += 1;
            }
            _ => runs.push(Taken { sender, last_seq: seq, count: 1 }),
        }
    }
}

/// Events of one sender that could not be repaired and were skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Loss {
    /// Sender id.
    pub sender: u64,
    /// First lost sequence.
    pub first: u64,
    /// Last lost sequence (inclusive).
    pub last: u64,
}

impl Loss {
    /// How many events were lost.
    pub fn count(&self) -> u64 {
        self.last - self.first + 1
    }
}

pub(super) struct Peer {
    /// Whether the reliable stream has a starting point yet (a best-effort event or a
    /// repair alone does not give one).
    pub(super) anchored: bool,
    /// Whether it has given us a whole, valid event: only then are its gaps tracked.
    pub(super) proven: bool,
    /// Datagrams heard from it (saturating).
    pub(super) heard: u32,
    /// Frames in a row that put the sender implausibly far ahead.
    pub(super) ahead_streak: u32,
    pub(super) addr: SocketAddr,
    pub(super) last_heard: Instant,
    /// Reliable sequences delivered, held, or given up on.
    pub(super) done: SeqWindow,
    pub(super) best_effort: SeqWindow,
    /// Every reliable sequence below this is done.
    pub(super) next_expected: u64,
    /// Every reliable sequence below this was sent (from later data and heartbeats).
    pub(super) known_end: u64,
    /// The sender can no longer repair anything below this.
    pub(super) oldest_available: u64,
    pub(super) held: BTreeMap<u64, Delivery>,
    pub(super) held_bytes: usize,
    /// Missing sequences, as ranges.
    pub(super) gaps: Gaps,
    /// No gap of it is due before this (may be early; each NACK pass recomputes it).
    pub(super) nack_at: Option<Instant>,
    /// NACK entries it may still be asked for (token bucket).
    pub(super) nack_budget: f64,
    pub(super) nack_budget_at: Option<Instant>,
    /// When it was first heard (proof takes time as well as datagrams).
    pub(super) first_heard: Instant,
    /// The datagram it was last heard in (see `Incoming::begin_datagram`).
    pub(super) last_datagram: u64,
    pub(super) stats: PeerStats,
    /// The `next_expected` last reported in a STATUS.
    pub(super) status_sent: u64,
    /// Payload bytes delivered from it since then.
    pub(super) bytes_since_status: usize,
    /// Reliable events handed out by `poll_event` that the application has not confirmed
    /// taking yet (`handle_taken`), and the end of the highest one it did take.
    pub(super) in_app: u64,
    pub(super) taken_end: u64,
    /// Sequences below this are history this receiver asked for on joining (`StartAt::Oldest`)
    /// but was never owed: giving them up is not a loss.
    pub(super) history_until: u64,
}

impl Peer {
    /// What this receiver reports as its progress on the sender's stream: every sequence
    /// below it is done *and* taken by the application. While events wait for the
    /// application, that is the end of the last one it took; otherwise `next_expected`.
    pub(super) fn progress(&self) -> u64 {
        if self.in_app == 0 { self.next_expected } else { self.taken_end.min(self.next_expected) }
    }
}

/// What one data frame carried.
pub struct DataFrame<'a> {
    /// Sender id.
    pub sender: u64,
    /// Source address.
    pub from: SocketAddr,
    /// Frame flags.
    pub flags: u8,
    /// Sequence number.
    pub seq: u64,
    /// `None` for a whole event, else (index, count).
    pub fragment: Option<(u32, u32)>,
    /// Payload or fragment bytes.
    pub bytes: &'a [u8],
}
