//! The driver task: one per running instance.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use socket2::SockAddr;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use super::batch::{self, BATCH};
use super::emit_ring::{Emit, EmitRing};
use super::gso::{self, Received};
use crate::emitter::queue::{DeliveryQueue, Item};
use crate::event::{Event, Loss, SenderId};
use crate::proto::crypto::Keyring;
use crate::proto::{DeliveryMode, Endpoint, ProtocolStats};
use crate::transport::{Extra, NATS_SOURCE, TransportCounters, is_listed, next_from_nats, readable};

/// Datagrams read per system call (recvmmsg), and calls before dispatching and looking at
/// commands again (NATS).
const RECV_CALLS: usize = 4;
/// Bytes read from a socket per turn at most before the driver hands events over and looks
/// at timers and emits again: with GRO (many datagrams per buffer) or 64 KB datagrams, a
/// turn bounded by calls alone could bring more events than the delivery queue holds.
const TURN_BYTES: usize = 1 << 20;
/// What each received buffer counts against `TURN_BYTES` at least: a flood of tiny
/// datagrams ends a turn after 256 of them, as four calls of 64 did before.
const TURN_MIN_CHARGE: usize = TURN_BYTES / (4 * BATCH);
/// The longest the driver waits to collect what the listeners took (and report it to the
/// senders) when nothing else wakes it, while they take something each time...
const COLLECT_TAKEN: Duration = Duration::from_millis(2);
/// ...doubling up to this while they take nothing (a listener blocks), so that a stuck
/// listener does not keep the driver waking 500 times a second.
const COLLECT_TAKEN_IDLE: Duration = Duration::from_millis(64);
/// Datagrams the driver takes from the core per send call when sends are segmented (runs
/// of up to 64 go as one message, 64 messages per call).
const SEND_BATCH: usize = gso::MAX_DATAGRAMS;
/// Room for each received datagram: the largest UDP payload. The buffer is one zeroed
/// allocation that the OS maps lazily, so only pages datagrams touch become resident.
const RECV_STRIDE: usize = 65_536;

/// Requests that are answered even while emits wait.
pub(crate) enum Control {
    /// Reply with the core's counters.
    Stats(oneshot::Sender<ProtocolStats>),
    /// Send what is queued, then stop; reply with the run's final counters.
    Stop(oneshot::Sender<ProtocolStats>),
    /// Replace the keyring (key rotation).
    SetKeyring(Keyring),
}

pub(crate) struct Driver {
    pub core: Endpoint,
    /// The multicast socket; `None` with multicast off.
    pub socket: Option<UdpSocket>,
    pub destination: SocketAddr,
    /// Unicast peers and NATS.
    pub extra: Extra,
    pub transport_counters: Arc<TransportCounters>,
    /// Where emits leave events (the driver stops taking while the core cannot take more:
    /// backpressure).
    pub emits: Arc<EmitRing>,
    /// Events taken from the ring that the core could not take yet.
    pub pending: VecDeque<Emit>,
    pub control: mpsc::UnboundedReceiver<Control>,
    /// Where received events go to the listeners (the dispatcher thread).
    pub queue: Arc<DeliveryQueue>,
    pub send_errors: u64,
}

/// What woke the driver.
enum Wake {
    Control(Option<Control>),
    Readable(io::Result<()>),
    /// The unicast peers' socket has datagrams.
    FromPeers(io::Result<()>),
    /// A datagram from NATS (`None`: the link ended).
    FromNats(Option<crate::transport::Inbound>),
    Timer,
    /// Events wait in the ring.
    Emit,
    /// The dispatcher took events: there is room again, and taken events to report.
    Dispatched,
}

/// Buffers of the batched socket I/O.
struct Buffers {
    recv: Vec<u8>,
    meta: Vec<Received>,
    /// Whether sends may go segmented (UDP GSO); off after the kernel refused one.
    gso: bool,
    plan: gso::Plan,
    /// Datagrams the core produced that the socket has not taken yet.
    send: std::collections::VecDeque<Vec<u8>>,
    destination: SockAddr,
    /// Reliable events the listeners took, to report to the core.
    taken: Vec<crate::proto::Taken>,
    /// Reliable events handed to the dispatcher whose taking was not collected yet.
    outstanding: u64,
    /// While some are: when to collect what was taken at the latest, if nothing else wakes
    /// the driver before (the dispatcher does not wake it per batch: the two would wake
    /// each other thousands of times a second under load).
    collect_at: Option<Instant>,
    /// The wait before the next collection (see `COLLECT_TAKEN_IDLE`).
    collect_every: Duration,
}

