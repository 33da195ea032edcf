//! Where an instance's datagrams go and come from: the multicast group, unicast peers,
//! NATS. The protocol is the same over each.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// The transports of an instance, besides the protocol options. Every datagram goes out on
/// each transport that is on; what comes in on any of them feeds the same protocol core.
///
/// ```
/// let t = eventcast::TransportOptions::default();
/// assert!(t.multicast && t.peers.is_empty() && t.nats.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TransportOptions {
    /// Join the group and send to it (default). Off: peers and/or NATS only.
    pub multicast: bool,
    /// Unicast peers, `HOST:PORT` each (names are resolved at start and again every
    /// `peer_refresh`, so Docker and Kubernetes service names work). Every datagram goes
    /// to each; datagrams from them arrive on a socket bound to `address:port`.
    pub peers: Vec<String>,
    /// How often peer names are resolved again.
    pub peer_refresh: std::time::Duration,
    /// The NATS transport: datagrams as messages on a subject of a NATS server.
    pub nats: Option<NatsOptions>,
}

impl Default for TransportOptions {
    fn default() -> Self {
        TransportOptions {
            multicast: true,
            peers: Vec::new(),
            peer_refresh: std::time::Duration::from_secs(30),
            nats: None,
        }
    }
}

/// Settings of the NATS transport, named as NATS users know them.
///
/// ```
/// let n = eventcast::NatsOptions::new(["nats://127.0.0.1:4222"]);
/// assert_eq!(n.urls.len(), 1);
/// ```
#[derive(Clone, PartialEq, Default)]
pub struct NatsOptions {
    /// Server URLs (`nats://host:4222`, `tls://…`, or `host:port`); the client connects to
    /// one and moves to another when it fails.
    pub urls: Vec<String>,
    /// The subject the group's datagrams travel on; `None` derives one from the group and
    /// port ([`NatsOptions::default_subject`]), so distinct groups stay apart.
    pub subject: Option<String>,
    /// A token (`--nats-token`).
    pub token: Option<String>,
    /// A user and password.
    pub user: Option<(String, String)>,
    /// A `.creds` file (JWT and NKey seed).
    pub creds_file: Option<PathBuf>,
    /// An NKey seed (`SU…`).
    pub nkey: Option<String>,
    /// A CA certificate (PEM) to trust for TLS; setting it requires TLS.
    pub tls_ca: Option<PathBuf>,
    /// Require TLS even without a CA of our own (the system's roots are used).
    pub require_tls: bool,
}

impl std::fmt::Debug for NatsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // secrets are never shown
        f.debug_struct("NatsOptions")
            .field("urls", &self.urls.iter().map(|u| super::redact_url(u)).collect::<Vec<_>>())
            .field("subject", &self.subject)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("user", &self.user.as_ref().map(|(u, _)| u))
            .field("creds_file", &self.creds_file)
            .field("nkey", &self.nkey.as_ref().map(|_| "…"))
            .field("tls_ca", &self.tls_ca)
            .field("require_tls", &self.require_tls)
            .finish()
    }
}

impl NatsOptions {
    /// NATS at these URLs, every other setting at its default.
    pub fn new<S: Into<String>>(urls: impl IntoIterator<Item = S>) -> Self {
        NatsOptions { urls: urls.into_iter().map(Into::into).collect(), ..Default::default() }
    }

    /// `url` with any user and password replaced by `…`, as logs and errors show it.
    ///
    /// ```
    /// assert_eq!(eventcast::NatsOptions::redact("nats://me:pw@h:4222"), "nats://…@h:4222");
    /// ```
    pub fn redact(url: &str) -> String {
        url.split(',').map(super::redact_url).collect::<Vec<_>>().join(",")
    }

    /// The subject derived from a group and port: `eventcast.239-255-0-99.9000` (every
    /// `.` or `:` of the address a `-`).
    ///
    /// ```
    /// use std::net::IpAddr;
    /// let group: IpAddr = "239.255.0.99".parse().unwrap();
    /// assert_eq!(eventcast::NatsOptions::default_subject(group, 9000), "eventcast.239-255-0-99.9000");
    /// let group: IpAddr = "ff12::ec:99".parse().unwrap();
    /// assert_eq!(eventcast::NatsOptions::default_subject(group, 9000), "eventcast.ff12--ec-99.9000");
    /// ```
    pub fn default_subject(group: std::net::IpAddr, port: u16) -> String {
        format!("eventcast.{}.{port}", group.to_string().replace(['.', ':'], "-"))
    }
}

