//! The network options every command takes, named after the library's options.

use std::time::Duration;

use clap::Args;
use eventcast::{DeliveryMode, Encryption, Eventcast};

/// Network options; each can also come from an `EVENTCAST_…` environment variable.
#[derive(Debug, Clone, Args)]
pub struct NetArgs {
    /// Multicast group to join and send to (IPv4 or IPv6)
    #[arg(long, env = "EVENTCAST_GROUP", default_value_t = eventcast::DEFAULT_GROUP.to_string())]
    pub group: String,
    /// UDP port; instances that should meet use the same one
    #[arg(long, env = "EVENTCAST_PORT", default_value_t = eventcast::DEFAULT_PORT)]
    pub port: u16,
    /// Multicast interface, by address (127.0.0.1) or name (lo, eth0); default: the OS's choice
    #[arg(long, env = "EVENTCAST_INTERFACE", default_value = "default")]
    pub interface: String,
    /// Address to bind; default: the unspecified address of the group's family
    #[arg(long, env = "EVENTCAST_BIND")]
    pub bind: Option<String>,
    /// Multicast TTL / hop limit (1 keeps datagrams on the local network)
    #[arg(long, env = "EVENTCAST_TTL", default_value_t = 1)]
    pub ttl: u32,
    /// Do not receive multicast sent from this host
    #[arg(long, env = "EVENTCAST_NO_LOOPBACK")]
    pub no_loopback: bool,
    /// Largest datagram in bytes; larger events are segmented
    #[arg(long, env = "EVENTCAST_MAX_PAYLOAD_SIZE", default_value_t = 1024)]
    pub max_payload_size: usize,
    /// Discard an incomplete event after this long without a fragment (e.g. 3, 3s, 500ms)
    #[arg(long, env = "EVENTCAST_MESSAGE_TTL", default_value = "3s", value_parser = parse_duration)]
    pub message_ttl: Duration,
    /// Largest event in bytes, sent or accepted
    #[arg(long, env = "EVENTCAST_MAX_EVENT_SIZE", default_value_t = 8 << 20)]
    pub max_event_size: usize,
    /// How events are delivered: reliable (repaired, in order), unordered (repaired), best-effort
    #[arg(long, env = "EVENTCAST_DELIVERY", default_value = "reliable", value_parser = parse_delivery)]
    pub delivery: DeliveryMode,
    /// Limit sending to this many bytes per second (e.g. 500k, 20M); default: no limit
    #[arg(long, env = "EVENTCAST_PACE_RATE", value_parser = parse_rate)]
    pub pace_rate: Option<u64>,
    /// Socket receive buffer to ask for, in bytes (a warning says when the OS caps it)
    #[arg(long, env = "EVENTCAST_RECV_BUFFER")]
    pub recv_buffer: Option<usize>,
    /// Encrypt with the key in this file: a passphrase, or hex:<32 or 64 hex digits> for a
    /// raw AES-128/256 key. The environment variable EVENTCAST_KEY takes the same forms.
    #[arg(long, env = "EVENTCAST_KEY_FILE")]
    pub key_file: Option<std::path::PathBuf>,
    /// Encryption key on the command line (visible to every user of the machine: prefer
    /// EVENTCAST_KEY or --key-file)
    #[arg(long)]
    pub key: Option<String>,
}

impl NetArgs {
    /// Builds the (stopped) instance these options describe.
    /// The key from --key, --key-file or EVENTCAST_KEY, in that order.
    fn key_spec(&self) -> eventcast::Result<Option<String>> {
        if let Some(key) = &self.key {
            eprintln!(
                "eventcast: warning: a key given with --key is visible to every user of this machine; use EVENTCAST_KEY or --key-file"
            );
            return Ok(Some(key.clone()));
        }
        if let Some(path) = &self.key_file {
            let text = std::fs::read_to_string(path).map_err(|e| eventcast::Error::InvalidOption {
                option: "key-file",
                value: path.display().to_string(),
                allowed: format!("a readable file holding a passphrase or hex:<key> ({e})"),
            })?;
            return Ok(Some(text));
        }
        Ok(std::env::var("EVENTCAST_KEY").ok())
    }

    pub fn build(&self) -> eventcast::Result<Eventcast> {
        let mut builder = Eventcast::builder()
            .group(&self.group)
            .port(self.port)
            .interface(&self.interface)
            .ttl(self.ttl)
            .loopback(!self.no_loopback)
            .max_payload_size(self.max_payload_size)
            .message_ttl(self.message_ttl)
            .max_event_size(self.max_event_size)
            .delivery(self.delivery);
        if let Some(bind) = &self.bind {
            builder = builder.address(bind);
        }
        if let Some(rate) = self.pace_rate {
            builder = builder.pace_rate(rate);
        }
        if let Some(bytes) = self.recv_buffer {
            builder = builder.recv_buffer_size(bytes);
        }
        if let Some(spec) = self.key_spec()? {
            builder = match parse_key(spec.trim())? {
                Encryption::Passphrase(p) => builder.passphrase(&p),
                Encryption::Key(k) => builder.key(&k),
            };
        }
        builder.build()
    }
}

/// Reads a duration: plain seconds (`3`, `0.5`) or with a unit (`500ms`, `3s`, `2m`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use seconds (3, 0.5) or 500ms, 3s, 2m"))?;
    if !value.is_finite() || value < 0.0 || value * scale > 1e9 {
        return Err(format!("{text:?} is out of range; use a non-negative duration"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

/// Reads a delivery mode.
pub fn parse_delivery(text: &str) -> Result<DeliveryMode, String> {
    match text {
        "reliable" => Ok(DeliveryMode::Reliable),
        "unordered" => Ok(DeliveryMode::Unordered),
        "best-effort" => Ok(DeliveryMode::BestEffort),
        other => Err(format!("{other:?} is not a delivery mode; use reliable, unordered or best-effort")),
    }
}

/// Reads a rate in bytes per second: `250000`, `500k`, `20M`, `1G`.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, 'k' | 'K')) => (&t[..i], 1e3),
        Some((i, 'm' | 'M')) => (&t[..i], 1e6),
        Some((i, 'g' | 'G')) => (&t[..i], 1e9),
        _ => (t, 1.0),
    };
    let value: f64 =
        number.parse().map_err(|_| format!("{text:?} is not a rate; use bytes per second such as 500k or 20M"))?;
    let rate = value * scale;
    if !(1000.0..=1e12).contains(&rate) {
        return Err(format!("{text:?} is out of range; use 1k to 1000G bytes per second"));
    }
    Ok(rate as u64)
}

/// Reads a key: `hex:` and 32 or 64 hex digits for a raw key, anything else is a passphrase.
pub fn parse_key(text: &str) -> eventcast::Result<Encryption> {
    let invalid = |allowed: &str| eventcast::Error::InvalidOption {
        option: "key",
        value: "<redacted>".into(),
        allowed: allowed.into(),
    };
    match text.strip_prefix("hex:") {
        Some(digits) => {
            let bytes = hex::decode(digits).map_err(|_| invalid("hex:<32 or 64 hex digits>"))?;
            Ok(Encryption::Key(bytes))
        }
        None if text.is_empty() => Err(invalid("a non-empty passphrase, or hex:<32 or 64 hex digits>")),
        None => Ok(Encryption::Passphrase(text.to_owned())),
    }
}
