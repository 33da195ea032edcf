//! The NATS transport: each datagram is one message on the group's subject. A task of its
//! own owns the client, so that a slow or absent server never holds up the protocol
//! driver: the driver hands datagrams over through a bounded queue (full: dropped and
//! counted, the protocol repairs them), and messages come back through another.
//!
//! NATS core delivery is at most once; eventcast's own sequencing, NACKs and repairs keep
//! the delivery promise end to end. The client does not receive its own messages
//! (`no_echo`). With a key, the server only ever sees sealed datagrams.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{NatsOptions, TransportCounters};
use crate::error::{Error, Result};

/// Datagrams waiting to be published, at most.
pub(crate) const OUT_QUEUE: usize = 8192;
/// Messages received and not yet taken by the driver, at most.
pub(crate) const IN_QUEUE: usize = 8192;
/// The largest message taken from NATS: the largest datagram.
const MAX_DATAGRAM: usize = 65_507;
/// How long the first connection attempt may take before the instance starts anyway and
/// keeps trying in the background.
const FIRST_CONNECT: Duration = Duration::from_secs(3);
/// How long a stop waits for queued datagrams to reach the server.
const CLOSE_FLUSH: Duration = Duration::from_secs(2);
/// The NATS header a gateway puts on what it publishes: the id of the LAN it came from, so
/// that the other gateways of that LAN do not put it back there.
pub(crate) const LAN_HEADER: &str = "Eventcast-Lan";

/// A message from NATS: the datagram, and whether a gateway of our own LAN published it.
pub(crate) struct Inbound {
    pub datagram: Bytes,
    pub from_own_lan: bool,
}

/// A connection to NATS, from the driver's side.
pub(crate) struct Link {
    pub out: mpsc::Sender<Bytes>,
    pub inbound: mpsc::Receiver<Inbound>,
    /// The inbound side ended (the task stopped): not polled again.
    pub ended: bool,
    task: JoinHandle<()>,
}

impl Link {
    /// Connects (or starts connecting) and subscribes to `subject`.
    ///
    /// Settings that cannot work (a bad URL, refused credentials, a TLS set-up that fails)
    /// are an error. A server that does not answer is not: the instance starts, says so
    /// once, and the client keeps trying with backoff; datagrams wait in its queue, then
    /// in the retransmit buffer.
    ///
    /// `lan`, for a gateway: the id of its LAN, sent as a header with everything it
    /// publishes and compared with the header of what it receives.
    pub async fn connect(
        o: &NatsOptions,
        subject: String,
        lan: Option<String>,
        counters: Arc<TransportCounters>,
    ) -> Result<Link> {
        let urls = o.urls.iter().map(|u| super::redact_url(u)).collect::<Vec<_>>().join(",");
        let first = tokio::time::timeout(
            FIRST_CONNECT,
            connect_options(o, counters.clone(), false).await?.connect(o.urls.clone()),
        )
        .await;
        let client = match first {
            Ok(Ok(client)) => client,
            Ok(Err(e)) if fatal(e.kind()) => {
                return Err(Error::invalid("nats", urls, format!("a server that accepts this client ({e})")));
            }
            Ok(Err(e)) => {
                tracing::warn!(target: "eventcast::net", nats = %urls, error = %e,
                    "NATS not reachable: starting anyway and retrying in the background");
                retrying(o, counters.clone(), &urls).await?
            }
            Err(_) => {
                tracing::warn!(target: "eventcast::net", nats = %urls,
                    "NATS did not answer within 3 s: starting anyway and retrying in the background");
                retrying(o, counters.clone(), &urls).await?
            }
        };
        let subscriber = client.subscribe(subject.clone()).await.map_err(|e| {
            Error::invalid("nats_subject", &subject, format!("a subject this client may subscribe to ({e})"))
        })?;
        // the subscription is in place at the server before start returns (when connected),
        // so that nothing sent after start is missed
        if client.connection_state() == async_nats::connection::State::Connected {
            let _ = tokio::time::timeout(FIRST_CONNECT, client.flush()).await;
        }
        let (out, out_rx) = mpsc::channel(OUT_QUEUE);
        let (in_tx, inbound) = mpsc::channel(IN_QUEUE);
        let task = tokio::spawn(run(client, subject, lan, subscriber, out_rx, in_tx, counters));
        Ok(Link { out, inbound, ended: false, task })
    }

