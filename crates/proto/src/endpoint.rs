//! The protocol state machine of one instance: turns events into datagrams and datagrams into
//! events. No sockets, no clock: the caller passes `now` and moves the bytes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::crypto::{self, Keyring, NonceSequence, OpenError};
use super::reassembly::ReassemblyLimits;
use super::receiver::{DataFrame, Incoming, ReceiverConfig, Taken};
use super::replay::ReplayGuard;
use super::sender::{DeliveryMode, Outgoing, SendError, SenderConfig};
use super::seq::Seq;
use super::stats::ProtocolStats;
use super::wire::{self, Datagram, FrameRepr, NackEntries, NackEntry, WireError};

pub use super::receiver::{Delivery, Loss};

/// Settings of the protocol core. The library's `Options` fill them from the user's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Largest datagram sent, in bytes of UDP payload.
    pub max_payload_size: usize,
    /// Largest event payload sent or accepted.
    pub max_event_size: usize,
    /// The sending half.
    pub sender: SenderConfig,
    /// The receiving half.
    pub receiver: ReceiverConfig,
    /// Seed of the NACK backoff's random numbers.
    pub seed: u64,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig::new(1024, Duration::from_secs(3), 8 << 20)
    }
}

impl EndpointConfig {
    /// Defaults for everything but the three settings every user meets.
    pub fn new(max_payload_size: usize, message_ttl: Duration, max_event_size: usize) -> Self {
        let mut receiver = ReceiverConfig::default();
        receiver.reassembly = ReassemblyLimits { max_event_size, ttl: message_ttl, ..receiver.reassembly };
        EndpointConfig {
            max_payload_size,
            max_event_size,
            sender: SenderConfig { max_payload_size, ..SenderConfig::default() },
            receiver,
            seed: 0,
        }
    }
}

/// What an encrypting core needs: its keys, where its nonces start, and the wall clock
/// (for the send time sealed into each datagram and the freshness check).
#[derive(Debug, Clone)]
pub struct Sealing {
    /// The keys: the primary one seals, all open.
    pub keyring: Keyring,
    /// A random base for this run's nonces.
    pub nonce_base: u128,
    /// One reading of the wall clock: at this instant, this many milliseconds had passed
    /// since the Unix epoch. The core derives the wall time of any `now` from it.
    pub wall_clock: (Instant, u64),
    /// Sealed datagrams whose send time is further than this from our clock are refused as
    /// stale (a replay from before this instance knew the sender, or a badly set clock).
    pub freshness: Duration,
}

impl Sealing {
    fn wall_ms(&self, now: Instant) -> u64 {
        let (at, ms) = self.wall_clock;
        ms + now.saturating_duration_since(at).as_millis() as u64
    }
}

/// One datagram to send to the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The UDP payload.
    pub contents: Vec<u8>,
}

/// The protocol core of one running instance.
///
/// ```
/// use std::time::Instant;
/// use eventcast_proto::{DeliveryMode, Endpoint, EndpointConfig, payload};
/// let now = Instant::now();
/// let (mut a, mut b) = (Endpoint::new(EndpointConfig::default(), 1), Endpoint::new(EndpointConfig::default(), 2));
/// let mut p = Vec::new();
/// payload::encode("hi", &[5, 0, 0, 0, 0], &mut p).unwrap();
/// a.send(now, p.into(), DeliveryMode::Reliable).unwrap();
/// while let Some(t) = a.poll_transmit(now) {
///     b.handle_datagram(now, "127.0.0.1:9000".parse().unwrap(), &t.contents);
/// }
/// let got = b.poll_event().unwrap();
/// assert_eq!(got.view.name(&got.payload), "hi");
/// ```
pub struct Endpoint {
    config: EndpointConfig,
    id: u64,
    /// Set when encrypting: every datagram out is sealed, every plaintext one in refused.
    sealing: Option<Sealing>,
    nonces: NonceSequence,
    replay: ReplayGuard,
    outgoing: Outgoing,
    incoming: Incoming,
    stats: ProtocolStats,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A core for sender id `id`. `config` must have passed the library's `Options` validation
    /// (`max_payload_size` within 64..=65507).
    pub fn new(config: EndpointConfig, id: u64) -> Self {
        Self::with_sealing(config, id, None)
    }

    /// A core that, given `sealing`, seals everything it sends with the keyring's primary
    /// key and accepts only fresh, unreplayed datagrams sealed under one of its keys. Frames
    /// are packed into `max_payload_size` less the sealing overhead.
    pub fn with_sealing(mut config: EndpointConfig, id: u64, sealing: Option<Sealing>) -> Self {
        let nonce_base = sealing.as_ref().map_or(0, |s| s.nonce_base);
        if sealing.is_some() {
            config.sender.max_payload_size = config.max_payload_size - crypto::SEAL_OVERHEAD;
        }
        Endpoint {
            replay: ReplayGuard::new(config.receiver.max_senders),
            outgoing: Outgoing::new(config.sender.clone(), id),
            incoming: Incoming::new(config.receiver.clone(), config.seed ^ id),
            config,
            id,
            sealing,
            nonces: NonceSequence::new(nonce_base),
            stats: ProtocolStats::default(),
        }
    }

