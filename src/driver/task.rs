//! The driver task: one per running instance.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

use crate::emitter::Listeners;
use crate::event::{Event, SenderId};
use crate::proto::crypto::Keyring;
use crate::proto::{DeliveryMode, Endpoint, Stats};

/// How many queued commands the driver takes in one go before flushing datagrams; also the
/// capacity of the command channel, so a fast emitter waits instead of queueing without bound.
pub(crate) const COMMAND_BATCH: usize = 1024;
/// Datagrams read in one go before dispatching and looking at commands again.
const RECV_BATCH: usize = 64;
/// Receive buffer: the largest UDP payload.
const RECV_BUFFER: usize = 65_536;

/// An event for the driver to send: the encoded payload and how to deliver it. These wait
/// in a bounded channel that the driver stops reading while the core cannot take more
/// (backpressure).
pub(crate) struct Emit(pub Vec<u8>, pub DeliveryMode);

/// Requests that are answered even while emits wait.
pub(crate) enum Control {
    /// Reply with the core's counters.
    Stats(oneshot::Sender<Stats>),
    /// Send what is queued, then stop.
    Stop(oneshot::Sender<()>),
    /// Replace the keyring (key rotation).
    SetKeyring(Keyring),
}

pub(crate) struct Driver {
    pub core: Endpoint,
    pub socket: UdpSocket,
    pub destination: SocketAddr,
    pub commands: mpsc::Receiver<Emit>,
    pub control: mpsc::UnboundedReceiver<Control>,
    pub listeners: Arc<Listeners>,
    pub send_errors: u64,
}

impl Driver {
    pub async fn run(mut self) {
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            self.flush().await;
            let accepting = self.core.can_send(Instant::now());
            let deadline = self.core.poll_timeout();
            tokio::select! {
                control = self.control.recv() => match control {
                    Some(Control::Stats(reply)) => {
                        let mut stats = self.core.stats(Instant::now());
                        stats.send_errors = self.send_errors;
                        let _ = reply.send(stats);
                    }
                    Some(Control::SetKeyring(ring)) => {
                        if let Some(current) = self.core.keyring_mut() {
                            *current = ring;
                        }
                    }
                    Some(Control::Stop(reply)) => {
                        // emits queued before the stop still go out
                        while let Ok(Emit(payload, mode)) = self.commands.try_recv() {
                            self.send(payload, mode);
                            self.drain().await;
                        }
                        self.drain().await;
                        let _ = reply.send(());
                        break;
                    }
                    None => break,
                },
                emit = self.commands.recv(), if accepting => {
                    let Some(emit) = emit else { break };
                    self.handle_emits(emit);
                }
                received = self.socket.recv_from(&mut buf) => {
                    self.handle_received(received, &mut buf);
                    self.dispatch().await;
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.core.handle_timeout(Instant::now());
                    self.dispatch().await;
                }
            }
        }
        tracing::debug!(target: "eventcast::net", sender = %SenderId(self.core.id()), "driver stopped");
    }

    /// Handles `first` and whatever else is already queued, up to a batch and while the
    /// core has room, so that small events emitted together share datagrams.
    fn handle_emits(&mut self, first: Emit) {
        let Emit(payload, mode) = first;
        self.send(payload, mode);
        for _ in 1..COMMAND_BATCH {
            if !self.core.can_send(Instant::now()) {
                return;
            }
            match self.commands.try_recv() {
                Ok(Emit(payload, mode)) => self.send(payload, mode),
                Err(_) => return,
            }
        }
    }

    fn send(&mut self, payload: Vec<u8>, mode: DeliveryMode) {
        if let Err(e) = self.core.send(Instant::now(), payload.into(), mode) {
            // emit() checked the size already; this is a bug if it happens.
            tracing::error!(target: "eventcast::net", error = ?e, "event refused by the protocol core");
        }
    }

    fn handle_received(&mut self, first: io::Result<(usize, SocketAddr)>, buf: &mut [u8]) {
        let mut received = first;
        for batch_left in (0..RECV_BATCH).rev() {
            match received {
                Ok((n, from)) => self.core.handle_datagram(Instant::now(), from, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    tracing::warn!(target: "eventcast::net", error = %e, "receive failed");
                    break;
                }
            }
            if batch_left == 0 {
                break;
            }
            received = self.socket.try_recv_from(buf);
        }
    }

    /// Hands received events and loss reports to the listeners.
    async fn dispatch(&mut self) {
        while let Some(d) = self.core.poll_event() {
            let event = Event::new(d.payload, d.view, SenderId(d.sender), Some(d.from), d.seq);
            self.listeners.dispatch(&event).await;
        }
        while let Some(loss) = self.core.poll_loss() {
            tracing::warn!(target: "eventcast::net", sender = %SenderId(loss.sender), first = loss.first, last = loss.last,
                "events could not be repaired and were skipped");
            self.listeners.dispatch_loss(&loss.into());
        }
    }

    /// Sends what the core has ready now (pacing may hold some back).
    async fn flush(&mut self) {
        while let Some(t) = self.core.poll_transmit(Instant::now()) {
            if let Err(e) = self.socket.send_to(&t.contents, self.destination).await {
                self.send_errors += 1;
                tracing::warn!(target: "eventcast::net", error = %e, destination = %self.destination, "send failed");
            }
        }
    }

    /// Sends everything queued, waiting for pacing where it applies.
    async fn drain(&mut self) {
        loop {
            self.flush().await;
            if !self.core.has_pending_transmit() {
                return;
            }
            sleep_until(self.core.poll_timeout()).await;
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => tokio::task::yield_now().await,
    }
}
