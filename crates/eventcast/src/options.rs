//! Options of an instance, their defaults, and their validation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::interface::{self, Interface, ResolvedInterface};
use crate::proto::crypto::{Key, Keyring};
use crate::proto::{EndpointConfig, wire};

/// The default multicast group: administratively scoped (RFC 2365), so routers at the edge
/// of an organisation do not forward it.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 0, 99);
/// A suggested IPv6 group: transient, link-local scope (`ff12::/16`), the IPv6 equivalent of
/// the default TTL of 1.
pub const DEFAULT_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff12, 0, 0, 0, 0, 0, 0xec, 0x99);
/// The default UDP port, the one the original's examples use.
pub const DEFAULT_PORT: u16 = 9000;
/// The smallest allowed `max_payload_size`: room for headers and a useful fragment.
pub const MIN_PAYLOAD_SIZE: usize = 64;
/// The largest allowed `max_payload_size`: the largest UDP payload over IPv4.
pub const MAX_PAYLOAD_SIZE: usize = 65_507;
/// `max_payload_size` that means "as large as the interface's MTU allows" (resolved when the
/// options are checked: the interface's MTU less the IP and UDP headers; 1472 bytes for
/// IPv4, 1452 for IPv6, when the interface is the OS's choice). On loopback that is the
/// largest UDP payload, which moves large events several times faster; on a LAN with jumbo
/// frames, about 9000 bytes.
///
/// ```
/// # fn main() -> eventcast::Result<()> {
/// let ec = eventcast::Eventcast::builder()
///     .interface("127.0.0.1")
///     .max_payload_size(eventcast::AUTO_PAYLOAD_SIZE)
///     .build()?;
/// assert!(ec.options().max_payload_size > 1472);
/// # Ok(()) }
/// ```
pub const AUTO_PAYLOAD_SIZE: usize = 0;
/// The largest allowed `max_event_size` (1 GiB).
pub const MAX_EVENT_SIZE_LIMIT: usize = 1 << 30;

/// Where an instance's encryption key comes from. `Debug` never shows the secret.
///
/// ```
/// let e = eventcast::Encryption::Passphrase("correct horse".into());
/// assert!(!format!("{e:?}").contains("horse"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Encryption {
    /// A passphrase, stretched into an AES-128 key with Argon2id (as the original's
    /// `encrypt.key`, but authenticated).
    Passphrase(String),
    /// A raw key: 16 bytes for AES-128, 32 for AES-256.
    Key(Vec<u8>),
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encryption::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
            Encryption::Key(k) => write!(f, "Key(<{} bytes, redacted>)", k.len()),
        }
    }
}

impl std::str::FromStr for Encryption {
    type Err = Error;

    /// Reads a key as the CLI, `EVENTCAST_KEY` and the console take it: `hex:` and 32 or 64
    /// hex digits or `base64:` and 16 or 32 bytes for a raw key, anything else a passphrase.
    /// Errors never repeat the text.
    ///
    /// ```
    /// use eventcast::Encryption;
    /// let k: Encryption = "hex:00112233445566778899aabbccddeeff".parse().unwrap();
    /// assert!(matches!(k, Encryption::Key(ref b) if b.len() == 16));
    /// assert!(matches!("two words".parse(), Ok(Encryption::Passphrase(_))));
    /// ```
    fn from_str(text: &str) -> Result<Self> {
        use base64::Engine;
        let invalid = |allowed: &str| Error::invalid("key", "<redacted>", allowed);
        if let Some(digits) = text.strip_prefix("hex:") {
            let bytes = hex::decode(digits).map_err(|_| invalid("hex:<32 or 64 hex digits>"))?;
            Ok(Encryption::Key(bytes))
        } else if let Some(encoded) = text.strip_prefix("base64:") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| invalid("base64:<16 or 32 bytes in standard base64>"))?;
            Ok(Encryption::Key(bytes))
        } else if text.is_empty() {
            Err(invalid("a non-empty passphrase, hex:<32 or 64 hex digits> or base64:<16 or 32 bytes>"))
        } else {
            Ok(Encryption::Passphrase(text.to_owned()))
        }
    }
}

/// A secret a console client must type first. `Debug` never shows it.
///
/// ```
/// let t = eventcast::ConsoleToken::from("s3cret");
/// assert!(!format!("{t:?}").contains("s3cret"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleToken(pub(crate) String);

impl From<&str> for ConsoleToken {
    fn from(token: &str) -> Self {
        ConsoleToken(token.to_owned())
    }
}

impl std::fmt::Debug for ConsoleToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConsoleToken(<redacted>)")
    }
}