impl Driver {
    pub async fn run(mut self) {
        let mut io = Buffers {
            recv: vec![0u8; RECV_STRIDE * BATCH],
            meta: vec![Received::default(); BATCH],
            gso: true,
            plan: gso::Plan::default(),
            send: Default::default(),
            destination: self.destination.into(),
            taken: Vec::new(),
            outstanding: 0,
            collect_at: None,
            collect_every: COLLECT_TAKEN,
        };
        self.core.handle_start(Instant::now());
        if let Some(socket) = &self.socket
            && !gso::enable_gro(socket)
        {
            tracing::debug!(target: "eventcast::net", "no UDP GRO on this socket: datagrams arrive one by one");
        }
        loop {
            self.flush(&mut io).await;
            let accepting = self.core.can_send(Instant::now());
            let pending = !self.pending.is_empty();
            let deadline = [self.core.poll_timeout(), io.collect_at].into_iter().flatten().min();
            // Control first, so a key change or a stop takes effect before emits queued after
            // it; socket, timers and emits at random among themselves, so that none of them
            // starves the others under load.
            let wake = tokio::select! {
                biased;
                control = self.control.recv() => Wake::Control(control),
                other = async {
                    tokio::select! {
                        ready = readable(self.socket.as_ref()) => Wake::Readable(ready),
                        ready = readable(self.extra.peers.as_ref().map(|p| &p.socket)) => Wake::FromPeers(ready),
                        message = next_from_nats(&mut self.extra.nats) => Wake::FromNats(message),
                        () = sleep_until(deadline), if deadline.is_some() => Wake::Timer,
                        () = emits_ready(&self.emits, pending), if accepting => Wake::Emit,
                        () = self.queue.driver_wake.notified() => Wake::Dispatched,
                    }
                } => other,
            };
            match wake {
                Wake::Control(Some(Control::Stats(reply))) => {
                    let _ = reply.send(self.stats());
                }
                Wake::Control(Some(Control::SetKeyring(ring))) => {
                    if let Some(current) = self.core.keyring_mut() {
                        *current = ring;
                    }
                }
                Wake::Control(Some(Control::Stop(reply))) => {
                    // emits queued before the stop still go out; later ones fail
                    let mut rest = std::mem::take(&mut self.pending);
                    self.emits.close(&mut rest);
                    for Emit { payload, mode } in rest {
                        self.send(Instant::now(), payload, mode);
                        self.drain(&mut io).await;
                    }
                    self.drain(&mut io).await;
                    self.hand_over(&mut io, true);
                    let _ = reply.send(self.stats());
                    break;
                }
                Wake::Control(None) => break,
                Wake::Readable(ready) => {
                    if let Err(e) = ready {
                        tracing::warn!(target: "eventcast::net", error = %e, "socket not readable");
                    }
                    if let Some(socket) = &self.socket {
                        receive(&mut self.core, socket, &mut io, None);
                    }
                    self.hand_over(&mut io, false);
                }
                Wake::FromPeers(ready) => {
                    if let Err(e) = ready {
                        tracing::warn!(target: "eventcast::net", error = %e, "peer socket not readable");
                    }
                    if let Some(socket) = self.extra.peer_socket() {
                        let counters = &self.transport_counters;
                        let peers = self.extra.listed_peers();
                        let listed = |from| is_listed(&peers, from, counters);
                        receive(&mut self.core, socket, &mut io, Some((&counters.peer_datagrams_in, &listed)));
                    }
                    self.hand_over(&mut io, false);
                }
                Wake::FromNats(Some(first)) => {
                    let now = Instant::now();
                    self.core.handle_datagram(now, NATS_SOURCE, &first.datagram);
                    for _ in 1..BATCH * RECV_CALLS {
                        let Some(next) = self.extra.try_next_from_nats() else { break };
                        self.core.handle_datagram(now, NATS_SOURCE, &next.datagram);
                    }
                    self.hand_over(&mut io, false);
                }
                Wake::FromNats(None) => {
                    tracing::warn!(target: "eventcast::net", "the NATS link ended; the other transports go on");
                }
                Wake::Timer => {
                    self.core.handle_timeout(Instant::now());
                    self.hand_over(&mut io, false);
                }
                Wake::Emit => self.handle_emits(),
                Wake::Dispatched => self.hand_over(&mut io, false),
            }
        }
        self.queue.close();
        self.emits.close(&mut VecDeque::new());
        std::mem::take(&mut self.extra).close(&self.transport_counters).await;
        tracing::debug!(target: "eventcast::net", sender = %SenderId(self.core.id()), "driver stopped");
    }