    /// The keyring, to install, use or remove keys while running.
    pub fn keyring_mut(&mut self) -> Option<&mut Keyring> {
        self.sealing.as_mut().map(|s| &mut s.keyring)
    }

    /// This instance's sender id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Says when this endpoint joined the group (started receiving): a sender whose stream
    /// began after that is owed every event of it (see [`super::StartAt`]). Without it,
    /// the first `now` any method is given counts.
    pub fn handle_start(&mut self, now: Instant) {
        self.incoming.observe(now);
    }

    /// False while the send queue or the retransmit buffer is full: the caller should wait
    /// (drain [`Endpoint::poll_transmit`], run timers) before sending more.
    pub fn can_send(&mut self, now: Instant) -> bool {
        self.incoming.observe(now);
        self.outgoing.can_send(now, &mut self.stats)
    }

    /// Queues an event payload (see [`super::payload::encode`]) and returns its sequence
    /// number. Small events share a datagram with the event queued before them when it has
    /// room; larger ones are cut into fragments.
    pub fn send(&mut self, now: Instant, payload: Bytes, mode: DeliveryMode) -> Result<u64, SendError> {
        self.incoming.observe(now);
        if payload.len() > self.config.max_event_size {
            return Err(SendError::TooLarge { size: payload.len(), max: self.config.max_event_size });
        }
        Ok(self.outgoing.send(now, payload, mode, &mut self.stats))
    }