impl Encryption {
    /// The key this describes, with id `id`.
    pub(crate) fn key(&self, id: u8) -> Result<Key> {
        let made = match self {
            Encryption::Passphrase(p) => Key::from_passphrase(id, p),
            Encryption::Key(bytes) => Key::from_bytes(id, bytes),
        };
        made.map_err(|e| {
            let value = match self {
                Encryption::Passphrase(_) => "<passphrase>".to_owned(),
                Encryption::Key(k) => format!("<{} bytes>", k.len()),
            };
            Error::invalid("key", value, e.to_string())
        })
    }
}

/// Every option of an instance. Build one through [`crate::Builder`], which validates it.
///
/// ```
/// let options = eventcast::Options::default();
/// assert_eq!(options.port, 9000);
/// assert_eq!(options.max_payload_size, 1024);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Address the UDP socket binds to. `None` binds the group address on Linux, so that
    /// the kernel hands the socket only that group's datagrams, whatever other groups
    /// other sockets on the host joined on the port (see `driver::socket`); elsewhere the
    /// unspecified address of the group's family (`0.0.0.0` or `::`), as the original does.
    pub address: Option<IpAddr>,
    /// UDP port; instances that want to hear each other use the same one.
    pub port: u16,
    /// Multicast group to join and send to (the original's `multicastMembership`).
    pub group: IpAddr,
    /// Interface for multicast, by address or name; [`Interface::Default`] lets the OS choose.
    pub interface: Interface,
    /// Receive multicast sent from this host, so instances on one machine see each other.
    pub loopback: bool,
    /// IPv4 TTL or IPv6 hop limit of multicast datagrams; 1 keeps them on the local network.
    pub ttl: u32,
    /// Largest datagram sent, in bytes of UDP payload; larger events are segmented.
    /// [`AUTO_PAYLOAD_SIZE`] (0) takes it from the interface's MTU.
    pub max_payload_size: usize,
    /// An incomplete segmented event is discarded when no fragment arrives for this long.
    pub message_ttl: Duration,
    /// Largest event (name and encoded arguments), sent or accepted.
    pub max_event_size: usize,
    /// Incomplete events held per sender.
    pub max_partial_per_sender: usize,
    /// Bytes held by all incomplete events together.
    pub max_reassembly_bytes: usize,
    /// Senders remembered at once.
    pub max_senders: usize,
    /// Events buffered per [`crate::EventStream`]. When a stream is full, the dispatcher
    /// thread waits for its reader (other listeners wait with it, the protocol does not),
    /// and the senders are slowed through flow control.
    pub stream_capacity: usize,
    /// Socket receive buffer to ask for, in bytes. `None` asks for 8 MiB and quietly takes
    /// what the OS grants; a value set here is warned about when the OS caps it
    /// (`net.core.rmem_max` on Linux).
    pub recv_buffer_size: Option<usize>,
    /// How events are delivered unless `emit_with` says otherwise.
    pub delivery: crate::proto::DeliveryMode,
    /// Which events of each sender this instance receives: [`StartAt::Live`] (default)
    /// those sent after it joined; [`StartAt::Oldest`] also what the sender still holds.
    ///
    /// [`StartAt::Live`]: crate::StartAt::Live
    /// [`StartAt::Oldest`]: crate::StartAt::Oldest
    pub start_at: crate::StartAt,
    /// Events kept for repair, at most.
    pub retransmit_max_events: usize,
    /// Bytes kept for repair, at most (at least `max_event_size`), counting each event's
    /// bookkeeping (about 100 bytes) with its payload, so that it bounds real memory.
    pub retransmit_max_bytes: usize,
    /// An event is kept for repair at least this long; when the buffer is full before that,
    /// `emit` waits (backpressure).
    pub retransmit_min_hold: Duration,
    /// An event is kept for repair at most this long: the repair window.
    pub retransmit_max_age: Duration,
    /// Sending rate limit in bytes per second (all datagrams, repairs included); `None` for
    /// no limit.
    pub pace_rate: Option<u64>,
    /// Authenticated encryption of everything sent and received (AES-GCM); `None` sends
    /// plaintext. Instances with and without encryption do not hear each other.
    pub encryption: Option<Encryption>,
    /// The id of that key (default 1): the id receivers look it up by, so the same key
    /// must have the same id everywhere.
    pub key_id: u8,
    /// With encryption, datagrams sealed further than this from our clock are refused as
    /// stale: the tolerance for clock differences between hosts, and the age beyond which a
    /// captured datagram cannot be replayed even to an instance that never heard its sender.
    pub freshness: Duration,
    /// Whether this instance logs at all (through `tracing`, target `eventcast`).
    pub log: bool,
    /// The most verbose level this instance logs at, for every component at first (see
    /// [`crate::Eventcast::set_log_level`] to change it while running).
    pub log_level: tracing::Level,
    /// Whether to serve the TCP console (the original's REPL): off by default. It starts
    /// with the first [`crate::Eventcast::start`] and serves until the last handle is dropped.
    pub repl: bool,
    /// The console's TCP port; 0 (the default) picks a free one, logged and shown by
    /// [`crate::Eventcast::console_addr`].
    pub repl_port: u16,
    /// The address the console listens on (default 127.0.0.1: this host only).
    pub repl_host: IpAddr,
    /// A token a console client must type before anything else; `None` asks for none.
    pub repl_token: Option<ConsoleToken>,
    /// Console sessions at once; more are refused with a message (default 8).
    pub repl_max_clients: usize,
    /// Where datagrams travel besides (or instead of) the multicast group: unicast peers and
    /// NATS (see [`TransportOptions`](crate::TransportOptions)).
    pub transport: crate::TransportOptions,
}

