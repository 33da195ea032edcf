//! The public statistics snapshot, and its Prometheus text form.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use serde::Serialize;
use serde_json::Value;

use crate::console::ConsoleCounters;
use crate::emitter::DispatchCounters;
use crate::proto;
use crate::transport::TransportCounters;

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
    /// Times an emit found the send queue full ([`crate::Eventcast::try_emit`] failed with
    /// `Backpressure`, or `emit` waited): the network or a receiver's flow window is slower
    /// than the program emits. Counted across runs.
    pub emit_waits: u64,
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
    /// Datagrams sent to unicast peers (each copy counted).
    pub peer_datagrams_out: u64,
    /// Datagrams received on the unicast peers' socket.
    pub peer_datagrams_in: u64,
    /// Sends to a peer that failed (an unreachable peer costs this and nothing else).
    pub peer_send_errors: u64,
    /// Datagrams not sent to a peer because the socket was full (the protocol repairs them).
    pub peer_send_dropped: u64,
    /// Datagrams on the peer socket from an address that is not a listed peer, dropped.
    pub peer_unknown_source: u64,
    /// Times a peer name did not resolve again (its last addresses are kept).
    pub peer_resolve_failures: u64,
    /// Peer addresses known now.
    pub peer_addresses: u64,
    /// 1 while connected to a NATS server, 0 otherwise.
    pub nats_connected: u64,
    /// Times the NATS connection came back after it was lost.
    pub nats_reconnects: u64,
    /// Datagrams published to NATS.
    pub nats_messages_out: u64,
    /// Messages received from NATS.
    pub nats_messages_in: u64,
    /// Datagrams not published because the NATS queue was full (the protocol repairs them).
    pub nats_out_dropped: u64,
    /// Messages from NATS dropped because the driver's queue was full, or by the client as
    /// a slow consumer (the protocol repairs them).
    pub nats_in_dropped: u64,
}

/// Whether a series counts since start (a counter) or is a level now (a gauge).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Counter,
    Gauge,
}
use Kind::{Counter, Gauge};

