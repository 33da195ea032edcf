//! Events and loss reports as async `Stream`s.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::Weak;
use std::sync::mpsc::RecvTimeoutError;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::{ListenerId, Listeners};
use crate::event::{Event, Loss};

/// Items of one subscription; dropping it unsubscribes. Read it with [`recv`](Self::recv)
/// in async code, [`blocking_recv`](Self::blocking_recv) or
/// [`recv_timeout`](Self::recv_timeout) in a plain thread, [`try_recv`](Self::try_recv)
/// to poll.
///
/// It is also a [`Stream`](crate::Stream) (the `futures-core` trait, re-exported): for
/// combinators such as `.next()`, `.filter()` and `.map()`, add `futures` (its
/// `StreamExt`) or `tokio-stream` (its `StreamExt`, with `.timeout()`) to your
/// dependencies.
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

    /// The next item; `None` once the subscription ended (the instance stopped, for a
    /// [`subscribe`](crate::Eventcast::subscribe) stream, or was dropped) and everything
    /// received before was read.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    /// The next item, blocking the thread; for programs without an async runtime.
    /// Must not be called from inside an async task.
    pub fn blocking_recv(&mut self) -> Option<T> {
        self.rx.blocking_recv()
    }

    /// The next item, blocking the thread for at most `timeout`: `Err(Timeout)` when none
    /// came in time, `Err(Disconnected)` once the subscription ended (as `recv` gives
    /// `None`). The error is std's [`RecvTimeoutError`], as `std::sync::mpsc` gives. Needs
    /// no runtime; must not be called from inside an async task.
    ///
    /// ```no_run
    /// # fn f(ec: eventcast::blocking::Eventcast) -> eventcast::Result<()> {
    /// use std::sync::mpsc::RecvTimeoutError;
    /// use std::time::Duration;
    /// let mut temps = ec.subscribe("sensor.*")?;
    /// loop {
    ///     match temps.recv_timeout(Duration::from_secs(5)) {
    ///         Ok(ev) => println!("{}: {:?}", ev.name(), ev.args_bson()?),
    ///         Err(RecvTimeoutError::Timeout) => println!("quiet for 5 s"),
    ///         Err(RecvTimeoutError::Disconnected) => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let deadline = Instant::now().checked_add(timeout);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            match self.rx.poll_recv(&mut cx) {
                Poll::Ready(Some(item)) => return Ok(item),
                Poll::Ready(None) => return Err(RecvTimeoutError::Disconnected),
                Poll::Pending => {}
            }
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(RecvTimeoutError::Timeout);
                    }
                    std::thread::park_timeout(left);
                }
            }
        }
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

/// Wakes a thread parked in [`Subscription::recv_timeout`].
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("waiting", &self.rx.len())
            .field("ended", &self.rx.is_closed())
            .finish()
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
