//! The builder of an [`Eventcast`] instance.

use std::marker::PhantomData;
use std::net::IpAddr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::eventcast::Eventcast;
use crate::interface::Interface;
use crate::options::Options;

/// Sets options one by one; `build` validates them all and makes the instance: an
/// [`Eventcast`] from [`Eventcast::builder`], a [`blocking::Eventcast`](crate::blocking::Eventcast)
/// from [`blocking::Eventcast::builder`](crate::blocking::Eventcast::builder), with the same
/// setters.
///
/// ```
/// use std::time::Duration;
/// let ec = eventcast::Eventcast::builder()
///     .group("239.255.0.7")
///     .port(9100)
///     .interface("127.0.0.1")
///     .max_payload_size(1400)
///     .message_ttl(Duration::from_secs(5))
///     .build()
///     .unwrap();
/// assert_eq!(ec.options().port, 9100);
/// ```
#[must_use]
pub struct Builder<T = Eventcast> {
    options: Options,
    bad_group: Option<String>,
    bad_address: Option<String>,
    bad_repl_host: Option<String>,
    makes: PhantomData<fn() -> T>,
}

impl<T> Default for Builder<T> {
    fn default() -> Self {
        Builder {
            options: Options::default(),
            bad_group: None,
            bad_address: None,
            bad_repl_host: None,
            makes: PhantomData,
        }
    }
}

impl<T> Clone for Builder<T> {
    fn clone(&self) -> Self {
        Builder {
            options: self.options.clone(),
            bad_group: self.bad_group.clone(),
            bad_address: self.bad_address.clone(),
            bad_repl_host: self.bad_repl_host.clone(),
            makes: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Builder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder").field("options", &self.options).finish_non_exhaustive()
    }
}

impl<T> Builder<T> {
    /// The multicast group, IPv4 or IPv6 (default `239.255.0.99`).
    pub fn group(mut self, group: &str) -> Self {
        match group.trim().parse::<IpAddr>() {
            Ok(ip) => self.options.group = ip,
            Err(_) => self.bad_group = Some(group.to_owned()),
        }
        self
    }

    /// The UDP port (default 9000).
    pub fn port(mut self, port: u16) -> Self {
        self.options.port = port;
        self
    }

    /// The address to bind (default: the unspecified address of the group's family).
    pub fn address(mut self, address: &str) -> Self {
        match address.trim().parse::<IpAddr>() {
            Ok(ip) => self.options.address = Some(ip),
            Err(_) => self.bad_address = Some(address.to_owned()),
        }
        self
    }

    /// The multicast interface, by address (`192.168.1.5`, `fe80::1`) or name (`eth0`, `lo`).
    pub fn interface(mut self, interface: &str) -> Self {
        self.options.interface = interface.parse().unwrap_or(Interface::Default);
        self
    }

    /// Whether instances on this host hear this one (default true).
    pub fn loopback(mut self, loopback: bool) -> Self {
        self.options.loopback = loopback;
        self
    }

    /// Multicast TTL or hop limit (default 1: the local network only).
    pub fn ttl(mut self, ttl: u32) -> Self {
        self.options.ttl = ttl;
        self
    }

    /// The largest datagram, in bytes (default 1024); larger events are segmented.
    /// [`crate::AUTO_PAYLOAD_SIZE`] takes it from the interface's MTU (the whole 64 KB
    /// datagram on loopback).
    pub fn max_payload_size(mut self, bytes: usize) -> Self {
        self.options.max_payload_size = bytes;
        self
    }

    /// How long an incomplete event waits for its next fragment (default 3 s).
    pub fn message_ttl(mut self, ttl: Duration) -> Self {
        self.options.message_ttl = ttl;
        self
    }

    /// The largest event sent or accepted, in bytes (default 8 MiB).
    pub fn max_event_size(mut self, bytes: usize) -> Self {
        self.options.max_event_size = bytes;
        self
    }

    /// Events buffered per subscription stream (default 4096); see
    /// [`Options::stream_capacity`](crate::Options::stream_capacity).
    pub fn stream_capacity(mut self, events: usize) -> Self {
        self.options.stream_capacity = events;
        self
    }

    /// Socket receive buffer to ask for, in bytes (default: 8 MiB, quietly capped by the OS).
    pub fn recv_buffer_size(mut self, bytes: usize) -> Self {
        self.options.recv_buffer_size = Some(bytes);
        self
    }