impl Default for Options {
    fn default() -> Self {
        let core = EndpointConfig::default();
        Options {
            address: None,
            port: DEFAULT_PORT,
            group: IpAddr::V4(DEFAULT_GROUP),
            interface: Interface::Default,
            loopback: true,
            ttl: 1,
            max_payload_size: core.max_payload_size,
            message_ttl: core.receiver.reassembly.ttl,
            max_event_size: core.max_event_size,
            max_partial_per_sender: core.receiver.reassembly.max_partial_per_sender,
            max_reassembly_bytes: core.receiver.reassembly.max_bytes,
            max_senders: core.receiver.max_senders,
            stream_capacity: 4096,
            delivery: crate::proto::DeliveryMode::Reliable,
            start_at: crate::StartAt::Live,
            retransmit_max_events: core.sender.retransmit_max_events,
            retransmit_max_bytes: core.sender.retransmit_max_bytes,
            retransmit_min_hold: core.sender.retransmit_min_hold,
            retransmit_max_age: core.sender.retransmit_max_age,
            pace_rate: None,
            encryption: None,
            key_id: 1,
            freshness: Duration::from_secs(60),
            recv_buffer_size: None,
            log: true,
            log_level: tracing::Level::INFO,
            repl: false,
            repl_port: 0,
            repl_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            repl_token: None,
            repl_max_clients: 8,
            transport: crate::TransportOptions::default(),
        }
    }
}

/// Options after validation, with the interface resolved.
#[derive(Debug, Clone)]
pub(crate) struct Validated {
    pub options: Options,
    pub bind: SocketAddr,
    pub destination: SocketAddr,
    pub interface: ResolvedInterface,
    pub keyring: Option<Keyring>,
    /// Where the unicast peers' socket binds: `address` (or the unspecified address of the
    /// group's family) and `port`.
    pub unicast_bind: SocketAddr,
    /// The NATS subject: the one set, or the one derived from group and port.
    pub nats_subject: String,
}

/// The UDP payload that fits one frame of an interface with `mtu` (a 1500-byte Ethernet
/// frame when unknown), for a group of `group`'s family.
fn auto_payload_size(mtu: Option<usize>, group: IpAddr) -> usize {
    let headers = if group.is_ipv4() { 20 + 8 } else { 40 + 8 };
    mtu.unwrap_or(1500).saturating_sub(headers).clamp(MIN_PAYLOAD_SIZE, MAX_PAYLOAD_SIZE)
}