    fn stats(&mut self) -> ProtocolStats {
        let mut stats = self.core.stats(Instant::now());
        stats.send_errors = self.send_errors;
        stats
    }

    /// Gives the core the events taken earlier, or else everything the ring holds now (one
    /// swap, at most the ring's bound), while the core has room; small events emitted
    /// together share datagrams.
    fn handle_emits(&mut self) {
        let now = Instant::now();
        if self.pending.is_empty() {
            self.emits.take_all(&mut self.pending);
        }
        while self.core.can_send(now) {
            let Some(Emit { payload, mode }) = self.pending.pop_front() else { return };
            self.send(now, payload, mode);
        }
    }

    fn send(&mut self, now: Instant, payload: bytes::Bytes, mode: DeliveryMode) {
        if let Err(e) = self.core.send(now, payload, mode) {
            // emit() checked the size already; this is a bug if it happens.
            tracing::error!(target: "eventcast::net", error = ?e, "event refused by the protocol core");
        }
    }

    /// Reports what the listeners took to the core, then moves received events and loss
    /// reports to the dispatcher while its queue has room (all of them when `stopping`);
    /// the rest waits in the core, bounded there. Never waits.
    fn hand_over(&mut self, io: &mut Buffers, stopping: bool) {
        let mut queue = self.queue.lock();
        queue.take_taken(&mut io.taken);
        let mut pushed = false;
        while stopping || queue.has_room() {
            let Some(d) = self.core.poll_event() else { break };
            let taken = d.reliable.then_some((d.sender, d.seq));
            io.outstanding += u64::from(d.reliable);
            let from = (d.from != NATS_SOURCE).then_some(d.from);
            let event = Event::new(d.payload, d.view, SenderId(d.sender), from, d.seq);
            let in_queue = queue.push(Item::Event { event, taken });
            debug_assert!(in_queue.is_ok(), "only the driver closes the queue, after its last push");
            pushed = true;
        }
        while stopping || queue.has_room() {
            let Some(loss) = self.core.poll_loss() else { break };
            tracing::warn!(target: "eventcast::net", sender = %SenderId(loss.sender), first = loss.first, last = loss.last,
                "events could not be repaired and were skipped");
            let in_queue = queue.push(Item::Loss(Loss::from_core(loss)));
            debug_assert!(in_queue.is_ok(), "only the driver closes the queue, after its last push");
            pushed = true;
        }
        let wake = pushed && queue.dispatcher_idle();
        drop(queue);
        if wake {
            self.queue.notify_dispatcher();
        }
        let now = Instant::now();
        if !io.taken.is_empty() {
            io.outstanding = io.outstanding.saturating_sub(io.taken.iter().map(|t| t.count).sum());
            self.core.handle_taken(now, io.taken.drain(..));
            io.collect_every = COLLECT_TAKEN;
        }
        io.collect_at = match io.outstanding {
            0 => None,
            _ if io.collect_at.is_some_and(|t| t > now) => io.collect_at,
            _ => {
                let at = now + io.collect_every;
                io.collect_every = (io.collect_every * 2).min(COLLECT_TAKEN_IDLE);
                Some(at)
            }
        };
    }

