//! The Node-style emitter side: listeners, patterns, streams, and dispatch.

mod pattern;
mod registry;
mod stream;

use std::sync::Mutex;

pub use pattern::Pattern;
pub use registry::ListenerId;
pub(crate) use registry::{Callback, DispatchCounters, LossSink, Sink};
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

    /// [`Listeners::dispatch`] for a batch of events, in order, taking the lock once per
    /// batch (or once per full stream met). `calls` is scratch space kept by the caller.
    pub async fn dispatch_batch(&self, events: &[Event], calls: &mut Vec<(usize, registry::Callback)>) {
        let mut start = 0;
        while start < events.len() {
            calls.clear();
            let (done, full) = self.with(|r| r.prepare_batch(&events[start..], calls));
            for (i, f) in calls.drain(..) {
                registry::call_one(&f, &events[start + i], &self.counters);
            }
            let last = &events[start + done - 1];
            for tx in full {
                self.counters.stream_overflow.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let _ = tx.send(last.clone()).await;
            }
            start += done;
        }
    }

    /// Runs every listener matching `event`. Callbacks run after the lock is released, so
    /// they may add or remove listeners themselves. A stream whose buffer is full is waited
    /// for: a slow reader slows this instance's delivery (and the protocol repairs what the
    /// socket drops meanwhile) rather than losing events.
    pub async fn dispatch(&self, event: &Event) {
        self.dispatch_batch(std::slice::from_ref(event), &mut Vec::new()).await
    }

    /// [`Listeners::dispatch`] that never waits: a full stream misses this event (counted).
    pub fn dispatch_now(&self, event: &Event) {
        let mut calls = Vec::new();
        let (_, full) = self.with(|r| r.prepare_batch(std::slice::from_ref(event), &mut calls));
        for (_, f) in calls {
            registry::call_one(&f, event, &self.counters);
        }
        if !full.is_empty() {
            self.counters.stream_overflow.fetch_add(full.len() as u64, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(target: "eventcast", event = event.name(), "try_emit: a subscriber stream is full; its local copy was dropped");
        }
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
