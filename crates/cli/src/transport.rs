//! The transport options every networked command takes: unicast peers, multicast on or
//! off, NATS.

use clap::Args;
use eventcast::Builder;

/// Where datagrams travel besides (or instead of) the multicast group.
#[derive(Clone, Args)]
pub struct TransportArgs {
    /// A unicast peer, HOST:PORT (repeatable; EVENTCAST_PEERS takes a comma-separated list):
    /// every datagram also goes to it, for networks without multicast
    #[arg(long = "peer", env = "EVENTCAST_PEERS", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Join no multicast group and send to none (peers and/or NATS only)
    #[arg(long, env = "EVENTCAST_NO_MULTICAST")]
    pub no_multicast: bool,
    /// NATS server URLs, comma-separated (nats://host:4222, tls://host:4222): datagrams also
    /// travel as messages on the group's subject
    #[arg(long, env = "EVENTCAST_NATS")]
    pub nats: Option<String>,
    /// The NATS subject (default: derived from group and port, eventcast.239-255-0-99.9000)
    #[arg(long, env = "EVENTCAST_NATS_SUBJECT")]
    pub nats_subject: Option<String>,
    /// A NATS .creds file
    #[arg(long, env = "EVENTCAST_NATS_CREDS")]
    pub nats_creds: Option<std::path::PathBuf>,
    /// A NATS token (prefer the environment variable)
    #[arg(long, env = "EVENTCAST_NATS_TOKEN", hide_env_values = true)]
    pub nats_token: Option<String>,
    /// A NATS user (with --nats-password or EVENTCAST_NATS_PASSWORD)
    #[arg(long, env = "EVENTCAST_NATS_USER", requires = "nats_password")]
    pub nats_user: Option<String>,
    /// The NATS user's password (prefer the environment variable)
    #[arg(long, env = "EVENTCAST_NATS_PASSWORD", hide_env_values = true, requires = "nats_user")]
    pub nats_password: Option<String>,
    /// A NATS NKey seed file
    #[arg(long, env = "EVENTCAST_NATS_NKEY_FILE")]
    pub nats_nkey_file: Option<std::path::PathBuf>,
    /// A CA certificate (PEM) for TLS to NATS; makes TLS required
    #[arg(long, env = "EVENTCAST_NATS_TLS_CA")]
    pub nats_tls_ca: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for TransportArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // secrets are never shown
        f.debug_struct("TransportArgs")
            .field("peers", &self.peers)
            .field("no_multicast", &self.no_multicast)
            .field("nats", &self.nats.as_deref().map(eventcast::NatsOptions::redact))
            .field("nats_subject", &self.nats_subject)
            .finish_non_exhaustive()
    }
}

impl TransportArgs {
    /// Sets these transports on `builder`.
    pub fn apply<T>(&self, mut builder: Builder<T>) -> eventcast::Result<Builder<T>> {
        for peer in self.peers.iter().filter(|p| !p.trim().is_empty()) {
            builder = builder.peer(peer);
        }
        builder = builder.multicast(!self.no_multicast);
        let nats_settings = self.nats_subject.is_some()
            || self.nats_creds.is_some()
            || self.nats_token.is_some()
            || self.nats_user.is_some()
            || self.nats_nkey_file.is_some()
            || self.nats_tls_ca.is_some();
        let Some(urls) = &self.nats else {
            if nats_settings {
                return Err(eventcast::Error::InvalidOption {
                    option: "nats",
                    value: String::new(),
                    allowed: "NATS server URLs (--nats nats://host:4222) for the --nats-… settings to apply to".into(),
                });
            }
            return Ok(builder);
        };
        builder = builder.nats(urls);
        if let Some(subject) = &self.nats_subject {
            builder = builder.nats_subject(subject);
        }
        if let Some(path) = &self.nats_creds {
            builder = builder.nats_creds(path);
        }
        if let Some(token) = &self.nats_token {
            builder = builder.nats_token(token);
        }
        if let (Some(user), Some(password)) = (&self.nats_user, &self.nats_password) {
            builder = builder.nats_user(user, password);
        }
        if let Some(path) = &self.nats_nkey_file {
            let seed = std::fs::read_to_string(path).map_err(|e| eventcast::Error::InvalidOption {
                option: "nats-nkey-file",
                value: path.display().to_string(),
                allowed: format!("a readable file holding an NKey seed ({e})"),
            })?;
            builder = builder.nats_nkey(seed.trim());
        }
        if let Some(path) = &self.nats_tls_ca {
            builder = builder.nats_tls_ca(path);
        }
        Ok(builder)
    }
}
