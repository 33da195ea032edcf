//! The network options every command takes, named after the library's options.

use std::time::Duration;

use clap::Args;
use eventcast::{DeliveryMode, Encryption, Eventcast, StartAt};

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
    /// Largest datagram in bytes, or `auto` for the interface's MTU; larger events are segmented
    #[arg(long, env = "EVENTCAST_MAX_PAYLOAD_SIZE", default_value = "1024", value_parser = parse_payload_size)]
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
    /// Which events of each sender to receive: live (sent after this instance joined) or
    /// oldest (also what the sender still holds for repair)
    #[arg(long, env = "EVENTCAST_START_AT", default_value = "live", value_parser = parse_start_at)]
    pub start_at: StartAt,
    /// Limit sending to this many bytes per second (e.g. 500k, 20M); default: no limit
    #[arg(long, env = "EVENTCAST_PACE_RATE", value_parser = parse_rate)]
    pub pace_rate: Option<u64>,
    /// Socket receive buffer to ask for, in bytes (a warning says when the OS caps it)
    #[arg(long, env = "EVENTCAST_RECV_BUFFER")]
    pub recv_buffer: Option<usize>,
    /// Encrypt with the key in this file: a passphrase, hex:<32 or 64 hex digits> or
    /// base64:<16 or 32 bytes> for a raw AES-128/256 key, or ID=KEY lines and use=ID for a
    /// keyring. The environment variable EVENTCAST_KEY takes the same forms.
    #[arg(long, env = "EVENTCAST_KEY_FILE")]
    pub key_file: Option<std::path::PathBuf>,
    /// Encryption key on the command line (visible to every user of the machine: prefer
    /// EVENTCAST_KEY or --key-file)
    #[arg(long)]
    pub key: Option<String>,
    /// Serve the TCP console (telnet, nc or `eventcast console`) on --repl-host:--repl-port
    #[arg(long, env = "EVENTCAST_REPL")]
    pub repl: bool,
    /// Console port; turns the console on (default with --repl: a free port, printed)
    #[arg(long, env = "EVENTCAST_REPL_PORT")]
    pub repl_port: Option<u16>,
    /// Console address; anything but loopback lets other hosts in (set a token then)
    #[arg(long, env = "EVENTCAST_REPL_HOST", default_value = "127.0.0.1")]
    pub repl_host: String,
    /// A token console clients must type first (prefer the environment variable)
    #[arg(long, env = "EVENTCAST_REPL_TOKEN", hide_env_values = true)]
    pub repl_token: Option<String>,
    /// Serve the counters in Prometheus text format at http://ADDR/metrics (e.g. 127.0.0.1:9464)
    #[arg(long, env = "EVENTCAST_METRICS")]
    pub metrics: Option<std::net::SocketAddr>,
    #[command(flatten)]
    pub transport: crate::transport::TransportArgs,
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
            .delivery(self.delivery)
            .start_at(self.start_at);
        if self.repl || self.repl_port.is_some() {
            builder = builder.repl(true).repl_port(self.repl_port.unwrap_or(0)).repl_host(&self.repl_host);
            if let Some(token) = &self.repl_token {
                builder = builder.repl_token(token);
            }
        }
        builder = builder.log_level(tracing::Level::TRACE);
        builder = self.transport.apply(builder)?;
        if let Some(bind) = &self.bind {
            builder = builder.address(bind);
        }
        if let Some(rate) = self.pace_rate {
            builder = builder.pace_rate(rate);
        }
        if let Some(bytes) = self.recv_buffer {
            builder = builder.recv_buffer_size(bytes);
        }
        let keys = match self.key_spec()? {
            Some(spec) => parse_keys(&spec)?,
            None => KeyConfig::default(),
        };
        if let Some((id, first)) = keys.keys.first() {
            builder = match first {
                Encryption::Passphrase(p) => builder.passphrase(p),
                Encryption::Key(k) => builder.key(k),
            }
            .key_id(*id);
        }
        let ec = builder.build()?;
        crate::apply_log_levels(&ec)?;
        for (id, key) in keys.keys.iter().skip(1) {
            ec.install_key(*id, key)?;
        }
        if let Some(id) = keys.use_id {
            ec.use_key(id)?;
        }
        Ok(ec)
    }

    /// Where this instance listens, for its ready line: `239.255.0.99:9000 via interface lo,
    /// peers 10.0.0.2:9000, NATS nats://…`.
    pub fn describe(&self) -> String {
        let t = &self.transport;
        let mut parts = Vec::new();
        if !t.no_multicast {
            parts.push(format!("{}:{} via interface {}", self.group, self.port, self.interface));
        }
        if !t.peers.is_empty() {
            parts.push(format!("port {} for peers {}", self.port, t.peers.join(", ")));
        }
        if let Some(nats) = &t.nats {
            let subject = t.nats_subject.clone().unwrap_or_else(|| match self.group.parse() {
                Ok(group) => eventcast::NatsOptions::default_subject(group, self.port),
                Err(_) => "?".into(),
            });
            parts.push(format!("NATS subject {subject} at {}", eventcast::NatsOptions::redact(nats)));
        }
        parts.join(", ")
    }

    /// Once `ec` runs: says where its console is, and serves `--metrics`. The metrics server
    /// stops when the returned guard drops.
    pub fn serve_extras(&self, ec: &Eventcast) -> eventcast::Result<Option<crate::metrics::Server>> {
        if let Some(addr) = ec.console_addr() {
            eprintln!("eventcast: console on {addr} (eventcast console {addr}, or telnet)");
        }
        match self.metrics {
            Some(addr) => {
                let server = crate::metrics::Server::start(ec.clone(), addr)?;
                eprintln!("eventcast: metrics on http://{}/metrics", server.addr);
                Ok(Some(server))
            }
            None => Ok(None),
        }
    }
}

