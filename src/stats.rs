//! The public statistics snapshot.

use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::emitter::DispatchCounters;
use crate::proto;

/// Counters of one instance: the protocol core's, plus what local dispatch could not do.
///
/// ```no_run
/// # async fn f(ec: eventcast::Eventcast) {
/// let s = ec.stats().await;
/// println!("{} events in, {} malformed datagrams", s.protocol.events_in, s.protocol.dropped.malformed);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Counters of the protocol core (zero while stopped; reset by each start).
    #[serde(flatten)]
    pub protocol: proto::Stats,
    /// Times delivery waited for a subscriber stream whose buffer was full (nothing is
    /// dropped; only `try_emit`'s local copy is, and counted here too).
    pub stream_overflow: u64,
    /// Listener calls that panicked (the panic is caught and logged).
    pub listener_panics: u64,
}

impl Stats {
    pub(crate) fn new(protocol: proto::Stats, counters: &DispatchCounters) -> Self {
        Stats {
            protocol,
            stream_overflow: counters.stream_overflow.load(Ordering::Relaxed),
            listener_panics: counters.listener_panics.load(Ordering::Relaxed),
        }
    }
}
