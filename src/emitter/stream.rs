//! Events as an async `Stream`.

use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::{ListenerId, Listeners};
use crate::event::{Event, Loss};

/// The events matching one pattern, as a [`futures_core::Stream`]; see
/// [`crate::Eventcast::subscribe`]. Dropping it removes the subscription.
///
/// It buffers up to `stream_capacity` events; when a slow reader lets it fill up, delivery
/// waits for the reader (counted in `stats().stream_overflow`), so a stream that is never
/// read holds up its instance: drop it to unsubscribe.
///
/// ```no_run
/// # async fn f(ec: eventcast::Eventcast) -> eventcast::Result<()> {
/// let mut temps = ec.subscribe("sensor.*")?;
/// while let Some(ev) = temps.recv().await {
///     println!("{} {:?}", ev.name(), ev.args_bson()?);
/// }
/// # Ok(()) }
/// ```
pub struct EventStream {
    rx: mpsc::Receiver<Event>,
    id: ListenerId,
    listeners: Weak<Listeners>,
}

impl EventStream {
    pub(crate) fn new(rx: mpsc::Receiver<Event>, id: ListenerId, listeners: Weak<Listeners>) -> Self {
        EventStream { rx, id, listeners }
    }

    /// The next event; `None` once the instance is dropped.
    pub async fn recv(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// The next event, blocking the thread; for programs without an async runtime.
    /// Must not be called from inside an async task.
    pub fn blocking_recv(&mut self) -> Option<Event> {
        self.rx.blocking_recv()
    }

    /// An event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Event> {
        self.rx.try_recv().ok()
    }

    /// This subscription's listener id.
    pub fn id(&self) -> ListenerId {
        self.id
    }
}

impl futures_core::Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.with(|r| r.remove(self.id));
        }
    }
}

/// Loss reports as a [`futures_core::Stream`]; see [`crate::Eventcast::losses`]. Dropping it
/// unsubscribes.
pub struct LossStream {
    rx: mpsc::Receiver<Loss>,
    id: ListenerId,
    listeners: Weak<Listeners>,
}

impl LossStream {
    pub(crate) fn new(rx: mpsc::Receiver<Loss>, id: ListenerId, listeners: Weak<Listeners>) -> Self {
        LossStream { rx, id, listeners }
    }

    /// The next report; `None` once the instance is dropped.
    pub async fn recv(&mut self) -> Option<Loss> {
        self.rx.recv().await
    }

    /// A report if one is waiting.
    pub fn try_recv(&mut self) -> Option<Loss> {
        self.rx.try_recv().ok()
    }
}

impl futures_core::Stream for LossStream {
    type Item = Loss;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Loss>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for LossStream {
    fn drop(&mut self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.with(|r| r.remove(self.id));
        }
    }
}