impl Options {
    /// Checks every option and resolves the interface.
    pub(crate) fn validate(mut self) -> Result<Validated> {
        if !self.group.is_multicast() {
            let allowed = "a multicast group: 224.0.0.0/4 for IPv4 (239.255.0.0/16 for local use) or ff00::/8 for IPv6";
            return Err(Error::invalid("group", self.group, allowed));
        }
        if self.port == 0 {
            return Err(Error::invalid("port", 0, "1 to 65535, the same on every instance that should meet"));
        }
        if let Some(address) = self.address {
            if address.is_ipv4() != self.group.is_ipv4() {
                return Err(Error::invalid(
                    "address",
                    address,
                    format!("an address of the group's family ({})", family(self.group)),
                ));
            }
        }
        if self.ttl > 255 {
            return Err(Error::invalid("ttl", self.ttl, "0 to 255 (1 keeps datagrams on the local network)"));
        }
        let interface = interface::resolve(&self.interface, self.group)?;
        if self.max_payload_size == AUTO_PAYLOAD_SIZE {
            self.max_payload_size = auto_payload_size(interface.mtu, self.group);
        }
        if !(MIN_PAYLOAD_SIZE..=MAX_PAYLOAD_SIZE).contains(&self.max_payload_size) {
            let allowed = format!(
                "{MIN_PAYLOAD_SIZE} to {MAX_PAYLOAD_SIZE} bytes (keep it under the path MTU, about 1400), or 0 for the interface's MTU"
            );
            return Err(Error::invalid("max_payload_size", self.max_payload_size, allowed));
        }
        if self.message_ttl.is_zero() || self.message_ttl > Duration::from_secs(3600) {
            return Err(Error::invalid(
                "message_ttl",
                format!("{:?}", self.message_ttl),
                "more than 0 and at most 1 hour",
            ));
        }
        let chunk = wire::fragment_room(self.max_payload_size);
        let max_event = MAX_EVENT_SIZE_LIMIT.min(chunk * wire::MAX_FRAGMENT_COUNT as usize);
        if self.max_event_size == 0 || self.max_event_size > max_event {
            let allowed = format!("1 to {max_event} bytes with max_payload_size {}", self.max_payload_size);
            return Err(Error::invalid("max_event_size", self.max_event_size, allowed));
        }
        if self.max_reassembly_bytes < self.max_event_size {
            let allowed = format!("at least max_event_size ({} bytes)", self.max_event_size);
            return Err(Error::invalid("max_reassembly_bytes", self.max_reassembly_bytes, allowed));
        }
        if self.retransmit_max_bytes < self.max_event_size {
            let allowed =
                format!("at least max_event_size ({} bytes), so that any event can be repaired", self.max_event_size);
            return Err(Error::invalid("retransmit_max_bytes", self.retransmit_max_bytes, allowed));
        }
        if self.retransmit_min_hold > self.retransmit_max_age {
            let allowed = format!("at most retransmit_max_age ({:?})", self.retransmit_max_age);
            return Err(Error::invalid("retransmit_min_hold", format!("{:?}", self.retransmit_min_hold), allowed));
        }
        if self.freshness < Duration::from_secs(1) || self.freshness > Duration::from_secs(86_400) {
            let allowed = "1 s to 1 day (it must cover the clock differences between hosts)";
            return Err(Error::invalid("freshness", format!("{:?}", self.freshness), allowed));
        }
        if self.pace_rate.is_some_and(|r| r < 1000) {
            return Err(Error::invalid(
                "pace_rate",
                self.pace_rate.unwrap_or(0),
                "at least 1000 bytes per second, or no limit",
            ));
        }
        for (option, value) in [
            ("retransmit_max_events", self.retransmit_max_events),
            ("max_partial_per_sender", self.max_partial_per_sender),
            ("max_senders", self.max_senders),
            ("stream_capacity", self.stream_capacity),
        ] {
            if value == 0 {
                return Err(Error::invalid(option, value, "at least 1"));
            }
        }
        if !(1..=1024).contains(&self.repl_max_clients) {
            return Err(Error::invalid("repl_max_clients", self.repl_max_clients, "1 to 1024 console sessions"));
        }
        if self
            .repl_token
            .as_ref()
            .map(|t| &t.0)
            .is_some_and(|t| t.is_empty() || t.len() > 1024 || t.contains(['\r', '\n']))
        {
            return Err(Error::invalid("repl_token", "<redacted>", "1 to 1024 bytes on one line, or no token"));
        }
        let keyring = match &self.encryption {
            Some(e) => Some(Keyring::new(e.key(self.key_id)?)),
            None => None,
        };
        let destination = match self.group {
            IpAddr::V4(g) => SocketAddr::from((g, self.port)),
            IpAddr::V6(g) => {
                let scope = if g.segments()[0] & 0x000f <= 2 { interface.index } else { 0 };
                SocketAddr::V6(std::net::SocketAddrV6::new(g, self.port, 0, scope))
            }
        };
        let bind = match self.address {
            Some(ip) => SocketAddr::new(ip, self.port),
            None if cfg!(target_os = "linux") => destination,
            None => SocketAddr::new(
                match self.group {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                },
                self.port,
            ),
        };
        crate::transport::validate(&self.transport)?;
        let unicast_bind = SocketAddr::new(
            self.address.unwrap_or(match self.group {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            }),
            self.port,
        );
        let nats_subject = self
            .transport
            .nats
            .as_ref()
            .and_then(|n| n.subject.clone())
            .unwrap_or_else(|| crate::NatsOptions::default_subject(self.group, self.port));
        Ok(Validated { bind, destination, interface, keyring, unicast_bind, nats_subject, options: self })
    }

