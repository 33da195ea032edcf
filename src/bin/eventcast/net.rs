//! The network options every command takes, named after the library's options.

use std::time::Duration;

use clap::Args;
use eventcast::{DeliveryMode, Eventcast};

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
}

impl NetArgs {
    /// Builds the (stopped) instance these options describe.
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
