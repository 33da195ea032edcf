//! The public statistics snapshot, and its Prometheus text form.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde_json::Value;

use crate::console::ConsoleCounters;
use crate::emitter::DispatchCounters;
use crate::proto;

/// Counters of one instance: the protocol core's, plus what local dispatch and the console
/// could not do.
///
/// ```no_run
/// # async fn f(ec: eventcast::Eventcast) {
/// let s = ec.stats().await;
/// println!("{} events in, {} malformed datagrams", s.protocol.events_in, s.protocol.dropped.malformed);
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Counters of the protocol core: of the running instance, or of its last run while
    /// stopped (each start counts from zero).
    #[serde(flatten)]
    pub protocol: proto::ProtocolStats,
    /// Times delivery waited for a subscriber stream whose buffer was full (on the
    /// dispatcher thread; the protocol driver never waits for listeners).
    pub stream_overflow: u64,
    /// Events a subscriber stream never got: the instance stopped while the stream was full
    /// and unread for the stuck timeout.
    pub stream_dropped: u64,
    /// Local copies of emitted events that never reached the hand-over queue: the listeners
    /// were stuck (took nothing for `flow_timeout`) with the queue full, a listener emitted
    /// while the queue was full (it cannot wait for itself), or the instance stopped as the
    /// copy arrived.
    pub local_dropped: u64,
    /// Items in the hand-over queue (received events, loss reports, local copies) dropped
    /// when the instance stopped because the listeners were stuck.
    pub dispatch_abandoned: u64,
    /// Listener calls that panicked (the panic is caught and logged).
    pub listener_panics: u64,
    /// Console sessions opened since the console started.
    pub console_sessions: u64,
    /// Console sessions open now.
    pub console_active: u64,
    /// Console connections refused because `repl_max_clients` sessions were open.
    pub console_refused: u64,
    /// Console connections closed because of a wrong token.
    pub console_auth_failed: u64,
    /// Console connections closed because no token came within 10 s.
    pub console_auth_timeouts: u64,
    /// Console connections refused because their address gave wrong tokens lately (each
    /// wrong token doubles the lockout, from 300 ms up to 60 s).
    pub console_locked_out: u64,
    /// Event lines a console session could not take because its client was not reading
    /// (the client is told how many; the instance never waits for a console).
    pub console_lines_dropped: u64,
}

/// Fields that are levels now rather than counts since start.
const GAUGES: &[&str] = &[
    "reassembly_in_flight",
    "reassembly_bytes",
    "peers",
    "retransmit_events",
    "retransmit_bytes",
    "held_events",
    "held_bytes",
    "missing_events",
    "console_active",
];

impl Stats {
    pub(crate) fn new(protocol: proto::ProtocolStats, counters: &DispatchCounters, console: &ConsoleCounters) -> Self {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            protocol,
            stream_overflow: get(&counters.stream_overflow),
            stream_dropped: get(&counters.stream_dropped),
            local_dropped: get(&counters.local_dropped),
            dispatch_abandoned: get(&counters.dispatch_abandoned),
            listener_panics: get(&counters.listener_panics),
            console_sessions: get(&console.sessions),
            console_active: get(&console.active),
            console_refused: get(&console.refused),
            console_auth_failed: get(&console.auth_failed),
            console_auth_timeouts: get(&console.auth_timeouts),
            console_locked_out: get(&console.locked_out),
            console_lines_dropped: get(&console.lines_dropped),
        }
    }

    /// The counters in the Prometheus text exposition format (version 0.0.4): each counter
    /// as `eventcast_NAME_total`, levels as gauges, drops as `eventcast_dropped_total` by
    /// `reason`, and per-sender series labelled with `sender`.
    ///
    /// ```
    /// let text = eventcast::Stats::default().to_prometheus();
    /// assert!(text.contains("# TYPE eventcast_events_in_total counter\neventcast_events_in_total 0\n"));
    /// assert!(text.contains("eventcast_dropped_total{reason=\"forged\"} 0\n"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        let Ok(Value::Object(fields)) = serde_json::to_value(self) else {
            return out;
        };
        for (name, value) in &fields {
            match (name.as_str(), value) {
                ("dropped", Value::Object(reasons)) => {
                    out.push_str("# TYPE eventcast_dropped_total counter\n");
                    for (reason, n) in reasons {
                        let _ = writeln!(out, "eventcast_dropped_total{{reason=\"{reason}\"}} {n}");
                    }
                }
                ("peer_table", _) => {}
                (_, Value::Number(n)) => {
                    let (metric, kind) = if GAUGES.contains(&name.as_str()) {
                        (format!("eventcast_{name}"), "gauge")
                    } else {
                        (format!("eventcast_{name}_total"), "counter")
                    };
                    let _ = writeln!(out, "# TYPE {metric} {kind}\n{metric} {n}");
                }
                _ => {}
            }
        }
        let peers = &self.protocol.peer_table;
        type Field = fn(&proto::PeerStats) -> String;
        let series: [(&str, &str, Field); 4] = [
            ("eventcast_peer_events_total", "counter", |p| p.events.to_string()),
            ("eventcast_peer_gaps_recovered_total", "counter", |p| p.gaps_recovered.to_string()),
            ("eventcast_peer_events_lost_total", "counter", |p| p.events_lost.to_string()),
            ("eventcast_peer_last_heard_seconds", "gauge", |p| format!("{:.3}", p.last_heard_ms as f64 / 1000.0)),
        ];
        for (metric, kind, field) in series {
            let _ = writeln!(out, "# TYPE {metric} {kind}");
            for p in peers {
                let _ = writeln!(out, "{metric}{{sender=\"{:016x}\"}} {}", p.sender, field(p));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_has_counters_gauges_drops_and_peers() {
        let mut s = Stats::default();
        s.protocol.events_in = 5;
        s.protocol.peers = 1;
        s.protocol.dropped.replayed = 2;
        s.protocol.peer_table.push(proto::PeerStats { sender: 0xab, events: 5, ..Default::default() });
        let text = s.to_prometheus();
        assert!(text.contains("eventcast_events_in_total 5\n"));
        assert!(text.contains("# TYPE eventcast_peers gauge\neventcast_peers 1\n"));
        assert!(text.contains("eventcast_dropped_total{reason=\"replayed\"} 2\n"));
        assert!(text.contains("eventcast_peer_events_total{sender=\"00000000000000ab\"} 5\n"));
        // every sample line is NAME[{labels}] VALUE
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("eventcast_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