/// Every numeric field of [`Stats`] (as serialized) with its Prometheus metric name and help
/// text. A test checks that no field is missing, so a new counter cannot go out without its
/// help. Names follow Prometheus's conventions: `eventcast_` prefix, base unit last, `_total`
/// on counters.
const METRICS: &[(&str, &str, Kind, &str)] = &[
    ("events_out", "eventcast_events_out_total", Counter, "Events queued for sending."),
    ("events_in", "eventcast_events_in_total", Counter, "Events delivered from the network."),
    ("datagrams_out", "eventcast_datagrams_out_total", Counter, "Datagrams handed to the socket."),
    ("datagrams_in", "eventcast_datagrams_in_total", Counter, "Datagrams received (own loopback copies excluded)."),
    ("bytes_out", "eventcast_sent_bytes_total", Counter, "Bytes handed to the socket."),
    ("bytes_in", "eventcast_received_bytes_total", Counter, "Bytes received (own loopback copies excluded)."),
    ("fragments_out", "eventcast_fragments_out_total", Counter, "Fragments of large events sent."),
    ("fragments_in", "eventcast_fragments_in_total", Counter, "Fragments of large events received."),
    ("own_echo", "eventcast_own_echo_total", Counter, "Own datagrams looped back by the OS and ignored."),
    ("reassembly_in_flight", "eventcast_reassembly_events", Gauge, "Incomplete large events being reassembled now."),
    ("reassembly_bytes", "eventcast_reassembly_bytes", Gauge, "Bytes held by incomplete events now."),
    ("peers", "eventcast_peers", Gauge, "Senders in the peer table now."),
    (
        "nacks_sent",
        "eventcast_nacks_sent_total",
        Counter,
        "NACK frames sent, each listing missing events of one sender.",
    ),
    (
        "nacks_received",
        "eventcast_nacks_received_total",
        Counter,
        "NACK frames addressed to this instance as a sender.",
    ),
    (
        "nacks_rate_limited",
        "eventcast_nacks_rate_limited_total",
        Counter,
        "Missing events whose request was put off because the NACK budget was spent.",
    ),
    (
        "nacks_suppressed",
        "eventcast_nacks_suppressed_total",
        Counter,
        "Own NACKs held back because another receiver asked first.",
    ),
    ("repairs_sent", "eventcast_repairs_sent_total", Counter, "Repair frames sent in answer to NACKs."),
    (
        "repairs_held_off",
        "eventcast_repairs_held_off_total",
        Counter,
        "Repairs held back because the same item was just repaired.",
    ),
    (
        "repairs_rate_limited",
        "eventcast_repairs_rate_limited_total",
        Counter,
        "NACK entries ignored because the repair budget was spent.",
    ),
    (
        "repairs_unavailable",
        "eventcast_repairs_unavailable_total",
        Counter,
        "Items asked for that had already left the retransmit buffer.",
    ),
    ("repairs_received", "eventcast_repairs_received_total", Counter, "Repair frames received."),
    ("gaps_detected", "eventcast_gaps_detected_total", Counter, "Events noticed missing."),
    ("gaps_recovered", "eventcast_gaps_recovered_total", Counter, "Missing events that arrived after all."),
    ("events_lost", "eventcast_events_lost_total", Counter, "Events given up on and reported lost."),
    (
        "delivery_deferred",
        "eventcast_delivery_deferred_total",
        Counter,
        "Reliable events put off while the delivery queue was full, asked for again later.",
    ),
    (
        "held_overflow",
        "eventcast_held_overflow_total",
        Counter,
        "Times the held-events bound forced an event to be given up on.",
    ),
    ("heartbeats_sent", "eventcast_heartbeats_sent_total", Counter, "Heartbeats sent."),
    ("heartbeats_received", "eventcast_heartbeats_received_total", Counter, "Heartbeats received."),
    (
        "backpressure_waits",
        "eventcast_backpressure_waits_total",
        Counter,
        "Times emit waited because the send queue or retransmit buffer was full.",
    ),
    (
        "flow_control_waits",
        "eventcast_flow_control_waits_total",
        Counter,
        "Times sending paused because the slowest receiver was a flow window behind.",
    ),
    (
        "statuses_sent",
        "eventcast_statuses_sent_total",
        Counter,
        "STATUS frames sent (progress reports on other senders' streams).",
    ),
    (
        "statuses_received",
        "eventcast_statuses_received_total",
        Counter,
        "STATUS frames received about this instance's stream.",
    ),
    (
        "flow_receivers_evicted",
        "eventcast_flow_receivers_evicted_total",
        Counter,
        "Receivers forgotten by flow control because 1024 were tracked already.",
    ),
    ("retransmit_events", "eventcast_retransmit_events", Gauge, "Events held for repair now."),
    ("retransmit_bytes", "eventcast_retransmit_bytes", Gauge, "Bytes held for repair now."),
    ("held_events", "eventcast_held_events", Gauge, "Complete events waiting for an earlier missing one now."),
    ("held_bytes", "eventcast_held_bytes", Gauge, "Bytes of complete events waiting for an earlier missing one now."),
    ("missing_events", "eventcast_missing_events", Gauge, "Events known missing now."),
    ("send_errors", "eventcast_send_errors_total", Counter, "Datagrams the socket refused to send."),
    (
        "stream_overflow",
        "eventcast_stream_overflow_total",
        Counter,
        "Times delivery waited for a subscriber stream whose buffer was full.",
    ),
    (
        "stream_dropped",
        "eventcast_stream_dropped_total",
        Counter,
        "Events a subscriber stream never got because it stayed full and unread at stop.",
    ),
    (
        "local_dropped",
        "eventcast_local_dropped_total",
        Counter,
        "Local copies of emitted events the local listeners never got.",
    ),
    (
        "dispatch_abandoned",
        "eventcast_dispatch_abandoned_total",
        Counter,
        "Queued events and loss reports dropped at stop because the listeners were stuck.",
    ),
    (
        "emit_waits",
        "eventcast_emit_waits_total",
        Counter,
        "Times an emit found the send queue full and waited (or try_emit failed).",
    ),
    (
        "listener_panics",
        "eventcast_listener_panics_total",
        Counter,
        "Listener calls that panicked (caught and logged).",
    ),
    ("console_sessions", "eventcast_console_sessions_total", Counter, "Console sessions opened."),
    ("console_active", "eventcast_console_sessions_active", Gauge, "Console sessions open now."),
    (
        "console_refused",
        "eventcast_console_refused_total",
        Counter,
        "Console connections refused because repl_max_clients sessions were open.",
    ),
    (
        "console_auth_failed",
        "eventcast_console_auth_failed_total",
        Counter,
        "Console connections closed because of a wrong token.",
    ),
    (
        "console_auth_timeouts",
        "eventcast_console_auth_timeouts_total",
        Counter,
        "Console connections closed because no token came in time.",
    ),
    (
        "console_locked_out",
        "eventcast_console_locked_out_total",
        Counter,
        "Console connections refused because their address gave wrong tokens lately.",
    ),
    (
        "console_lines_dropped",
        "eventcast_console_lines_dropped_total",
        Counter,
        "Event lines a console session could not take because its client was not reading.",
    ),
    (
        "peer_datagrams_out",
        "eventcast_peer_datagrams_out_total",
        Counter,
        "Datagrams sent to unicast peers, each copy counted.",
    ),
    (
        "peer_datagrams_in",
        "eventcast_peer_datagrams_in_total",
        Counter,
        "Datagrams received on the unicast peers' socket.",
    ),
    ("peer_send_errors", "eventcast_peer_send_errors_total", Counter, "Sends to a unicast peer that failed."),
    (
        "peer_send_dropped",
        "eventcast_peer_send_dropped_total",
        Counter,
        "Datagrams not sent to a peer because the socket was full.",
    ),
    (
        "peer_unknown_source",
        "eventcast_peer_unknown_source_total",
        Counter,
        "Datagrams on the peer socket from an address that is not a listed peer.",
    ),
    (
        "peer_resolve_failures",
        "eventcast_peer_resolve_failures_total",
        Counter,
        "Times a peer name did not resolve again (its last addresses are kept).",
    ),
    ("peer_addresses", "eventcast_peer_addresses", Gauge, "Unicast peer addresses known now."),
    ("nats_connected", "eventcast_nats_connected", Gauge, "1 while connected to a NATS server, 0 otherwise."),
    (
        "nats_reconnects",
        "eventcast_nats_reconnects_total",
        Counter,
        "Times the NATS connection came back after it was lost.",
    ),
    ("nats_messages_out", "eventcast_nats_messages_out_total", Counter, "Datagrams published to NATS."),
    ("nats_messages_in", "eventcast_nats_messages_in_total", Counter, "Messages received from NATS."),
    (
        "nats_out_dropped",
        "eventcast_nats_out_dropped_total",
        Counter,
        "Datagrams not published because the NATS queue was full.",
    ),
    (
        "nats_in_dropped",
        "eventcast_nats_in_dropped_total",
        Counter,
        "Messages from NATS dropped because a queue was full or too large.",
    ),
];

