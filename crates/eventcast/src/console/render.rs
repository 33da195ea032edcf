//! What the console prints: counters, the peer table and the options, as text lines.

use std::fmt::Write;

use serde_json::Value;

use crate::eventcast::Eventcast;
use crate::stats::Stats;

/// Every counter as `name value`, nested ones as `dropped.forged`; the peer table is
/// `peers`' job.
pub(crate) fn stats(stats: &Stats) -> String {
    let mut out = String::new();
    let value = serde_json::to_value(stats).unwrap_or(Value::Null);
    let mut rows = Vec::new();
    flatten("", &value, &mut rows);
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in rows {
        let _ = write!(out, "{k:<width$}  {v}\r\n");
    }
    out
}

fn flatten(prefix: &str, value: &Value, rows: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "peer_table" {
                    continue;
                }
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&name, v, rows);
            }
        }
        other => rows.push((prefix.to_owned(), other.to_string())),
    }
}

/// One row per sender heard, most recently heard first.
pub(crate) fn peers(stats: &Stats) -> String {
    let mut peers = stats.protocol.peer_table.clone();
    if peers.is_empty() {
        return "no senders heard yet\r\n".into();
    }
    peers.sort_by_key(|p| p.last_heard_ms);
    let mut out = format!(
        "{:<16}  {:<22}  {:>10}  {:>10}  {:>9}  {:>6}  {:>6}\r\n",
        "SENDER", "ADDRESS", "LAST HEARD", "EVENTS", "RECOVERED", "LOST", "NACKS"
    );
    for p in peers {
        let addr = p.addr.map_or_else(|| "-".to_owned(), |a| a.to_string());
        let heard = format!("{:.1}s ago", p.last_heard_ms as f64 / 1000.0);
        let _ = write!(
            out,
            "{:016x}  {addr:<22}  {heard:>10}  {:>10}  {:>9}  {:>6}  {:>6}\r\n",
            p.sender, p.events, p.gaps_recovered, p.events_lost, p.nacks_sent
        );
    }
    out
}

/// The options in force, one per line; keys never, only their ids.
pub(crate) fn config(ec: &Eventcast) -> String {
    let o = ec.options();
    let encryption = match ec.key_ids() {
        None => "off".to_owned(),
        Some((ids, using)) => {
            let ids: Vec<String> = ids.iter().map(u8::to_string).collect();
            format!("on (key ids {}; encrypting with {using})", ids.join(", "))
        }
    };
    let levels: Vec<String> = ec.log_levels().iter().map(|(c, l)| format!("{c}={l}")).collect();
    let state = match ec.local_addr() {
        Some(addr) => format!("running, bound to {addr}"),
        None => "stopped".to_owned(),
    };
    let rows: Vec<(&str, String)> = vec![
        ("state", state),
        ("group", o.group.to_string()),
        ("port", o.port.to_string()),
        ("interface", o.interface.to_string()),
        ("address", o.address.map_or_else(|| "unspecified".into(), |a| a.to_string())),
        ("loopback", o.loopback.to_string()),
        ("ttl", o.ttl.to_string()),
        ("max_payload_size", o.max_payload_size.to_string()),
        ("message_ttl", format!("{:?}", o.message_ttl)),
        ("max_event_size", o.max_event_size.to_string()),
        ("delivery", format!("{:?}", o.delivery)),
        ("pace_rate", o.pace_rate.map_or_else(|| "unlimited".into(), |r| format!("{r} B/s"))),
        ("recv_buffer_size", o.recv_buffer_size.map_or_else(|| "default (8 MiB asked)".into(), |b| b.to_string())),
        ("retransmit_max_events", o.retransmit_max_events.to_string()),
        ("retransmit_max_bytes", o.retransmit_max_bytes.to_string()),
        ("retransmit_max_age", format!("{:?}", o.retransmit_max_age)),
        ("max_senders", o.max_senders.to_string()),
        ("stream_capacity", o.stream_capacity.to_string()),
        ("encryption", encryption),
        ("freshness", format!("{:?}", o.freshness)),
        ("log", levels.join(" ")),
        ("repl", format!("{}:{}", o.repl_host, o.repl_port)),
        ("repl_token", if o.repl_token.is_some() { "set".into() } else { "none".into() }),
        ("repl_max_clients", o.repl_max_clients.to_string()),
    ];
    rows.into_iter().map(|(k, v)| format!("{k:<22}  {v}\r\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::PeerStats;

    #[test]
    fn stats_lines_flatten_nested_counters_and_skip_peers() {
        let mut s = Stats::default();
        s.protocol.events_in = 42;
        s.protocol.dropped.forged = 3;
        s.protocol.peer_table.push(PeerStats::default());
        let text = stats(&s);
        assert!(text.lines().any(|l| l.starts_with("events_in ") && l.ends_with(" 42")));
        assert!(text.lines().any(|l| l.starts_with("dropped.forged ") && l.ends_with(" 3")));
        assert!(!text.contains("peer_table"));
    }

    #[test]
    fn peers_table_has_a_row_per_sender() {
        let mut s = Stats::default();
        assert!(peers(&s).contains("no senders"));
        s.protocol.peer_table.push(PeerStats {
            sender: 0xab,
            addr: Some("127.0.0.1:9000".parse().unwrap()),
            last_heard_ms: 1500,
            events: 7,
            ..PeerStats::default()
        });
        let text = peers(&s);
        assert_eq!(text.lines().count(), 2);
        assert!(text.contains("00000000000000ab  127.0.0.1:9000") && text.contains("1.5s ago"), "{text}");
    }
}
