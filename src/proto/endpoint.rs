//! The protocol state machine of one instance: turns events into datagrams and datagrams into
//! events. No sockets, no clock: the caller passes `now` and moves the bytes.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::payload::PayloadView;
use super::reassembly::{Outcome, Reassembler, ReassemblyLimits};
use super::stats::Stats;
use super::window::{SeqStatus, SeqWindow};
use super::wire::{self, Datagram, FrameRepr, WireError};

/// Settings of the protocol core. [`crate::Options`] fills them from the user's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Largest datagram sent, in bytes of UDP payload.
    pub max_payload_size: usize,
    /// How long an incomplete event waits for its next fragment.
    pub message_ttl: Duration,
    /// Largest event payload sent or accepted.
    pub max_event_size: usize,
    /// Incomplete events held per sender.
    pub max_partial_per_sender: usize,
    /// Bytes held by all incomplete events.
    pub max_reassembly_bytes: usize,
    /// Senders remembered.
    pub max_senders: usize,
    /// Bytes of datagrams waiting to be sent before [`Endpoint::can_send`] says no.
    pub max_tx_queue_bytes: usize,
    /// Received events waiting in [`Endpoint::poll_event`] before new ones are dropped.
    pub max_delivery_queue: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            max_payload_size: 1024,
            message_ttl: Duration::from_secs(3),
            max_event_size: 8 << 20,
            max_partial_per_sender: 32,
            max_reassembly_bytes: 64 << 20,
            max_senders: 1024,
            max_tx_queue_bytes: 4 << 20,
            max_delivery_queue: 65_536,
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
}

/// One datagram to send to the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The UDP payload.
    pub contents: Vec<u8>,
}

#[derive(Debug)]
struct Peer {
    window: SeqWindow,
    last_heard: Instant,
}

/// The protocol core of one running instance.
///
/// ```
/// use std::time::Instant;
/// use eventcast::proto::{Endpoint, EndpointConfig, payload};
/// let now = Instant::now();
/// let (mut a, mut b) = (Endpoint::new(EndpointConfig::default(), 1), Endpoint::new(EndpointConfig::default(), 2));
/// let mut p = Vec::new();
/// payload::encode("hi", &[5, 0, 0, 0, 0], &mut p).unwrap();
/// a.send(&p).unwrap();
/// while let Some(t) = a.poll_transmit() {
///     b.handle_datagram(now, "127.0.0.1:9000".parse().unwrap(), &t.contents);
/// }
/// let got = b.poll_event().unwrap();
/// assert_eq!(got.view.name(&got.payload), "hi");
/// ```
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    id: u64,
    next_seq: u64,
    tx: VecDeque<Vec<u8>>,
    tx_bytes: usize,
    deliveries: VecDeque<Delivery>,
    peers: HashMap<u64, Peer>,
    reassembly: Reassembler,
    stats: Stats,
}

/// Why an event cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The payload is larger than `max_event_size`.
    TooLarge {
        /// Payload size.
        size: usize,
        /// The limit.
        max: usize,
    },
}

impl Endpoint {
    /// A core for sender id `id`. `config` must have passed [`crate::Options`] validation
    /// (`max_payload_size` within 64..=65507).
    pub fn new(config: EndpointConfig, id: u64) -> Self {
        let reassembly = Reassembler::new(ReassemblyLimits {
            max_event_size: config.max_event_size,
            max_partial_per_sender: config.max_partial_per_sender,
            max_bytes: config.max_reassembly_bytes.max(config.max_event_size),
            ttl: config.message_ttl,
        });
        Endpoint {
            config,
            id,
            next_seq: 0,
            tx: VecDeque::new(),
            tx_bytes: 0,
            deliveries: VecDeque::new(),
            peers: HashMap::new(),
            reassembly,
            stats: Stats::default(),
        }
    }

    /// This instance's sender id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// False while the queue of datagrams to send is over its bound: the caller should
    /// drain [`Endpoint::poll_transmit`] before sending more.
    pub fn can_send(&self) -> bool {
        self.tx_bytes < self.config.max_tx_queue_bytes
    }

    /// Queues an event payload (see [`super::payload::encode`]) and returns its sequence
    /// number. Small events share a datagram with the event queued before them when it has
    /// room; larger ones are cut into fragments.
    pub fn send(&mut self, payload: &[u8]) -> Result<u64, SendError> {
        if payload.len() > self.config.max_event_size {
            return Err(SendError::TooLarge {
                size: payload.len(),
                max: self.config.max_event_size,
            });
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let max = self.config.max_payload_size;
        let whole = FrameRepr::Event {
            flags: 0,
            seq,
            payload,
        };
        if wire::HEADER_LEN + whole.buffer_len() <= max {
            self.push_frame(whole);
        } else {
            let chunk = max - wire::HEADER_LEN - wire::FRAGMENT_OVERHEAD;
            let count = payload.len().div_ceil(chunk) as u32;
            for (index, data) in payload.chunks(chunk).enumerate() {
                let frame = FrameRepr::Fragment {
                    flags: 0,
                    seq,
                    index: index as u32,
                    count,
                    data,
                };
                self.push_frame(frame);
                self.stats.fragments_out += 1;
            }
        }
        self.stats.events_out += 1;
        Ok(seq)
    }

    fn push_frame(&mut self, frame: FrameRepr<'_>) {
        let len = frame.buffer_len();
        let max = self.config.max_payload_size;
        match self.tx.back_mut() {
            Some(last) if last.len() + len <= max => {
                frame.emit(last);
            }
            _ => {
                let mut d = Vec::with_capacity(max);
                Datagram::emit_header(&mut d, self.id);
                frame.emit(&mut d);
                self.tx_bytes += wire::HEADER_LEN;
                self.tx.push_back(d);
            }
        }
        self.tx_bytes += len;
    }

    /// The next datagram to send to the group.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let contents = self.tx.pop_front()?;
        self.tx_bytes -= contents.len();
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += contents.len() as u64;
        Some(Transmit { contents })
    }

