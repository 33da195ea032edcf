//! Per-instance logging: the `log` and `log_level` options on top of whatever `tracing`
//! subscriber the program installed. The library never installs a subscriber itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};

const OFF: u8 = 0;

fn level_code(level: Level) -> u8 {
    match level {
        Level::ERROR => 1,
        Level::WARN => 2,
        Level::INFO => 3,
        Level::DEBUG => 4,
        Level::TRACE => 5,
    }
}

/// The most verbose level an instance logs at, changeable while it runs.
#[derive(Debug, Clone)]
pub(crate) struct LogLevel(Arc<AtomicU8>);

impl LogLevel {
    pub fn new(enabled: bool, level: Level) -> Self {
        LogLevel(Arc::new(AtomicU8::new(if enabled { level_code(level) } else { OFF })))
    }

    fn allows(&self, level: &Level) -> bool {
        level_code(*level) <= self.0.load(Ordering::Relaxed)
    }

    /// A dispatcher that forwards to the program's current one what this level allows.
    pub fn gate(&self) -> Dispatch {
        let inner = tracing::dispatcher::get_default(Dispatch::clone);
        Dispatch::new(Gate { inner, level: self.clone() })
    }
}

struct Gate {
    inner: Dispatch,
    level: LogLevel,
}

impl Subscriber for Gate {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // The answer changes with the level at run time, so never let it be cached.
        let _ = metadata;
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.level.allows(metadata.level()) && self.inner.enabled(metadata)
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner.record(span, values)
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner.record_follows_from(span, follows)
    }

    fn event(&self, event: &Event<'_>) {
        self.inner.event(event)
    }

    fn enter(&self, span: &Id) {
        self.inner.enter(span)
    }

    fn exit(&self, span: &Id) {
        self.inner.exit(span)
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner.clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner.try_close(id)
    }
}