    /// Hands a datagram to the publishing task; false (and counted) when its queue is full.
    pub fn publish(&self, datagram: Bytes, counters: &TransportCounters) -> bool {
        match self.out.try_send(datagram) {
            Ok(()) => true,
            Err(_) => {
                counters.nats_out_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Stops: what was handed over is published and flushed, waiting at most 2 s; then the
    /// client is gone (a server that is down cannot keep it, or a late publish, alive).
    pub async fn close(self, counters: &TransportCounters) {
        let Link { out, inbound, mut task, .. } = self;
        drop(out);
        if tokio::time::timeout(CLOSE_FLUSH, &mut task).await.is_err() {
            task.abort();
        }
        drop(inbound);
        // the next run's first connection is not a reconnection
        counters.nats_connected.store(0, Ordering::Relaxed);
        counters.nats_was_connected.store(0, Ordering::Relaxed);
    }
}

/// Errors that retrying cannot fix.
fn fatal(kind: async_nats::ConnectErrorKind) -> bool {
    use async_nats::ConnectErrorKind as K;
    matches!(kind, K::ServerParse | K::Authentication | K::AuthorizationViolation | K::Tls)
}

async fn retrying(o: &NatsOptions, counters: Arc<TransportCounters>, urls: &str) -> Result<async_nats::Client> {
    connect_options(o, counters, true)
        .await?
        .connect(o.urls.clone())
        .await
        .map_err(|e| Error::invalid("nats", urls, format!("NATS server URLs this client can use ({e})")))
}

async fn connect_options(
    o: &NatsOptions,
    counters: Arc<TransportCounters>,
    retry: bool,
) -> Result<async_nats::ConnectOptions> {
    let mut c = async_nats::ConnectOptions::new();
    if let Some(path) = &o.creds_file {
        c = c
            .credentials_file(path)
            .await
            .map_err(|e| Error::invalid("nats_creds", path.display(), format!("a readable NATS .creds file ({e})")))?;
    }
    if let Some(seed) = &o.nkey {
        c = c.nkey(seed.clone());
    }
    if let Some(token) = &o.token {
        c = c.token(token.clone());
    }
    if let Some((user, password)) = &o.user {
        c = c.user_and_password(user.clone(), password.clone());
    }
    if let Some(ca) = &o.tls_ca {
        if !ca.is_file() {
            return Err(Error::invalid("nats_tls_ca", ca.display(), "a readable PEM file of CA certificates"));
        }
        c = c.add_root_certificates(ca.clone()).require_tls(true);
    }
    if o.require_tls {
        c = c.require_tls(true);
    }
    if retry {
        c = c.retry_on_initial_connect();
    }
    Ok(c.name("eventcast")
        .no_echo()
        .subscription_capacity(IN_QUEUE)
        .connection_timeout(FIRST_CONNECT)
        .reconnect_delay_callback(|attempts| {
            // 100 ms doubling to 5 s, so a restarted server is found again quickly
            Duration::from_millis(100u64.saturating_mul(1 << attempts.min(6))).min(Duration::from_secs(5))
        })
        .event_callback(move |event| {
            let counters = counters.clone();
            async move { on_event(&counters, event) }
        }))
}

fn on_event(counters: &TransportCounters, event: async_nats::Event) {
    use async_nats::Event as E;
    match event {
        E::Connected => {
            if counters.nats_connected.swap(1, Ordering::Relaxed) == 0 && counters.nats_ever_connected() {
                counters.nats_reconnects.fetch_add(1, Ordering::Relaxed);
            }
            counters.nats_was_connected.store(1, Ordering::Relaxed);
            tracing::info!(target: "eventcast::net", "NATS connected");
        }
        E::Disconnected => {
            counters.nats_connected.store(0, Ordering::Relaxed);
            tracing::warn!(target: "eventcast::net", "NATS disconnected: reconnecting; datagrams wait, then are repaired");
        }
        E::SlowConsumer(_) => {
            counters.nats_in_dropped.fetch_add(1, Ordering::Relaxed);
        }
        E::ServerError(e) => tracing::warn!(target: "eventcast::net", error = %e, "NATS server error"),
        E::ClientError(e) => tracing::warn!(target: "eventcast::net", error = %e, "NATS client error"),
        other => tracing::info!(target: "eventcast::net", event = %other, "NATS"),
    }
}

async fn run(
    client: async_nats::Client,
    subject: String,
    lan: Option<String>,
    mut subscriber: async_nats::Subscriber,
    mut out: mpsc::Receiver<Bytes>,
    inbound: mpsc::Sender<Inbound>,
    counters: Arc<TransportCounters>,
) {
    let mut headers = async_nats::HeaderMap::new();
    if let Some(lan) = &lan {
        headers.insert(LAN_HEADER, lan.as_str());
    }
    if client.connection_state() == async_nats::connection::State::Connected {
        counters.nats_connected.store(1, Ordering::Relaxed);
        counters.nats_was_connected.store(1, Ordering::Relaxed);
    }
    let subject = async_nats::Subject::from(subject);
    loop {
        tokio::select! {
            message = subscriber.next() => match message {
                Some(m) if m.payload.len() > MAX_DATAGRAM => {
                    // anyone may publish on the subject: nothing larger than a datagram is held
                    counters.nats_in_dropped.fetch_add(1, Ordering::Relaxed);
                }
                Some(m) => {
                    counters.nats_messages_in.fetch_add(1, Ordering::Relaxed);
                    let from_own_lan = lan.as_deref().is_some_and(|own| {
                        m.headers.as_ref().and_then(|h| h.get(LAN_HEADER)).is_some_and(|v| v.as_str() == own)
                    });
                    if inbound.try_send(Inbound { datagram: m.payload, from_own_lan }).is_err() {
                        counters.nats_in_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => break,
            },
            datagram = out.recv() => match datagram {
                Some(d) => {
                    let sent = match lan {
                        Some(_) => client.publish_with_headers(subject.clone(), headers.clone(), d).await,
                        None => client.publish(subject.clone(), d).await,
                    };
                    if sent.is_ok() {
                        counters.nats_messages_out.fetch_add(1, Ordering::Relaxed);
                    } else {
                        counters.nats_out_dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {
                    let _ = client.flush().await;
                    break;
                }
            },
        }
    }
}