    /// How events are delivered unless `emit_with` says otherwise (default reliable and
    /// ordered).
    pub fn delivery(mut self, mode: crate::DeliveryMode) -> Self {
        self.options.delivery = mode;
        self
    }

    /// Which events of each sender to receive: [`StartAt::Live`](crate::StartAt::Live)
    /// (default) those sent after this instance joined,
    /// [`StartAt::Oldest`](crate::StartAt::Oldest) also what the sender still holds.
    ///
    /// ```
    /// let ec = eventcast::Eventcast::builder().interface("127.0.0.1").start_at(eventcast::StartAt::Oldest).build().unwrap();
    /// assert_eq!(ec.options().start_at, eventcast::StartAt::Oldest);
    /// ```
    pub fn start_at(mut self, start: crate::StartAt) -> Self {
        self.options.start_at = start;
        self
    }

    /// Limits sending to this many bytes per second, repairs included (default: no limit).
    pub fn pace_rate(mut self, bytes_per_sec: u64) -> Self {
        self.options.pace_rate = Some(bytes_per_sec);
        self
    }

    /// Bounds the retransmit buffer: at most `events` events and `bytes` bytes are kept for
    /// repair (defaults 1,048,576 and 64 MiB).
    pub fn retransmit_buffer(mut self, events: usize, bytes: usize) -> Self {
        self.options.retransmit_max_events = events;
        self.options.retransmit_max_bytes = bytes;
        self
    }

    /// How long events are kept for repair: at least `min_hold` even when the buffer is full
    /// (`emit` waits instead), at most `max_age` (defaults 500 ms and 10 s).
    pub fn repair_window(mut self, min_hold: Duration, max_age: Duration) -> Self {
        self.options.retransmit_min_hold = min_hold;
        self.options.retransmit_max_age = max_age;
        self
    }

    /// Encrypts and authenticates everything with a key derived from `passphrase` (Argon2id,
    /// AES-128-GCM). Every instance that should hear this one needs the same passphrase.
    pub fn passphrase(mut self, passphrase: &str) -> Self {
        self.options.encryption = Some(crate::Encryption::Passphrase(passphrase.to_owned()));
        self
    }

    /// Encrypts and authenticates everything with a raw key: 16 bytes (AES-128-GCM) or 32
    /// bytes (AES-256-GCM).
    pub fn key(mut self, key: &[u8]) -> Self {
        self.options.encryption = Some(crate::Encryption::Key(key.to_vec()));
        self
    }

    /// The id of the key given with `passphrase` or `key` (default 1); see
    /// [`crate::Eventcast::install_key`] for rotation.
    pub fn key_id(mut self, id: u8) -> Self {
        self.options.key_id = id;
        self
    }

    /// Whether this instance logs (default true; `tracing`, target `eventcast`).
    pub fn log(mut self, enabled: bool) -> Self {
        self.options.log = enabled;
        self
    }

    /// The most verbose level this instance logs at (default INFO).
    pub fn log_level(mut self, level: tracing::Level) -> Self {
        self.options.log_level = level;
        self
    }

    /// Serves the TCP console (default off); see [`Options::repl`].
    ///
    /// ```
    /// let ec = eventcast::Eventcast::builder().interface("127.0.0.1").repl(true).build().unwrap();
    /// assert!(ec.options().repl);
    /// ```
    pub fn repl(mut self, enabled: bool) -> Self {
        self.options.repl = enabled;
        self
    }

    /// Adds a unicast peer, `HOST:PORT` (repeat for several): every datagram also goes to
    /// it, for networks without multicast (Docker, WireGuard, Tailscale, clouds). Names are
    /// resolved at start and every 30 s.
    ///
    /// ```
    /// let ec = eventcast::Eventcast::builder()
    ///     .interface("127.0.0.1")
    ///     .peer("10.0.0.2:9000")
    ///     .peer("events-b.default.svc.cluster.local:9000")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ec.options().transport.peers.len(), 2);
    /// ```
    pub fn peer(mut self, peer: &str) -> Self {
        self.options.transport.peers.push(peer.trim().to_owned());
        self
    }

    /// Multicast on (default) or off: off joins no group and sends to none, leaving peers
    /// and NATS.
    pub fn multicast(mut self, on: bool) -> Self {
        self.options.transport.multicast = on;
        self
    }

