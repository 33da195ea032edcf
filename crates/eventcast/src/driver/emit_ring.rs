//! The emit ring: where `emit` leaves encoded events for the driver.
//!
//! A bounded queue behind one short lock, built so that a busy emitter and the driver do not
//! wake each other per event (a bounded channel does: every event the driver takes frees
//! one slot and wakes a waiting emitter, which adds one event and waits again):
//!
//! - the driver is woken only when the ring goes from empty to non-empty; while it has
//!   events it comes back for them by itself;
//! - the driver takes everything queued in one swap, so an emitter that waited for room
//!   is woken once per batch, with the whole ring free;
//! - small payloads are copied into a shared arena (one allocation per [`ARENA_CHUNK`]),
//!   so the steady state does not allocate per event and the driver thread does not free
//!   memory another thread allocated, once per event, through the allocator's locks.
//!
//! Bounded by [`MAX_EVENTS`] and [`MAX_BYTES`] (an event larger than that still goes alone
//! into an empty ring, so no event the options allow is refused); emits that find it full
//! wait (`emit`) or fail with `Backpressure` (`try_emit`), and are counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use crate::proto::DeliveryMode;

/// Events the ring holds at most.
pub(crate) const MAX_EVENTS: usize = 4096;
/// Payload bytes the ring holds at most (unless one event alone is larger).
pub(crate) const MAX_BYTES: usize = 4 << 20;
/// Size of each arena allocation that small payloads are copied into.
pub(crate) const ARENA_CHUNK: usize = 64 << 10;
/// Payloads from this size on are moved in as they are, not copied into the arena.
pub(crate) const COPY_BELOW: usize = 4096;

/// An event for the driver to send: the encoded payload and how to deliver it.
pub(crate) struct Emit {
    pub payload: Bytes,
    pub mode: DeliveryMode,
}

/// Why a push did not happen.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The ring is full now; nothing was queued.
    Full,
    /// The driver stopped; nothing will be sent.
    Closed,
}

#[derive(Default)]
struct State {
    events: VecDeque<Emit>,
    bytes: usize,
    arena: BytesMut,
    closed: bool,
    /// An emitter found the ring full and waits for the driver to take.
    emitter_waiting: bool,
}

/// Encoded events waiting to go into the ring, oldest first: one (`Option`, so that a
/// single emit allocates no queue) or a batch (`VecDeque`).
pub(crate) trait Pending {
    /// The payload length of the oldest, if any.
    fn front_len(&self) -> Option<usize>;
    /// Takes the oldest.
    fn pop(&mut self) -> Option<(Vec<u8>, DeliveryMode)>;
}

impl Pending for Option<(Vec<u8>, DeliveryMode)> {
    fn front_len(&self) -> Option<usize> {
        self.as_ref().map(|(p, _)| p.len())
    }
    fn pop(&mut self) -> Option<(Vec<u8>, DeliveryMode)> {
        self.take()
    }
}

impl Pending for VecDeque<(Vec<u8>, DeliveryMode)> {
    fn front_len(&self) -> Option<usize> {
        self.front().map(|(p, _)| p.len())
    }
    fn pop(&mut self) -> Option<(Vec<u8>, DeliveryMode)> {
        self.pop_front()
    }
}

/// See the module documentation.
pub(crate) struct EmitRing {
    state: Mutex<State>,
    /// Wakes the driver (empty → non-empty).
    driver: Notify,
    /// Wakes emitters that found the ring full.
    room: Notify,
    /// Times an emit found the ring full (it waited, or `try_emit` failed).
    full: Arc<AtomicU64>,
}

