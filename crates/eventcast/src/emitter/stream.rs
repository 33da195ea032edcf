//! Events and loss reports as async `Stream`s.

use std::pin::Pin;
use std::sync::Weak;
use std::task::{Context, Poll};

use tokio::sync::mpsc;

use super::{ListenerId, Listeners};
use crate::event::{Event, Loss};

/// Items of one subscription as a [`futures_core::Stream`]; dropping it unsubscribes.
///
/// It buffers up to `stream_capacity` items. For events, when a slow reader lets the buffer
/// fill up, delivery waits for the reader (counted in `stats().stream_overflow`), so a stream
/// that is never read holds up its instance: drop it to unsubscribe.
///
/// ```no_run
/// # async fn f(ec: eventcast::Eventcast) -> eventcast::Result<()> {
/// let mut temps = ec.subscribe("sensor.*")?;
/// while let Some(ev) = temps.recv().await {
///     println!("{} {:?}", ev.name(), ev.args_bson()?);
/// }
/// # Ok(()) }
/// ```
pub struct Subscription<T> {
    rx: mpsc::Receiver<T>,
    id: ListenerId,
    listeners: Weak<Listeners>,
}

/// The events matching one pattern; see [`crate::Eventcast::subscribe`].
pub type EventStream = Subscription<Event>;

/// Loss reports; see [`crate::Eventcast::losses`].
pub type LossStream = Subscription<Loss>;

impl<T> Subscription<T> {
    pub(crate) fn new(rx: mpsc::Receiver<T>, id: ListenerId, listeners: Weak<Listeners>) -> Self {
        Subscription { rx, id, listeners }
    }

    /// The next item; `None` once the instance is dropped.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    /// The next item, blocking the thread; for programs without an async runtime.
    /// Must not be called from inside an async task.
    pub fn blocking_recv(&mut self) -> Option<T> {
        self.rx.blocking_recv()
    }

    /// An item if one is waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// This subscription's listener id.
    pub fn id(&self) -> ListenerId {
        self.id
    }
}

impl<T> futures_core::Stream for Subscription<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.rx.poll_recv(cx)
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        if let Some(listeners) = self.listeners.upgrade() {
            listeners.with(|r| r.remove(self.id));
        }
    }
}