    /// The next datagram to send to the group; `None` when there is none or pacing says wait
    /// (then [`Endpoint::poll_timeout`] says until when).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let mut contents = self.outgoing.poll_transmit(now)?;
        if let Some(sealing) = &self.sealing {
            contents = sealing.keyring.seal(&contents, self.nonces.next_nonce(), sealing.wall_ms(now));
        }
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += contents.len() as u64;
        Some(Transmit { contents })
    }

    /// Whether datagrams are queued (possibly held back by pacing).
    pub fn has_pending_transmit(&self) -> bool {
        self.outgoing.has_pending()
    }

    /// Feeds one received datagram. Anything wrong with it is dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        self.incoming.observe(now);
        let sealed = data.len() > wire::PREFIX_LEN
            && data[wire::field::MAGIC] == wire::MAGIC
            && data[wire::field::VERSION] == wire::VERSION
            && data[wire::field::FLAGS] == wire::FLAG_SEALED;
        match (&self.sealing, sealed) {
            (Some(sealing), true) => match sealing.keyring.open(data) {
                Ok(opened) => {
                    let skew = sealing.wall_ms(now).abs_diff(opened.sent_at_ms);
                    if skew > sealing.freshness.as_millis() as u64 {
                        self.stats.dropped.stale += 1;
                        return;
                    }
                    let sender = Datagram::new_checked(&opened.plain).map(|d| d.sender_id()).unwrap_or(0);
                    let mut nonce = [0u8; 16];
                    nonce[4..].copy_from_slice(&data[crypto::NONCE..crypto::CIPHERTEXT]);
                    if sender != self.id && !self.replay.accept(sender, u128::from_be_bytes(nonce)) {
                        self.stats.dropped.replayed += 1;
                        return;
                    }
                    self.handle_plain(now, from, &opened.plain, data.len())
                }
                Err(OpenError::Malformed) => self.stats.dropped.malformed += 1,
                Err(OpenError::UnknownKey(_)) => self.stats.dropped.unknown_key += 1,
                Err(OpenError::Forged) => self.stats.dropped.forged += 1,
            },
            (Some(_), false) if Datagram::new_checked(data).is_ok() => self.stats.dropped.plaintext_refused += 1,
            _ => self.handle_plain(now, from, data, data.len()),
        }
    }

    /// Handles a plaintext datagram (`wire_len` bytes long as received).
    fn handle_plain(&mut self, now: Instant, from: SocketAddr, data: &[u8], wire_len: usize) {
        let datagram = match Datagram::new_checked(data) {
            Ok(d) => d,
            Err(e) => return self.count_wire_error(e),
        };
        let sender = datagram.sender_id();
        if sender == self.id {
            self.stats.own_echo += 1;
            return;
        }
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += wire_len as u64;
        self.incoming.begin_datagram(now, sender);
        for frame in datagram.frames() {
            super::work::charge(1);
            let data = |flags, seq, fragment, bytes| DataFrame { sender, from, flags, seq, fragment, bytes };
            match frame {
                Ok(FrameRepr::Event { flags, seq, payload }) => {
                    self.incoming.handle_data(now, data(flags, seq.get(), None, payload), &mut self.stats)
                }
                Ok(FrameRepr::Fragment { flags, seq, index, count, data: bytes }) => {
                    self.incoming.handle_data(now, data(flags, seq.get(), Some((index, count)), bytes), &mut self.stats)
                }
                Ok(FrameRepr::Heartbeat { next_seq, oldest }) => {
                    self.incoming.handle_heartbeat(now, sender, from, next_seq.get(), oldest.get(), &mut self.stats)
                }
                Ok(FrameRepr::Nack { target, entries }) if target == self.id => {
                    self.outgoing.handle_nack(now, entries.iter(), &mut self.stats)
                }
                Ok(FrameRepr::Nack { target, entries }) => {
                    self.incoming.handle_foreign_nack(now, target, entries.iter(), &mut self.stats)
                }
                Ok(FrameRepr::Status { target, next_expected }) if target == self.id => {
                    self.outgoing.handle_status(now, sender, next_expected.get(), &mut self.stats)
                }
                Ok(FrameRepr::Status { .. }) => {} // about another sender's stream
                Ok(FrameRepr::Origin { age_ms }) => {
                    self.incoming.handle_origin(now, sender, from, age_ms, &mut self.stats)
                }
                Ok(FrameRepr::Unknown { .. }) => self.stats.dropped.unknown_frame += 1,
                Err(e) => self.count_wire_error(e),
            }
        }
        self.incoming.schedule_status(now);
        self.send_due_nacks(now);
        self.send_statuses();
    }

    /// The next received event.
    pub fn poll_event(&mut self) -> Option<Delivery> {
        self.incoming.poll_event()
    }

    /// Whether received events wait in [`Endpoint::poll_event`].
    pub fn has_events(&self) -> bool {
        self.incoming.has_events()
    }

    /// The application took these reliable events (runs per sender), handed out by
    /// [`Endpoint::poll_event`]: the progress this receiver reports to their senders (flow
    /// control) moves past them. Until then a sender is held within its flow window of
    /// what the application took, so a slow application slows its senders instead of
    /// losing events. Confirmations for senders forgotten since are ignored.
    pub fn handle_taken(&mut self, now: Instant, taken: impl IntoIterator<Item = Taken>) {
        for run in taken {
            self.incoming.handle_taken(run);
        }
        self.incoming.schedule_status(now);
        self.send_statuses();
    }

    /// The next report of events that could not be repaired.
    pub fn poll_loss(&mut self) -> Option<Loss> {
        self.incoming.poll_loss()
    }

    /// When [`Endpoint::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.outgoing.poll_timeout(), self.incoming.poll_timeout()].into_iter().flatten().min()
    }

    /// Runs the timers that are due: NACKs, heartbeats, expiry of incomplete events.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.incoming.observe(now);
        self.outgoing.handle_timeout(now, &mut self.stats);
        self.incoming.handle_timeout(now, &mut self.stats);
        self.send_due_nacks(now);
        self.send_statuses();
    }

    /// Queues this receiver's progress reports (flow control for the senders).
    fn send_statuses(&mut self) {
        for (target, next_expected) in self.incoming.take_statuses() {
            let next_expected = Seq::new(next_expected).unwrap_or(Seq::MAX);
            self.outgoing.push_control(FrameRepr::Status { target, next_expected });
            self.stats.statuses_sent += 1;
        }
    }

    /// The counters, with gauges and the per-sender table as of `now`.
    pub fn stats(&mut self, now: Instant) -> ProtocolStats {
        self.outgoing.refresh_gauges(&mut self.stats);
        self.incoming.refresh_gauges(&mut self.stats);
        let mut s = self.stats.clone();
        s.peer_table = self.incoming.peer_stats(now);
        s
    }

    fn send_due_nacks(&mut self, now: Instant) {
        // the frames' room: sealing takes its overhead off `max_payload_size` already
        let max_entries = (self.config.sender.max_payload_size
            - wire::HEADER_LEN
            - wire::FRAME_HEADER_LEN
            - wire::frame_field::NACK_ENTRIES)
            / wire::frame_field::NACK_ENTRY_LEN;
        for (target, entries) in self.incoming.due_nacks(now, &mut self.stats) {
            for chunk in entries.chunks(max_entries.max(1)) {
                let mut bytes = Vec::with_capacity(chunk.len() * wire::frame_field::NACK_ENTRY_LEN);
                chunk.iter().for_each(|e: &NackEntry| e.emit(&mut bytes));
                if let Some(entries) = NackEntries::new(&bytes) {
                    self.outgoing.push_control(FrameRepr::Nack { target, entries });
                    self.stats.nacks_sent += 1;
                }
            }
        }
    }

    fn count_wire_error(&mut self, e: WireError) {
        let d = &mut self.stats.dropped;
        match e {
            WireError::Malformed => d.malformed += 1,
            WireError::BadMagic => d.bad_magic += 1,
            WireError::BadVersion(_) => d.bad_version += 1,
            WireError::UnsupportedFlags(_) => d.unsupported_flags += 1,
            WireError::SealedWithoutKey => d.sealed_without_key += 1,
            WireError::OutOfRange => d.out_of_range += 1,
        }
    }
}