impl EmitRing {
    /// An empty ring whose full-ring count goes to `full`.
    pub fn new(full: Arc<AtomicU64>) -> Self {
        EmitRing { state: Mutex::new(State::default()), driver: Notify::new(), room: Notify::new(), full }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues every payload of `batch` that fits now, in order, under one lock, taking them
    /// off its front; `Full` if some are left, `Closed` (and nothing taken) once stopped.
    pub fn try_push(&self, batch: &mut impl Pending) -> Result<(), PushError> {
        let mut s = self.lock();
        if s.closed {
            return Err(PushError::Closed);
        }
        let was_empty = s.events.is_empty();
        while let Some(len) = batch.front_len() {
            let room = s.events.is_empty() || (s.events.len() < MAX_EVENTS && s.bytes + len <= MAX_BYTES);
            if !room {
                break;
            }
            let (payload, mode) = batch.pop().expect("front was Some");
            let payload = s.store(payload);
            s.bytes += payload.len();
            s.events.push_back(Emit { payload, mode });
        }
        let full = batch.front_len().is_some();
        if full {
            s.emitter_waiting = true;
        }
        let wake = was_empty && !s.events.is_empty();
        drop(s);
        if wake {
            self.driver.notify_one();
        }
        if full {
            self.full.fetch_add(1, Ordering::Relaxed);
            return Err(PushError::Full);
        }
        Ok(())
    }

    /// Queues all of `batch`, waiting for room while the ring is full; `Closed` once the
    /// driver stopped (what was queued before that is sent; the rest is not).
    pub async fn push(&self, mut batch: impl Pending) -> Result<(), PushError> {
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(&mut batch) {
                Err(PushError::Full) => room.await,
                done => return done,
            }
        }
    }

    /// Queues one payload, waiting for room while the ring is full.
    pub async fn push_one(&self, payload: Vec<u8>, mode: DeliveryMode) -> Result<(), PushError> {
        self.push(Some((payload, mode))).await
    }

    /// Queues one payload if there is room now.
    pub fn try_push_one(&self, payload: Vec<u8>, mode: DeliveryMode) -> Result<(), PushError> {
        self.try_push(&mut Some((payload, mode)))
    }

    /// Waits until the ring has events (returns at once if it has some now).
    pub async fn ready(&self) {
        if self.lock().events.is_empty() {
            self.driver.notified().await;
        }
    }

    /// Moves everything queued into `into` (the driver's; emptied first by the caller) and
    /// wakes emitters that waited for room.
    pub fn take_all(&self, into: &mut VecDeque<Emit>) {
        self.take(into, false);
    }

    /// Takes what is queued and refuses all later pushes (the driver is stopping).
    pub fn close(&self, into: &mut VecDeque<Emit>) {
        self.take(into, true);
    }

    fn take(&self, into: &mut VecDeque<Emit>, close: bool) {
        let mut s = self.lock();
        if into.is_empty() {
            std::mem::swap(&mut s.events, into);
        } else {
            into.extend(s.events.drain(..));
        }
        s.bytes = 0;
        s.closed |= close;
        let wake = std::mem::take(&mut s.emitter_waiting) || close;
        drop(s);
        if wake {
            self.room.notify_waiters();
        }
    }
}

