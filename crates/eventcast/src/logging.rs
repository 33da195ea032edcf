//! Per-instance logging with components, as the original's `log`, `logLevel` options and
//! `logLevel([component], [level])` method: levels per component, changeable at run time,
//! applied on top of whatever `tracing` subscriber the program installed. The library never
//! installs a subscriber itself.
//!
//! Each component is a `tracing` target: `eventcast` (the root: lifecycle, listeners, keys),
//! `eventcast::net` (sockets, sending, receiving, losses) and `eventcast::repl` (the console).
//! Events of other targets (a listener's own logging, say) pass through untouched.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Level, Metadata, Subscriber};

use crate::error::{Error, Result};

/// The logging components of an instance, root first: each names a `tracing` target
/// (`eventcast`, `eventcast::net`, `eventcast::repl`).
///
/// ```
/// assert_eq!(eventcast::LOG_COMPONENTS, ["eventcast", "net", "repl"]);
/// ```
pub const LOG_COMPONENTS: [&str; 3] = ["eventcast", "net", "repl"];

/// The `tracing` target of each component, in the order of [`LOG_COMPONENTS`].
#[cfg(test)]
const TARGETS: [&str; 3] = ["eventcast", "eventcast::net", "eventcast::repl"];

const OFF: u8 = 0;

fn code(level: LevelFilter) -> u8 {
    match level.into_level() {
        None => OFF,
        Some(Level::ERROR) => 1,
        Some(Level::WARN) => 2,
        Some(Level::INFO) => 3,
        Some(Level::DEBUG) => 4,
        Some(Level::TRACE) => 5,
    }
}

fn filter(code: u8) -> LevelFilter {
    [LevelFilter::OFF, LevelFilter::ERROR, LevelFilter::WARN, LevelFilter::INFO, LevelFilter::DEBUG, LevelFilter::TRACE]
        [usize::from(code.min(5))]
}

/// Which component a target belongs to; `None` for targets that are not ours.
fn component_of(target: &str) -> Option<usize> {
    let rest = target.strip_prefix("eventcast")?;
    if rest.is_empty() {
        return Some(0);
    }
    let sub = rest.strip_prefix("::")?;
    Some(match sub.split("::").next() {
        Some("net") => 1,
        Some("repl") => 2,
        _ => 0,
    })
}

/// Reads a level name as the console and the CLI take it.
pub(crate) fn parse_level(text: &str) -> Result<LevelFilter> {
    text.parse::<LevelFilter>().map_err(|_| Error::invalid("log level", text, "off, error, warn, info, debug or trace"))
}

/// The levels of one instance's components, shared with its tasks and changeable while
/// they run.
#[derive(Debug, Clone)]
pub(crate) struct LogLevels(Arc<[AtomicU8; 3]>);

impl LogLevels {
    pub fn new(enabled: bool, level: Level) -> Self {
        let c = if enabled { code(LevelFilter::from_level(level)) } else { OFF };
        LogLevels(Arc::new([AtomicU8::new(c), AtomicU8::new(c), AtomicU8::new(c)]))
    }

    /// Every component with its level.
    pub fn get(&self) -> Vec<(&'static str, LevelFilter)> {
        LOG_COMPONENTS.iter().zip(self.0.iter()).map(|(n, l)| (*n, filter(l.load(Ordering::Relaxed)))).collect()
    }

    /// Sets one component's level, or every component's when `component` is `None`.
    pub fn set(&self, component: Option<&str>, level: LevelFilter) -> Result<()> {
        let c = code(level);
        match component {
            None => self.0.iter().for_each(|l| l.store(c, Ordering::Relaxed)),
            Some(name) => {
                let index = LOG_COMPONENTS.iter().position(|n| *n == name).ok_or_else(|| {
                    Error::invalid("log component", name, format!("one of {}", LOG_COMPONENTS.join(", ")))
                })?;
                self.0[index].store(c, Ordering::Relaxed);
            }
        }
        Ok(())
    }

    fn allows(&self, metadata: &Metadata<'_>) -> bool {
        match component_of(metadata.target()) {
            Some(i) => code(LevelFilter::from_level(*metadata.level())) <= self.0[i].load(Ordering::Relaxed),
            None => true,
        }
    }

    /// A dispatcher that forwards to the program's current one what these levels allow.
    pub fn gate(&self) -> Dispatch {
        let inner = tracing::dispatcher::get_default(Dispatch::clone);
        Dispatch::new(Gate { inner, levels: self.clone() })
    }
}

struct Gate {
    inner: Dispatch,
    levels: LogLevels,
}

impl Subscriber for Gate {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        match component_of(metadata.target()) {
            // Our answer changes with the levels at run time, so never let it be cached.
            Some(_) => Interest::sometimes(),
            None => self.inner.register_callsite(metadata),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        None
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.levels.allows(metadata) && self.inner.enabled(metadata)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_to_components() {
        for (i, target) in TARGETS.iter().enumerate() {
            assert_eq!(component_of(target), Some(i));
        }
        assert_eq!(component_of("eventcast::driver::task"), Some(0));
        assert_eq!(component_of("eventcast::repl::session"), Some(2));
        assert_eq!(component_of("eventcaster"), None);
        assert_eq!(component_of("my_app"), None);
    }

    #[test]
    fn levels_change_per_component_or_all() {
        let levels = LogLevels::new(true, Level::INFO);
        assert!(levels.get().iter().all(|(_, l)| *l == LevelFilter::INFO));
        levels.set(Some("repl"), LevelFilter::TRACE).unwrap();
        assert_eq!(levels.get()[2], ("repl", LevelFilter::TRACE));
        assert_eq!(levels.get()[0], ("eventcast", LevelFilter::INFO));
        levels.set(None, LevelFilter::OFF).unwrap();
        assert!(levels.get().iter().all(|(_, l)| *l == LevelFilter::OFF));
        let err = levels.set(Some("disk"), LevelFilter::INFO).unwrap_err().to_string();
        assert!(err.contains("disk") && err.contains("eventcast, net, repl"), "{err}");
        assert!(parse_level("loud").unwrap_err().to_string().contains("off, error, warn"));
        assert_eq!(parse_level("debug").unwrap(), LevelFilter::DEBUG);
        assert_eq!(LogLevels::new(false, Level::TRACE).get()[0].1, LevelFilter::OFF);
    }
}
