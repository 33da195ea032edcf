//! Counters kept by the protocol core.

use serde::Serialize;

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
    /// Truncated datagrams, frames or payloads; inconsistent fragments.
    pub malformed: u64,
    /// Frames of a type this version does not know (skipped).
    pub unknown_frame: u64,
    /// Events or fragments already delivered or already held.
    pub duplicate: u64,
    /// Events older than the duplicate window.
    pub too_old: u64,
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
/// let stats = eventcast::proto::Stats::default();
/// assert_eq!(stats.events_in, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
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
    /// This instance's own datagrams looped back by the OS, ignored.
    pub own_echo: u64,
    /// Incomplete events being reassembled now.
    pub reassembly_in_flight: u64,
    /// Bytes held by incomplete events now.
    pub reassembly_bytes: u64,
    /// Senders in the peer table now.
    pub peers: u64,
    /// Datagrams the socket refused to send (filled in by the driver).
    pub send_errors: u64,
    /// Drops by reason.
    pub dropped: DropCounters,
}