    /// Feeds one received datagram. Anything wrong with it is dropped and counted.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let datagram = match Datagram::new_checked(data) {
            Ok(d) => d,
            Err(e) => {
                self.count_wire_error(e);
                return;
            }
        };
        let sender = datagram.sender_id();
        if sender == self.id {
            self.stats.own_echo += 1;
            return;
        }
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += data.len() as u64;
        self.touch_peer(now, sender);
        for frame in datagram.frames() {
            match frame {
                Ok(FrameRepr::Event { seq, payload, .. }) => {
                    if self.check_fresh(sender, seq) {
                        self.deliver(sender, from, seq, payload.to_vec());
                    }
                }
                Ok(FrameRepr::Fragment {
                    seq,
                    index,
                    count,
                    data,
                    ..
                }) => {
                    self.stats.fragments_in += 1;
                    if !self.check_fresh(sender, seq) {
                        continue;
                    }
                    let outcome = self.reassembly.insert(
                        now,
                        sender,
                        seq,
                        index,
                        count,
                        data,
                        &mut self.stats,
                    );
                    if let Outcome::Complete(payload) = outcome {
                        self.deliver(sender, from, seq, payload);
                    }
                }
                Ok(FrameRepr::Unknown { .. }) => self.stats.dropped.unknown_frame += 1,
                Err(e) => self.count_wire_error(e),
            }
        }
        self.refresh_gauges();
    }

    /// The next received event.
    pub fn poll_event(&mut self) -> Option<Delivery> {
        self.deliveries.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.reassembly.next_deadline()
    }

    /// Runs the timers that are due: discards incomplete events past `message_ttl`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.reassembly.expire(now, &mut self.stats);
        self.refresh_gauges();
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    fn count_wire_error(&mut self, e: WireError) {
        let d = &mut self.stats.dropped;
        match e {
            WireError::Malformed => d.malformed += 1,
            WireError::BadMagic => d.bad_magic += 1,
            WireError::BadVersion(_) => d.bad_version += 1,
            WireError::UnsupportedFlags(_) => d.unsupported_flags += 1,
            WireError::SealedWithoutKey => d.sealed_without_key += 1,
        }
    }

    fn touch_peer(&mut self, now: Instant, sender: u64) {
        if let Some(peer) = self.peers.get_mut(&sender) {
            peer.last_heard = now;
            return;
        }
        if self.peers.len() >= self.config.max_senders {
            let stalest = self
                .peers
                .iter()
                .min_by_key(|(_, p)| p.last_heard)
                .map(|(id, _)| *id);
            if let Some(id) = stalest {
                self.peers.remove(&id);
                self.reassembly.forget_sender(id);
                self.stats.dropped.sender_evicted += 1;
            }
        }
        self.peers.insert(
            sender,
            Peer {
                window: SeqWindow::default(),
                last_heard: now,
            },
        );
    }

    fn check_fresh(&mut self, sender: u64, seq: u64) -> bool {
        let Some(peer) = self.peers.get(&sender) else {
            return false;
        };
        match peer.window.status(seq) {
            SeqStatus::Fresh => true,
            SeqStatus::Duplicate => {
                self.stats.dropped.duplicate += 1;
                false
            }
            SeqStatus::TooOld => {
                self.stats.dropped.too_old += 1;
                false
            }
        }
    }

    fn deliver(&mut self, sender: u64, from: SocketAddr, seq: u64, payload: Vec<u8>) {
        let view = match PayloadView::parse(&payload) {
            Ok(v) => v,
            Err(_) => {
                self.stats.dropped.malformed += 1;
                return;
            }
        };
        if let Some(peer) = self.peers.get_mut(&sender) {
            peer.window.mark(seq);
        }
        if self.deliveries.len() >= self.config.max_delivery_queue {
            self.stats.dropped.delivery_queue_full += 1;
            return;
        }
        self.stats.events_in += 1;
        self.deliveries.push_back(Delivery {
            sender,
            from,
            seq,
            payload: Bytes::from(payload),
            view,
        });
    }

    fn refresh_gauges(&mut self) {
        self.stats.reassembly_in_flight = self.reassembly.in_flight() as u64;
        self.stats.reassembly_bytes = self.reassembly.bytes() as u64;
        self.stats.peers = self.peers.len() as u64;
    }
}
