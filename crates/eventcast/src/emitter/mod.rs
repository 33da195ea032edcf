//! The Node-style emitter side: listeners, patterns, streams, and dispatch.

pub(crate) mod dispatcher;
mod pattern;
pub(crate) mod queue;
mod registry;
mod stream;

use std::sync::Mutex;

pub use pattern::Pattern;
pub use registry::ListenerId;
pub(crate) use registry::{DispatchCounters, LossSink, Sink};
pub use stream::{EventStream, LossStream, Subscription};

use crate::event::{Event, Loss};
use registry::Registry;

/// The listeners of one instance, shared by its handles and its driver task.
#[derive(Default)]
pub(crate) struct Listeners {
    registry: Mutex<Registry>,
    pub counters: DispatchCounters,
    /// How many listeners there are, readable without the lock (`emit` skips the local
    /// dispatch when there are none).
    count: std::sync::atomic::AtomicUsize,
}

impl Listeners {
    pub fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut guard = self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = f(&mut guard);
        self.count.store(guard.len(), std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// Whether any listener (not counting loss listeners) is registered.
    pub fn any(&self) -> bool {
        self.count.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Runs the listeners of each event, in order, taking the lock once per batch (or once
    /// per full stream met). Callbacks run after the lock is released, so they may add or
    /// remove listeners themselves. A stream whose buffer is full is waited for with
    /// `wait_full` (the dispatcher's wait, which the instance can abort); `progress` is
    /// called after each event. Returns how many events were dispatched: fewer than all
    /// once `aborted` says so. `calls` is scratch space kept by the caller.
    pub fn dispatch_batch(
        &self,
        events: &[Event],
        calls: &mut Vec<(usize, registry::Callback)>,
        wait_full: &dyn Fn(&tokio::sync::mpsc::Sender<Event>, Event) -> bool,
        progress: &dyn Fn(),
        aborted: &dyn Fn() -> bool,
    ) -> usize {
        let mut start = 0;
        while start < events.len() {
            if aborted() {
                return start;
            }
            calls.clear();
            let (done, full) = self.with(|r| r.prepare_batch(&events[start..], calls));
            let mut last_call = 0;
            for (i, f) in calls.drain(..) {
                if i != last_call {
                    progress();
                    // a listener that blocked past the stop's patience must not, once it
                    // returns, run the rest of a batch the instance gave up on
                    if aborted() {
                        return start + i;
                    }
                    last_call = i;
                }
                registry::call_one(&f, &events[start + i], &self.counters);
            }
            let last = &events[start + done - 1];
            for tx in full {
                self.counters.stream_overflow.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if !wait_full(&tx, last.clone()) {
                    self.counters.stream_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            progress();
            start += done;
        }
        start
    }

    /// Runs every loss listener for `loss`.
    pub fn dispatch_loss(&self, loss: &Loss) {
        let calls = self.with(|r| r.prepare_loss(loss, &self.counters));
        for f in calls {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(loss))).is_err() {
                self.counters.listener_panics.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::error!(target: "eventcast", "a loss listener panicked");
            }
        }
    }
}