    /// The NATS transport, at these server URLs (comma-separated also works):
    /// `nats://host:4222`, `tls://host:4222`. Every datagram is also published on the
    /// group's subject, and what others publish there is received.
    ///
    /// ```
    /// let ec = eventcast::Eventcast::builder()
    ///     .multicast(false)
    ///     .nats("nats://10.0.0.5:4222,nats://10.0.0.6:4222")
    ///     .nats_subject("eventcast.lab")
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(ec.options().transport.nats.as_ref().unwrap().urls.len(), 2);
    /// ```
    pub fn nats(mut self, urls: &str) -> Self {
        let urls = urls.split(',').map(str::trim).filter(|u| !u.is_empty()).map(str::to_owned);
        self.nats_options().urls.extend(urls);
        self
    }

    /// The NATS subject (default: derived from group and port, `eventcast.239-255-0-99.9000`).
    pub fn nats_subject(mut self, subject: &str) -> Self {
        self.nats_options().subject = Some(subject.to_owned());
        self
    }

    /// A NATS token.
    pub fn nats_token(mut self, token: &str) -> Self {
        self.nats_options().token = Some(token.to_owned());
        self
    }

    /// A NATS user and password.
    pub fn nats_user(mut self, user: &str, password: &str) -> Self {
        self.nats_options().user = Some((user.to_owned(), password.to_owned()));
        self
    }

    /// A NATS `.creds` file.
    pub fn nats_creds(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.nats_options().creds_file = Some(path.into());
        self
    }

    /// A NATS NKey seed.
    pub fn nats_nkey(mut self, seed: &str) -> Self {
        self.nats_options().nkey = Some(seed.to_owned());
        self
    }

    /// A CA certificate file (PEM) for TLS to NATS; TLS becomes required.
    pub fn nats_tls_ca(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.nats_options().tls_ca = Some(path.into());
        self
    }

    fn nats_options(&mut self) -> &mut crate::NatsOptions {
        self.options.transport.nats.get_or_insert_with(Default::default)
    }

    /// The console's TCP port, and turns the console on (0 picks a free port).
    pub fn repl_port(mut self, port: u16) -> Self {
        self.options.repl = true;
        self.options.repl_port = port;
        self
    }

    /// The address the console listens on (default `127.0.0.1`). Anything but a loopback
    /// address lets other hosts reach it: set a [`repl_token`](Builder::repl_token) then.
    pub fn repl_host(mut self, host: &str) -> Self {
        match host.trim().parse::<IpAddr>() {
            Ok(ip) => self.options.repl_host = ip,
            Err(_) if host.trim() == "localhost" => self.options.repl_host = IpAddr::from([127, 0, 0, 1]),
            Err(_) => self.bad_repl_host = Some(host.to_owned()),
        }
        self
    }

    /// A token console clients must type first.
    pub fn repl_token(mut self, token: &str) -> Self {
        self.options.repl_token = Some(token.into());
        self
    }

    /// How many console sessions may be open at once (default 8).
    pub fn repl_max_clients(mut self, clients: usize) -> Self {
        self.options.repl_max_clients = clients;
        self
    }

    /// Replaces every option at once.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// The options set so far, checked (the builder's own parse errors first).
    fn checked_options(self) -> Result<Options> {
        if let Some(group) = self.bad_group {
            return Err(Error::invalid("group", group, "an IP address such as 239.255.0.99 or ff12::ec:99"));
        }
        if let Some(address) = self.bad_address {
            return Err(Error::invalid("address", address, "an IP address of this host, such as 0.0.0.0"));
        }
        if let Some(host) = self.bad_repl_host {
            return Err(Error::invalid(
                "repl_host",
                host,
                "an IP address of this host, such as 127.0.0.1, or localhost",
            ));
        }
        Ok(self.options)
    }
}

impl Builder<Eventcast> {
    /// Validates the options and makes the instance (not started yet).
    pub fn build(self) -> Result<Eventcast> {
        Eventcast::with_options(self.checked_options()?)
    }
}

impl Builder<crate::blocking::Eventcast> {
    /// Validates the options and makes the blocking instance (not started yet).
    pub fn build(self) -> Result<crate::blocking::Eventcast> {
        crate::blocking::Eventcast::with_options(self.checked_options()?)
    }
}
