//! The Node-style emitter side: listeners, patterns, streams, and dispatch.

mod pattern;
mod registry;
mod stream;

use std::sync::Mutex;

pub use pattern::Pattern;
pub use registry::ListenerId;
pub(crate) use registry::{DispatchCounters, LossSink, Sink};
pub use stream::{EventStream, LossStream};

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
    /// they may add or remove listeners themselves.
    pub fn dispatch(&self, event: &Event) {
        let calls = self.with(|r| r.prepare(event, &self.counters));
        call_all(calls, event, &self.counters);
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
