//! The options object the JavaScript side hands over (already checked for names and
//! types there, and renamed from the original's names), turned into a [`Builder`].

use eventcast::{Builder, DeliveryMode, StartAt};
use serde::Deserialize;

/// The normalized options, as `lib/options.js` produces them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeOptions {
    pub port: Option<u16>,
    pub group: Option<String>,
    pub address: Option<String>,
    pub interface: Option<String>,
    pub loopback: Option<bool>,
    pub ttl: Option<u32>,
    pub max_payload_size: Option<usize>,
    pub message_ttl_ms: Option<u64>,
    pub max_event_size: Option<usize>,
    pub stream_capacity: Option<usize>,
    pub recv_buffer_size: Option<usize>,
    pub delivery: Option<String>,
    pub start_at: Option<String>,
    pub pace_rate: Option<u64>,
    pub retransmit_events: Option<usize>,
    pub retransmit_bytes: Option<usize>,
    pub passphrase: Option<String>,
    pub key_hex: Option<String>,
    pub key_id: Option<u8>,
    pub log: Option<bool>,
    pub log_level: Option<String>,
    pub console: Option<bool>,
    pub console_port: Option<u16>,
    pub console_host: Option<String>,
    pub console_token: Option<String>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub multicast: Option<bool>,
    pub nats: Option<String>,
    pub nats_subject: Option<String>,
    pub nats_token: Option<String>,
    pub nats_user: Option<String>,
    pub nats_password: Option<String>,
    pub nats_creds: Option<String>,
    pub nats_nkey: Option<String>,
    pub nats_tls_ca: Option<String>,
    /// Bytes of received events held for JavaScript before the dispatcher waits.
    pub inbox_bytes: Option<usize>,
}

/// What went wrong, as `[CODE] message` (see `crate::error`).
pub type Problem = String;

fn invalid(option: &str, value: &str, allowed: &str) -> Problem {
    format!("[EC_INVALID_OPTION] invalid {option} {value:?}: {allowed}")
}

impl NodeOptions {
    /// A builder with these options.
    pub fn builder(&self) -> Result<Builder, Problem> {
        let mut b = Builder::default();
        if let Some(v) = self.port {
            b = b.port(v);
        }
        if let Some(v) = &self.group {
            b = b.group(v);
        }
        if let Some(v) = &self.address {
            b = b.address(v);
        }
        if let Some(v) = &self.interface {
            b = b.interface(v);
        }
        if let Some(v) = self.loopback {
            b = b.loopback(v);
        }
        if let Some(v) = self.ttl {
            b = b.ttl(v);
        }
        if let Some(v) = self.max_payload_size {
            b = b.max_payload_size(v);
        }
        if let Some(v) = self.message_ttl_ms {
            b = b.message_ttl(std::time::Duration::from_millis(v));
        }
        if let Some(v) = self.max_event_size {
            b = b.max_event_size(v);
        }
        if let Some(v) = self.stream_capacity {
            b = b.stream_capacity(v);
        }
        if let Some(v) = self.recv_buffer_size {
            b = b.recv_buffer_size(v);
        }
        if let Some(v) = &self.delivery {
            b = b.delivery(delivery_mode(v)?);
        }
        if let Some(v) = &self.start_at {
            b = b.start_at(match v.as_str() {
                "live" => StartAt::Live,
                "oldest" => StartAt::Oldest,
                other => return Err(invalid("startAt", other, "'live' or 'oldest'")),
            });
        }
        if let Some(v) = self.pace_rate {
            b = b.pace_rate(v);
        }
        if self.retransmit_events.is_some() || self.retransmit_bytes.is_some() {
            let d = eventcast::Options::default();
            b = b.retransmit_buffer(
                self.retransmit_events.unwrap_or(d.retransmit_max_events),
                self.retransmit_bytes.unwrap_or(d.retransmit_max_bytes),
            );
        }
        if let Some(v) = &self.passphrase {
            b = b.passphrase(v);
        }
        if let Some(v) = &self.key_hex {
            let key = hex_bytes(v).ok_or_else(|| invalid("key", v, "16 or 32 bytes (a Buffer, or hex)"))?;
            b = b.key(&key);
        }
        if let Some(v) = self.key_id {
            b = b.key_id(v);
        }
        if let Some(v) = self.log {
            b = b.log(v);
        }
        if let Some(v) = &self.log_level {
            b = b.log_level(log_level(v)?);
        }
        if let Some(v) = self.console {
            b = b.repl(v);
        }
        if let Some(v) = self.console_port {
            b = b.repl_port(v);
        }
        if let Some(v) = &self.console_host {
            b = b.repl_host(v);
        }
        if let Some(v) = &self.console_token {
            b = b.repl_token(v);
        }
        for peer in &self.peers {
            b = b.peer(peer);
        }
        if let Some(v) = self.multicast {
            b = b.multicast(v);
        }
        if let Some(v) = &self.nats {
            b = b.nats(v);
        }
        if let Some(v) = &self.nats_subject {
            b = b.nats_subject(v);
        }
        if let Some(v) = &self.nats_token {
            b = b.nats_token(v);
        }
        if let Some(user) = &self.nats_user {
            b = b.nats_user(user, self.nats_password.as_deref().unwrap_or(""));
        }
        if let Some(v) = &self.nats_creds {
            b = b.nats_creds(v);
        }
        if let Some(v) = &self.nats_nkey {
            b = b.nats_nkey(v);
        }
        if let Some(v) = &self.nats_tls_ca {
            b = b.nats_tls_ca(v);
        }
        Ok(b)
    }
}