impl State {
    /// The payload as `Bytes`: small ones copied into the arena, large ones moved.
    fn store(&mut self, payload: Vec<u8>) -> Bytes {
        if payload.len() >= COPY_BELOW {
            return Bytes::from(payload);
        }
        if self.arena.capacity() - self.arena.len() < payload.len() {
            self.arena = BytesMut::with_capacity(ARENA_CHUNK);
        }
        self.arena.extend_from_slice(&payload);
        self.arena.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ring() -> (Arc<EmitRing>, Arc<AtomicU64>) {
        let full = Arc::new(AtomicU64::new(0));
        (Arc::new(EmitRing::new(full.clone())), full)
    }

    fn taken(ring: &EmitRing) -> Vec<Vec<u8>> {
        let mut out = VecDeque::new();
        ring.take_all(&mut out);
        out.into_iter().map(|e| e.payload.to_vec()).collect()
    }

    #[test]
    fn keeps_order_and_bytes_small_and_large() {
        let (r, _) = ring();
        let big = vec![7u8; COPY_BELOW + 1];
        r.try_push_one(b"one".to_vec(), DeliveryMode::Reliable).unwrap();
        r.try_push_one(big.clone(), DeliveryMode::BestEffort).unwrap();
        r.try_push_one(b"three".to_vec(), DeliveryMode::Reliable).unwrap();
        assert_eq!(taken(&r), vec![b"one".to_vec(), big, b"three".to_vec()]);
        assert!(taken(&r).is_empty());
    }

    #[test]
    fn bounded_in_events_and_counted() {
        let (r, full) = ring();
        for i in 0..MAX_EVENTS {
            r.try_push_one(vec![i as u8], DeliveryMode::Reliable).unwrap();
        }
        assert_eq!(r.try_push_one(vec![0], DeliveryMode::Reliable), Err(PushError::Full));
        assert_eq!(full.load(Ordering::Relaxed), 1);
        assert_eq!(taken(&r).len(), MAX_EVENTS);
        r.try_push_one(vec![0], DeliveryMode::Reliable).unwrap();
    }

    #[test]
    fn bounded_in_bytes_but_one_huge_event_fits_alone() {
        let (r, _) = ring();
        let huge = vec![1u8; MAX_BYTES * 2];
        r.try_push_one(huge.clone(), DeliveryMode::Reliable).unwrap();
        assert_eq!(r.try_push_one(vec![2], DeliveryMode::Reliable), Err(PushError::Full));
        assert_eq!(taken(&r), vec![huge]);
        let half = vec![3u8; MAX_BYTES / 2 + 1];
        r.try_push_one(half.clone(), DeliveryMode::Reliable).unwrap();
        assert_eq!(r.try_push_one(half.clone(), DeliveryMode::Reliable), Err(PushError::Full));
    }

    #[test]
    fn a_batch_goes_in_as_far_as_it_fits() {
        let (r, _) = ring();
        let mut batch: VecDeque<_> = (0..MAX_EVENTS + 10).map(|i| (vec![i as u8], DeliveryMode::Reliable)).collect();
        assert_eq!(r.try_push(&mut batch), Err(PushError::Full));
        assert_eq!(batch.len(), 10);
        assert_eq!(taken(&r).len(), MAX_EVENTS);
        r.try_push(&mut batch).unwrap();
        assert!(batch.is_empty());
    }

    #[test]
    fn closed_refuses_and_hands_back_what_was_queued() {
        let (r, _) = ring();
        r.try_push_one(b"a".to_vec(), DeliveryMode::Reliable).unwrap();
        let mut rest = VecDeque::new();
        r.close(&mut rest);
        assert_eq!(rest.len(), 1);
        assert_eq!(r.try_push_one(b"b".to_vec(), DeliveryMode::Reliable), Err(PushError::Closed));
    }

    /// A full ring and an emitter waiting on it for room.
    async fn full_with_a_waiter() -> (Arc<EmitRing>, tokio::task::JoinHandle<Result<(), PushError>>) {
        let (r, _) = ring();
        for _ in 0..MAX_EVENTS {
            r.try_push_one(vec![0], DeliveryMode::Reliable).unwrap();
        }
        let r2 = r.clone();
        let waiter = tokio::spawn(async move { r2.push_one(b"late".to_vec(), DeliveryMode::Reliable).await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the ring is full: the emitter waits");
        (r, waiter)
    }

    #[tokio::test]
    async fn a_waiting_emitter_wakes_when_the_driver_takes() {
        let (r, waiter) = full_with_a_waiter().await;
        assert_eq!(taken(&r).len(), MAX_EVENTS);
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap().unwrap();
        assert_eq!(taken(&r), vec![b"late".to_vec()]);
    }

    #[tokio::test]
    async fn a_waiting_emitter_fails_when_the_driver_stops() {
        let (r, waiter) = full_with_a_waiter().await;
        r.close(&mut VecDeque::new());
        let got = tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
        assert_eq!(got, Err(PushError::Closed));
    }

    #[tokio::test]
    async fn the_driver_wakes_for_the_first_event_only_needs_one() {
        let (r, _) = ring();
        let r2 = r.clone();
        let driver = tokio::spawn(async move { r2.ready().await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!driver.is_finished());
        r.try_push_one(b"x".to_vec(), DeliveryMode::Reliable).unwrap();
        tokio::time::timeout(Duration::from_secs(5), driver).await.unwrap().unwrap();
        // non-empty: ready at once, without a notification
        tokio::time::timeout(Duration::from_secs(5), r.ready()).await.unwrap();
    }
}
