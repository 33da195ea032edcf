//! The Node-style emitter side: listeners, patterns, streams, and dispatch.

mod pattern;
mod registry;
mod stream;

use std::sync::Mutex;

pub use pattern::Pattern;
pub use registry::ListenerId;
pub(crate) use registry::{DispatchCounters, LossSink, Sink};
pub use stream::{EventStream, LossStream, Subscription};

use crate::event::{Event, Loss};
use registry::{Registry, call_all};

/// The listeners of one instance, shared by its handles and its driver task.
#[derive(Default)]
pub(crate) struct Listeners {
    registry: Mutex<Registry>,
    pub counters: DispatchCounters,
}

impl Listeners {
    pub fn with<R>(&self, f: impl FnOnce(&mut Registry) -> R) -> R {
        let mut guard = self.registry.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Runs every listener matching `event`. Callbacks run after the lock is released, so
    /// they may add or remove listeners themselves. A stream whose buffer is full is waited
    /// for: a slow reader slows this instance's delivery (and the protocol repairs what the
    /// socket drops meanwhile) rather than losing events.
    pub async fn dispatch(&self, event: &Event) {
        let prepared = self.with(|r| r.prepare(event));
        call_all(prepared.calls, event, &self.counters);
        for tx in prepared.full {
            self.counters.stream_overflow.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = tx.send(event.clone()).await;
        }
    }

    /// [`Listeners::dispatch`] that never waits: a full stream misses this event (counted).
    pub fn dispatch_now(&self, event: &Event) {
        let prepared = self.with(|r| r.prepare(event));
        call_all(prepared.calls, event, &self.counters);
        if !prepared.full.is_empty() {
            self.counters.stream_overflow.fetch_add(prepared.full.len() as u64, std::sync::atomic::Ordering::Relaxed);
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