/// Reads a delivery mode as the CLI takes it.
pub fn delivery_mode(text: &str) -> Result<DeliveryMode, Problem> {
    match text {
        "reliable" => Ok(DeliveryMode::Reliable),
        "unordered" => Ok(DeliveryMode::Unordered),
        "best-effort" => Ok(DeliveryMode::BestEffort),
        other => Err(invalid("delivery", other, "'reliable', 'unordered' or 'best-effort'")),
    }
}

/// Reads a level name, the original's (bunyan's: `fatal` too) or `tracing`'s.
pub fn log_level(text: &str) -> Result<tracing::Level, Problem> {
    match text.to_ascii_lowercase().as_str() {
        "trace" => Ok(tracing::Level::TRACE),
        "debug" => Ok(tracing::Level::DEBUG),
        "info" => Ok(tracing::Level::INFO),
        "warn" => Ok(tracing::Level::WARN),
        "error" | "fatal" => Ok(tracing::Level::ERROR),
        _ => Err(invalid("logLevel", text, "'trace', 'debug', 'info', 'warn', 'error' or 'fatal'")),
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_reach_the_builder_and_bad_ones_are_named() {
        let o: NodeOptions = serde_json::from_str(
            r#"{"port": 9100, "interface": "127.0.0.1", "messageTtlMs": 1500, "delivery": "unordered"}"#,
        )
        .unwrap();
        let ec = o.builder().unwrap().build().unwrap();
        assert_eq!(ec.options().port, 9100);
        assert_eq!(ec.options().message_ttl, std::time::Duration::from_millis(1500));
        assert_eq!(ec.options().delivery, DeliveryMode::Unordered);

        let o: NodeOptions = serde_json::from_str(r#"{"delivery": "sometimes"}"#).unwrap();
        let err = o.builder().unwrap_err();
        assert!(err.starts_with("[EC_INVALID_OPTION]") && err.contains("sometimes"), "{err}");
        assert!(serde_json::from_str::<NodeOptions>(r#"{"prot": 1}"#).is_err());
        assert_eq!(hex_bytes("00ff10"), Some(vec![0, 255, 16]));
        assert_eq!(hex_bytes("0g"), None);
        assert_eq!(log_level("FATAL").unwrap(), tracing::Level::ERROR);
    }
}