    /// Sends what the core has ready now (pacing may hold some back), a batch per system
    /// call.
    async fn flush(&mut self, io: &mut Buffers) {
        let now = Instant::now();
        loop {
            let collect = if io.gso { SEND_BATCH } else { BATCH };
            while io.send.len() < collect {
                match self.core.poll_transmit(now) {
                    Some(t) => io.send.push_back(t.contents),
                    None => break,
                }
            }
            if io.send.is_empty() {
                return;
            }
            let refs: Vec<&[u8]> = io.send.iter().map(Vec::as_slice).collect();
            // The multicast socket sets the pace (it waits when full); the other transports
            // get what it took. Without multicast, every datagram goes at once.
            let sent = match &self.socket {
                Some(socket) if io.gso => {
                    let (destination, plan) = (&io.destination, &mut io.plan);
                    match socket.try_io(Interest::WRITABLE, || gso::send_segmented(socket, destination, &refs, plan)) {
                        Err(e) if gso::is_gso_unsupported(&e) => {
                            tracing::debug!(target: "eventcast::net", error = %e, "UDP GSO refused: sending datagram by datagram");
                            io.gso = false;
                            continue;
                        }
                        sent => sent,
                    }
                }
                Some(socket) => {
                    socket.try_io(Interest::WRITABLE, || batch::send_to_many(socket, &io.destination, &refs))
                }
                None => Ok(refs.len()),
            };
            match sent {
                Ok(n) => {
                    self.extra.send_to_peers(&refs[..n], &self.transport_counters);
                    drop(refs);
                    let taken = io.send.drain(..n);
                    if self.extra.has_nats() {
                        self.extra.send_to_nats(taken.map(bytes::Bytes::from), &self.transport_counters);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Some(socket) = &self.socket
                        && let Err(e) = socket.writable().await
                    {
                        tracing::warn!(target: "eventcast::net", error = %e, "socket not writable");
                    }
                }
                Err(e) => {
                    // The group refused the first datagram (its interface went down, say):
                    // count it; the other transports still get it.
                    self.send_errors += 1;
                    tracing::warn!(target: "eventcast::net", error = %e, destination = %self.destination, "send failed");
                    drop(refs);
                    if let Some(first) = io.send.pop_front() {
                        self.extra.send_to_peers(&[&first], &self.transport_counters);
                        if self.extra.has_nats() {
                            self.extra
                                .send_to_nats(std::iter::once(bytes::Bytes::from(first)), &self.transport_counters);
                        }
                    }
                }
            }
        }
    }

    /// Sends everything queued, waiting for pacing where it applies.
    async fn drain(&mut self, io: &mut Buffers) {
        loop {
            self.flush(io).await;
            if !self.core.has_pending_transmit() {
                return;
            }
            sleep_until(self.core.poll_timeout()).await;
        }
    }
}

/// Reads what `socket` has into the core, a batch per system call, [`TURN_BYTES`] at most.
/// For the peer socket, `peers` counts the datagrams and says which sources are listed.
fn receive(
    core: &mut Endpoint,
    socket: &UdpSocket,
    io: &mut Buffers,
    peers: Option<(&std::sync::atomic::AtomicU64, &dyn Fn(SocketAddr) -> bool)>,
) {
    let mut read = 0;
    while read < TURN_BYTES {
        let got =
            socket.try_io(Interest::READABLE, || gso::recv_segmented(socket, &mut io.recv, RECV_STRIDE, &mut io.meta));
        let n = match got {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) => {
                tracing::warn!(target: "eventcast::net", error = %e, "receive failed");
                return;
            }
        };
        if let Some((c, _)) = peers {
            let datagrams = io.meta.iter().take(n).map(|m| m.datagrams().count().max(1)).sum::<usize>();
            c.fetch_add(datagrams as u64, std::sync::atomic::Ordering::Relaxed);
        }
        // tiny datagrams are charged as if larger, so that a turn ends after a few calls
        read += io.meta.iter().take(n).map(|m| m.len.max(TURN_MIN_CHARGE)).sum::<usize>();
        let now = Instant::now();
        for (i, received) in io.meta.iter().take(n).enumerate() {
            if let Some(from) = received.from
                && peers.is_none_or(|(_, listed)| listed(from))
            {
                let buffer = &io.recv[i * RECV_STRIDE..];
                for datagram in received.datagrams() {
                    core.handle_datagram(now, from, &buffer[datagram]);
                }
            }
        }
        if n < BATCH {
            return;
        }
    }
}

/// Returns when the driver has events to give the core: at once when some wait already.
async fn emits_ready(ring: &EmitRing, pending: bool) {
    if !pending {
        ring.ready().await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => tokio::task::yield_now().await,
    }
}