/// Reads a duration: plain seconds (`3`, `0.5`) or with a unit (`500ms`, `3s`, `2m`).
/// A datagram size in bytes, or `auto` ([`eventcast::AUTO_PAYLOAD_SIZE`]: the interface's MTU).
pub fn parse_payload_size(text: &str) -> Result<usize, String> {
    match text.trim() {
        "auto" => Ok(eventcast::AUTO_PAYLOAD_SIZE),
        t => t.parse().map_err(|_| format!("{text:?} is not a size in bytes; use a number such as 1400, or auto")),
    }
}

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

/// Reads a start point.
pub fn parse_start_at(text: &str) -> Result<StartAt, String> {
    match text {
        "live" => Ok(StartAt::Live),
        "oldest" => Ok(StartAt::Oldest),
        other => Err(format!("{other:?} is not a start point; use live or oldest")),
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

/// Keys from a key file or EVENTCAST_KEY: the first one encrypts unless `use_id` says which.
#[derive(Debug, Default)]
pub struct KeyConfig {
    pub keys: Vec<(u8, Encryption)>,
    pub use_id: Option<u8>,
}

/// Reads keys. One key alone (a passphrase, or `hex:` + 32/64 hex digits) has id 1. For
/// rotation, one key per line as `ID=KEY`, and optionally `use=ID` for the one that encrypts:
///
/// ```text
/// 1=hex:00112233445566778899aabbccddeeff
/// 2=a new passphrase
/// use=2
/// ```
pub fn parse_keys(text: &str) -> eventcast::Result<KeyConfig> {
    let bad = |allowed: String| eventcast::Error::InvalidOption { option: "key", value: "<redacted>".into(), allowed };
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let is_entry = |l: &str| l.split_once('=').is_some_and(|(k, _)| k == "use" || k.parse::<u8>().is_ok());
    if lines.is_empty() || !lines.iter().all(|l| is_entry(l)) {
        return Ok(KeyConfig { keys: vec![(1, parse_key(text.trim())?)], use_id: None });
    }
    let mut config = KeyConfig::default();
    for line in lines {
        let (k, v) = line.split_once('=').unwrap_or_default();
        if k == "use" {
            let id = v.trim().parse().map_err(|_| bad(format!("use=ID with ID 0 to 255, not {v:?}")))?;
            config.use_id = Some(id);
        } else {
            config.keys.push((k.parse().unwrap_or_default(), parse_key(v.trim())?));
        }
    }
    if config.keys.is_empty() {
        return Err(bad("at least one ID=KEY line".into()));
    }
    Ok(config)
}

/// Reads a key: see [`Encryption`]'s `FromStr`.
pub fn parse_key(text: &str) -> eventcast::Result<Encryption> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_hold_one_key_or_a_keyring() {
        let one = parse_keys("hex:00112233445566778899aabbccddeeff\n").unwrap();
        assert_eq!((one.keys.len(), one.keys[0].0, one.use_id), (1, 1, None));
        let pass = parse_keys("a passphrase with = inside").unwrap();
        assert_eq!(pass.keys[0].1, Encryption::Passphrase("a passphrase with = inside".into()));
        let ring = parse_keys("# rotation\n1=hex:00112233445566778899aabbccddeeff\n2=new words\nuse=2\n").unwrap();
        assert_eq!(ring.keys.iter().map(|k| k.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(ring.use_id, Some(2));
        assert!(parse_keys("1=hex:zz").is_err());
        assert_eq!(
            parse_keys("base64:AAECAwQFBgcICQoLDA0ODw==").unwrap().keys[0].1,
            Encryption::Key((0..16).collect())
        );
        assert!(parse_keys("use=300\n1=x").is_err());
    }
}
