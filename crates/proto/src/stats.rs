//! Counters kept by the protocol core.

use std::net::SocketAddr;

use serde::Serialize;

/// What this instance knows of one sender.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PeerStats {
    /// Sender id.
    pub sender: u64,
    /// Source address of its last datagram.
    pub addr: Option<SocketAddr>,
    /// Milliseconds since its last datagram.
    pub last_heard_ms: u64,
    /// Events delivered from it.
    pub events: u64,
    /// The next sequence due from it, in order.
    pub next_expected: u64,
    /// Its events that went missing and were repaired.
    pub gaps_recovered: u64,
    /// Its events that could not be repaired and were reported lost.
    pub events_lost: u64,
    /// NACKs sent to it.
    pub nacks_sent: u64,
    /// Duplicates of its events dropped.
    pub duplicates: u64,
}

/// Why received input was dropped. Every drop increments exactly one counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DropCounters {
    /// Not an eventcast datagram (wrong magic).
    pub bad_magic: u64,
    /// Another protocol version.
    pub bad_version: u64,
    /// Reserved flag bits set.
    pub unsupported_flags: u64,
    /// Encrypted datagram, and this instance has no key.
    pub sealed_without_key: u64,
    /// Plaintext datagram into an instance that encrypts.
    pub plaintext_refused: u64,
    /// Sealed under a key id this instance does not hold.
    pub unknown_key: u64,
    /// Sealed datagram whose tag does not verify: forged, tampered with, or the wrong key.
    pub forged: u64,
    /// Sealed datagram whose nonce this sender already used: a replay.
    pub replayed: u64,
    /// Sealed datagram sent further from our clock than the freshness bound.
    pub stale: u64,
    /// Truncated datagrams, frames or payloads; inconsistent fragments.
    pub malformed: u64,
    /// Frames naming a sequence number at or beyond 2^63 (no sender gets there).
    pub out_of_range: u64,
    /// Events whose arguments nest deeper than 64 levels (refused before any decoding).
    pub too_deep: u64,
    /// Frames of a type this version does not know (skipped).
    pub unknown_frame: u64,
    /// Events or fragments already delivered or already held.
    pub duplicate: u64,
    /// Events older than the duplicate window.
    pub too_old: u64,
    /// Frames putting a known sender implausibly far ahead (corrupt or forged).
    pub implausible: u64,
    /// Events larger than `max_event_size`.
    pub oversize: u64,
    /// Incomplete events discarded after `message_ttl` without a fragment.
    pub reassembly_timeout: u64,
    /// Incomplete events evicted because a reassembly bound was hit.
    pub reassembly_evicted: u64,
    /// Senders forgotten because the peer table was full.
    pub sender_evicted: u64,
    /// Received events dropped because the delivery queue was full.
    pub delivery_queue_full: u64,
}

/// A snapshot of the protocol core's counters.
///
/// ```
/// let stats = eventcast_proto::ProtocolStats::default();
/// assert_eq!(stats.events_in, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolStats {
    /// Events queued for sending.
    pub events_out: u64,
    /// Events delivered from the network.
    pub events_in: u64,
    /// Datagrams handed to the socket.
    pub datagrams_out: u64,
    /// Datagrams received (own loopback copies excluded).
    pub datagrams_in: u64,
    /// Bytes handed to the socket.
    pub bytes_out: u64,
    /// Bytes received (own loopback copies excluded).
    pub bytes_in: u64,
    /// Fragments sent.
    pub fragments_out: u64,
    /// Fragments received.
    pub fragments_in: u64,
    /// This instance's own datagrams looped back by the OS, ignored (on Linux the kernel
    /// drops them before they are read, so they are not counted here).
    pub own_echo: u64,
    /// Incomplete events being reassembled now.
    pub reassembly_in_flight: u64,
    /// Bytes held by incomplete events now.
    pub reassembly_bytes: u64,
    /// Senders in the peer table now.
    pub peers: u64,
    /// NACK frames sent (each lists missing events of one sender).
    pub nacks_sent: u64,
    /// NACK frames addressed to this instance as a sender.
    pub nacks_received: u64,
    /// Missing events whose request was put off because the NACK budget was spent.
    pub nacks_rate_limited: u64,
    /// Own NACKs held back because another receiver asked first.
    pub nacks_suppressed: u64,
    /// Repair frames sent in answer to NACKs.
    pub repairs_sent: u64,
    /// Repairs held back because the same item was just repaired.
    pub repairs_held_off: u64,
    /// NACKs (or the rest of one) ignored because the repair budget was spent.
    pub repairs_rate_limited: u64,
    /// Items asked for that had already left the retransmit buffer.
    pub repairs_unavailable: u64,
    /// Repair frames received.
    pub repairs_received: u64,
    /// Events noticed missing.
    pub gaps_detected: u64,
    /// Missing events that arrived after all.
    pub gaps_recovered: u64,
    /// Events given up on and reported lost.
    pub events_lost: u64,
    /// Times the held-events bound forced an event to be given up on.
    pub held_overflow: u64,
    /// Reliable events put off because the delivery queue was full (the application is
    /// behind): not taken, asked for again once there is room; not lost.
    pub delivery_deferred: u64,
    /// Heartbeats sent.
    pub heartbeats_sent: u64,
    /// Heartbeats received.
    pub heartbeats_received: u64,
    /// Times `emit` had to wait because the send queue or retransmit buffer was full.
    pub backpressure_waits: u64,
    /// Times sending paused because the slowest receiver was a flow window behind.
    pub flow_control_waits: u64,
    /// STATUS frames sent (progress reports on other senders' streams).
    pub statuses_sent: u64,
    /// STATUS frames received about this instance's stream.
    pub statuses_received: u64,
    /// Receivers forgotten by flow control because 1,024 were tracked already.
    pub flow_receivers_evicted: u64,
    /// Events held for repair now.
    pub retransmit_events: u64,
    /// Bytes held for repair now.
    pub retransmit_bytes: u64,
    /// Complete events waiting for an earlier missing one now.
    pub held_events: u64,
    /// Bytes of those events.
    pub held_bytes: u64,
    /// Events known missing now.
    pub missing_events: u64,
    /// Datagrams the socket refused to send (filled in by the driver).
    pub send_errors: u64,
    /// Drops by reason.
    pub dropped: DropCounters,
    /// Every sender heard from.
    pub peer_table: Vec<PeerStats>,
}

impl DropCounters {
    /// Counts a refused event payload under its reason.
    pub fn count_payload_error(&mut self, e: &super::payload::PayloadError) {
        match e {
            super::payload::PayloadError::TooDeep => self.too_deep += 1,
            _ => self.malformed += 1,
        }
    }
}