    /// The protocol core's settings.
    pub(crate) fn endpoint_config(&self, seed: u64) -> EndpointConfig {
        let mut c = EndpointConfig::new(self.max_payload_size, self.message_ttl, self.max_event_size);
        c.receiver.reassembly.max_partial_per_sender = self.max_partial_per_sender;
        c.receiver.reassembly.max_bytes = self.max_reassembly_bytes;
        c.receiver.max_senders = self.max_senders;
        c.receiver.start_at = self.start_at;
        c.sender.retransmit_max_events = self.retransmit_max_events;
        c.sender.retransmit_max_bytes = self.retransmit_max_bytes;
        c.sender.retransmit_min_hold = self.retransmit_min_hold;
        c.sender.retransmit_max_age = self.retransmit_max_age;
        c.sender.pace_bytes_per_sec = self.pace_rate;
        c.seed = seed;
        c
    }
}

pub(crate) fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(f: impl FnOnce(&mut Options)) -> String {
        let mut o = Options { interface: Interface::Addr("127.0.0.1".parse().unwrap()), ..Options::default() };
        f(&mut o);
        o.validate().map(|_| String::new()).unwrap_or_else(|e| e.to_string())
    }

    #[test]
    fn auto_payload_size_follows_the_mtu_within_the_limits() {
        let v4: IpAddr = "239.1.2.3".parse().unwrap();
        let v6: IpAddr = "ff12::1".parse().unwrap();
        assert_eq!(auto_payload_size(Some(1500), v4), 1472);
        assert_eq!(auto_payload_size(Some(1500), v6), 1452);
        assert_eq!(auto_payload_size(Some(9000), v4), 8972);
        assert_eq!(auto_payload_size(None, v4), 1472);
        assert_eq!(auto_payload_size(Some(65536), v4), MAX_PAYLOAD_SIZE);
        assert_eq!(auto_payload_size(Some(68), v4), MIN_PAYLOAD_SIZE);
        assert_eq!(auto_payload_size(Some(0), v6), MIN_PAYLOAD_SIZE);
        let mut o = Options {
            interface: Interface::Name("lo".into()),
            max_payload_size: AUTO_PAYLOAD_SIZE,
            ..Options::default()
        };
        o.group = v4;
        assert_eq!(o.validate().unwrap().options.max_payload_size, MAX_PAYLOAD_SIZE, "lo's MTU is 65536");
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(check(|_| {}), "");
    }

    #[test]
    fn each_bad_value_is_named() {
        type Case = (Box<dyn FnOnce(&mut Options)>, &'static str);
        let cases: Vec<Case> = vec![
            (Box::new(|o| o.group = "10.1.2.3".parse().unwrap()), "invalid group \"10.1.2.3\""),
            (Box::new(|o| o.port = 0), "invalid port \"0\""),
            (Box::new(|o| o.ttl = 300), "invalid ttl \"300\""),
            (Box::new(|o| o.max_payload_size = 20), "invalid max_payload_size \"20\": 64 to 65507"),
            (Box::new(|o| o.max_payload_size = 70_000), "invalid max_payload_size \"70000\""),
            (Box::new(|o| o.message_ttl = Duration::ZERO), "invalid message_ttl"),
            (Box::new(|o| o.max_event_size = 0), "invalid max_event_size \"0\""),
            (Box::new(|o| o.max_reassembly_bytes = 10), "invalid max_reassembly_bytes \"10\""),
            (Box::new(|o| o.address = Some("::".parse().unwrap())), "invalid address \"::\""),
            (Box::new(|o| o.repl_max_clients = 0), "invalid repl_max_clients \"0\": 1 to 1024"),
            (Box::new(|o| o.repl_token = Some("a\nb".into())), "invalid repl_token \"<redacted>\""),
            (Box::new(|o| o.group = DEFAULT_GROUP_V6.into()), "invalid interface \"127.0.0.1\""),
            (Box::new(|o| o.interface = Interface::Name("no-such-if0".into())), "invalid interface \"no-such-if0\""),
            (
                Box::new(|o| o.interface = Interface::Addr("192.0.2.77".parse().unwrap())),
                "invalid interface \"192.0.2.77\"",
            ),
        ];
        for (f, want) in cases {
            let got = check(f);
            assert!(got.starts_with(want), "{got:?} should start with {want:?}");
        }
    }
}