/// Writes the `# HELP` and `# TYPE` lines of one series (a counter, or a gauge).
pub(crate) fn series_header(out: &mut String, metric: &str, counter: bool, help: &str) {
    let kind = if counter { "counter" } else { "gauge" };
    let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {kind}");
}

impl Stats {
    pub(crate) fn new(
        protocol: proto::ProtocolStats,
        counters: &DispatchCounters,
        console: &ConsoleCounters,
        transport: &TransportCounters,
    ) -> Self {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            protocol,
            stream_overflow: get(&counters.stream_overflow),
            stream_dropped: get(&counters.stream_dropped),
            local_dropped: get(&counters.local_dropped),
            dispatch_abandoned: get(&counters.dispatch_abandoned),
            listener_panics: get(&counters.listener_panics),
            emit_waits: 0,
            console_sessions: get(&console.sessions),
            console_active: get(&console.active),
            console_refused: get(&console.refused),
            console_auth_failed: get(&console.auth_failed),
            console_auth_timeouts: get(&console.auth_timeouts),
            console_locked_out: get(&console.locked_out),
            console_lines_dropped: get(&console.lines_dropped),
            peer_datagrams_out: get(&transport.peer_datagrams_out),
            peer_datagrams_in: get(&transport.peer_datagrams_in),
            peer_send_errors: get(&transport.peer_send_errors),
            peer_send_dropped: get(&transport.peer_send_dropped),
            peer_unknown_source: get(&transport.peer_unknown_source),
            peer_resolve_failures: get(&transport.peer_resolve_failures),
            peer_addresses: get(&transport.peer_addresses),
            nats_connected: get(&transport.nats_connected),
            nats_reconnects: get(&transport.nats_reconnects),
            nats_messages_out: get(&transport.nats_messages_out),
            nats_messages_in: get(&transport.nats_messages_in),
            nats_out_dropped: get(&transport.nats_out_dropped),
            nats_in_dropped: get(&transport.nats_in_dropped),
        }
    }

    /// The counters in the Prometheus text exposition format (version 0.0.4), each with
    /// `# HELP` and `# TYPE`: counters as `eventcast_NAME_total` (bytes as
    /// `eventcast_sent_bytes_total` and `eventcast_received_bytes_total`), levels as gauges,
    /// drops as `eventcast_dropped_total` by `reason`, and per-sender series labelled with
    /// `sender`. Clean under `promtool check metrics`.
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
        let header =
            |out: &mut String, metric: &str, kind: Kind, help: &str| series_header(out, metric, kind == Counter, help);
        for (field, metric, kind, help) in METRICS {
            if let Some(Value::Number(n)) = fields.get(*field) {
                header(&mut out, metric, *kind, help);
                let _ = writeln!(out, "{metric} {n}");
            }
        }
        if let Some(Value::Object(reasons)) = fields.get("dropped") {
            header(
                &mut out,
                "eventcast_dropped_total",
                Counter,
                "Received datagrams, frames or events dropped, by reason (see the docs of DropCounters).",
            );
            for (reason, n) in reasons {
                let _ = writeln!(out, "eventcast_dropped_total{{reason=\"{reason}\"}} {n}");
            }
        }
        let peers = &self.protocol.peer_table;
        type Field = fn(&proto::PeerStats) -> String;
        let series: [(&str, Kind, &str, Field); 4] = [
            ("eventcast_peer_events_total", Counter, "Events delivered from this sender.", |p| p.events.to_string()),
            (
                "eventcast_peer_gaps_recovered_total",
                Counter,
                "Missing events of this sender that were repaired.",
                |p| p.gaps_recovered.to_string(),
            ),
            (
                "eventcast_peer_events_lost_total",
                Counter,
                "Events of this sender given up on and reported lost.",
                |p| p.events_lost.to_string(),
            ),
            ("eventcast_peer_last_heard_seconds", Gauge, "Seconds since this sender was last heard.", |p| {
                format!("{:.3}", p.last_heard_ms as f64 / 1000.0)
            }),
        ];
        for (metric, kind, help, field) in series {
            header(&mut out, metric, kind, help);
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
        assert!(text.contains("# HELP eventcast_events_in_total Events delivered from the network.\n"));
        // every sample line is NAME[{labels}] VALUE
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("eventcast_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    /// Every numeric field has a metric with help text, and no two fields share a name.
    #[test]
    fn every_field_has_a_metric_with_help() {
        let Ok(Value::Object(fields)) = serde_json::to_value(Stats::default()) else { panic!() };
        for (name, value) in &fields {
            if value.is_number() {
                assert!(METRICS.iter().any(|m| m.0 == name), "no metric for the field {name:?}: add it to METRICS");
            }
        }
        let mut names: Vec<_> = METRICS.iter().map(|m| m.1).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        for (field, metric, kind, help) in METRICS {
            assert!(fields.contains_key(*field), "METRICS names {field:?}, which Stats has not");
            assert_eq!(metric.ends_with("_total"), *kind == Counter, "{metric}");
            assert!(!help.is_empty() && help.ends_with('.'), "{metric}");
        }
    }

    /// Prometheus's own linter finds nothing to say (skipped, saying so, where `promtool` is
    /// not installed; `.ci/run` installs it).
    #[test]
    fn promtool_finds_the_exposition_clean() {
        let mut s = Stats::default();
        s.protocol.peer_table.push(proto::PeerStats { sender: 0xab, events: 5, ..Default::default() });
        s.protocol.peer_table.push(proto::PeerStats { sender: 0xcd, events_lost: 2, ..Default::default() });
        for text in [s.to_prometheus(), crate::GatewayStats::default().to_prometheus()] {
            if !promtool_is_clean(&text) {
                return;
            }
        }
    }

    /// Asserts that `promtool check metrics` has nothing to say about `text`; false (saying
    /// so) when promtool is not installed.
    fn promtool_is_clean(text: &str) -> bool {
        use std::io::Write;
        let child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn();
        let Ok(mut child) = child else {
            eprintln!(
                "SKIPPED promtool_finds_the_exposition_clean: promtool is not installed (apt-get install prometheus)"
            );
            return false;
        };
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.trim().is_empty(), "promtool: {said}");
        true
    }
}