/// Checks the transport options; `group`/`port` derive the default subject.
pub(crate) fn validate(t: &TransportOptions) -> Result<()> {
    if !t.multicast && t.peers.is_empty() && t.nats.is_none() {
        return Err(Error::invalid(
            "multicast",
            false,
            "with multicast off, at least one peer (--peer HOST:PORT) or a NATS server (--nats URL) to send to",
        ));
    }
    for peer in &t.peers {
        check_peer(peer)?;
    }
    if t.peer_refresh < std::time::Duration::from_secs(1) {
        return Err(Error::invalid("peer_refresh", format!("{:?}", t.peer_refresh), "at least 1 s"));
    }
    if let Some(n) = &t.nats {
        if n.urls.is_empty() {
            return Err(Error::invalid("nats", "", "one or more server URLs, such as nats://127.0.0.1:4222"));
        }
        for url in &n.urls {
            check_nats_url(url)?;
        }
        if let Some(subject) = &n.subject {
            check_subject(subject)?;
        }
        if n.token.is_some() && n.user.is_some() {
            return Err(Error::invalid("nats_token", "…", "either a token or a user and password, not both"));
        }
    }
    Ok(())
}

/// `HOST:PORT` with a port from 1 to 65535 (`[v6]:port` for IPv6 addresses).
fn check_peer(peer: &str) -> Result<()> {
    let allowed = "HOST:PORT, such as 10.0.0.2:9000, [fd00::2]:9000 or events-b:9000";
    let Some((host, port)) = peer.rsplit_once(':') else {
        return Err(Error::invalid("peer", peer, allowed));
    };
    let bracketed = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
    let host = bracketed.unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(Error::invalid("peer", peer, allowed));
    }
    // an IPv6 address needs its brackets: fe80::1:9000 could be an address without a port
    if host.contains(':') && (bracketed.is_none() || host.parse::<std::net::Ipv6Addr>().is_err()) {
        return Err(Error::invalid("peer", peer, allowed));
    }
    Ok(())
}

fn check_nats_url(url: &str) -> Result<()> {
    #[cfg(feature = "nats")]
    {
        url.parse::<async_nats::ServerAddr>().map(|_| ()).map_err(|e| {
            Error::invalid(
                "nats",
                url,
                format!("a NATS server URL such as nats://127.0.0.1:4222 or tls://host:4222 ({e})"),
            )
        })
    }
    #[cfg(not(feature = "nats"))]
    {
        Err(Error::invalid("nats", url, "a build with the `nats` feature of the eventcast crate"))
    }
}

/// A NATS subject to publish on: tokens of printable characters separated by dots, no
/// wildcards.
fn check_subject(subject: &str) -> Result<()> {
    let ok = !subject.is_empty()
        && subject.split('.').all(|t| {
            !t.is_empty() && t != "*" && t != ">" && t.chars().all(|c| c.is_ascii_graphic() && c != '*' && c != '>')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "nats_subject",
            subject,
            "dot-separated tokens of printable characters without spaces or wildcards (* >), such as eventcast.lab.9000",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_the_value() {
        let mut t = TransportOptions { multicast: false, ..Default::default() };
        assert!(validate(&t).unwrap_err().to_string().contains("--peer"));
        for bad in ["nohost", "host:", ":9000", "host:0", "host:70000", "a b:9", "fe80::1:9000"] {
            t.peers = vec![bad.into()];
            let err = validate(&t).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("HOST:PORT"), "{bad}: {err}");
        }
        for good in ["10.0.0.2:9000", "[fd00::2]:9000", "events-b:9000", "events.ns.svc.cluster.local:1"] {
            t.peers = vec![good.into()];
            validate(&t).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        t.peers.clear();
        for bad in ["eventcast.*", "a..b", "has space", ">", ""] {
            t.nats = Some(NatsOptions { subject: Some(bad.into()), ..NatsOptions::new(["nats://127.0.0.1:4222"]) });
            let err = validate(&t).unwrap_err().to_string();
            assert!(err.contains("nats_subject"), "{bad}: {err}");
        }
        t.nats = Some(NatsOptions::new(Vec::<String>::new()));
        assert!(validate(&t).unwrap_err().to_string().contains("nats://"));
    }

    #[test]
    fn secrets_are_not_shown() {
        let n = NatsOptions {
            token: Some("s3cret".into()),
            user: Some(("u".into(), "pw-s3cret".into())),
            nkey: Some("SUAseed".into()),
            ..NatsOptions::new(["nats://h:4222"])
        };
        let shown = format!("{n:?}");
        assert!(!shown.contains("s3cret") && !shown.contains("SUAseed"), "{shown}");
        let with_user = NatsOptions::new(["nats://me:pw-s3cret@h:4222"]);
        assert!(!format!("{with_user:?}").contains("s3cret"));
    }
}
