//! The TCP console (the original's REPL): a line-based text protocol that `telnet`, `nc`
//! and `eventcast console` speak, serving every running instance that sets `repl`.
//!
//! - `command` reads a line into a command (pure; unit-tested and fuzzed);
//! - `session` serves one connection: token, prompt, commands, event lines;
//! - `render` formats counters, peers and options as text.
//!
//! The console listens on `repl_host` (127.0.0.1 by default) and `repl_port` (a free port
//! when 0, logged under the `eventcast::repl` target). Each session has a bounded output
//! queue: a client that stops reading loses event lines (counted, and told how many) but
//! never slows the instance; one that does not read for 30 s is disconnected.

mod command;
mod guard;
mod render;
mod session;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::instrument::WithSubscriber;

use crate::error::{Error, Result};
use crate::eventcast::WeakEventcast;
use crate::options::ConsoleToken;

#[doc(hidden)]
pub use session::fuzz_line;

/// The start of the greeting, followed by the host name and `;` (clients read the host).
pub const GREETING: &str = "eventcast console on ";
/// The first line when a token is needed; `token: ` follows without a line end.
pub const NEEDS_TOKEN: &str = "eventcast console: this console needs a token";

/// The prompt shown before each command.
pub fn prompt(host: &str) -> String {
    format!("eventcast@{host}> ")
}

/// Counters of the console, shown in [`crate::Stats`].
#[derive(Debug, Default)]
pub(crate) struct ConsoleCounters {
    pub sessions: AtomicU64,
    pub active: AtomicU64,
    pub refused: AtomicU64,
    pub auth_failed: AtomicU64,
    pub auth_timeouts: AtomicU64,
    pub locked_out: AtomicU64,
    pub lines_dropped: AtomicU64,
}

/// What every session of one console shares.
pub(crate) struct Shared {
    pub ec: WeakEventcast,
    pub token: Option<ConsoleToken>,
    pub counters: Arc<ConsoleCounters>,
    pub host: String,
    pub shutdown: watch::Receiver<bool>,
    pub max_clients: usize,
    /// Token attempts: pending connections and lockouts, by client address.
    pub guard: Mutex<guard::AuthGuard>,
}

impl Shared {
    /// Takes a session slot, if one of `max_clients` is free.
    fn claim(&self) -> Option<Active> {
        let max = self.max_clients as u64;
        let active = &self.counters.active;
        active.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1)).ok()?;
        self.counters.sessions.fetch_add(1, Ordering::Relaxed);
        Some(Active(self.counters.clone()))
    }

    fn full_message(&self) -> String {
        format!("error: the console already has {} sessions (repl_max_clients); try later\r\n", self.max_clients)
    }
}

/// A running console; dropping it closes the listener and every session.
pub(crate) struct Console {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
}

impl Drop for Console {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
    }
}

/// The name in the prompt, `eventcast@HOSTNAME> `.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Binds the console and serves it on the current runtime until the returned handle drops.
pub(crate) fn spawn(
    ec: WeakEventcast,
    addr: SocketAddr,
    token: Option<ConsoleToken>,
    max_clients: usize,
    counters: Arc<ConsoleCounters>,
    log: tracing::Dispatch,
) -> Result<Console> {
    let bind_error = Error::io(format!("binding the console to {addr}"));
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .and_then(TcpListener::from_std)
        .map_err(bind_error)?;
    let bound = listener.local_addr().map_err(Error::io("reading the console's address"))?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let host = hostname();
    let guard = Mutex::new(guard::AuthGuard::default());
    let shared = Arc::new(Shared { ec, token, counters, host, shutdown: shutdown_rx, max_clients, guard });
    tokio::spawn(accept_loop(listener, shared, log.clone()).with_subscriber(log));
    Ok(Console { addr: bound, shutdown })
}

/// Writes `msg` to a refused client (for at most a second) and closes it.
fn refuse(mut stream: tokio::net::TcpStream, msg: String) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(msg.as_bytes())).await;
    });
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, log: tracing::Dispatch) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(target: "eventcast::repl", error = %e, "console accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let counters = &shared.counters;
        // With a token, a connection holds no session slot until it has given the token: it
        // only holds one of a few places at the token prompt, for at most TOKEN_TIMEOUT.
        let (slot, admission) = if shared.token.is_some() {
            let admitted = shared.guard.lock().map(|mut g| g.admit(peer.ip(), Instant::now()));
            match admitted {
                Ok(Ok(admission)) => (None, Some(admission)),
                Ok(Err(guard::Refusal::LockedOut(wait))) => {
                    counters.locked_out.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "eventcast::repl", %peer, "console locked out after wrong tokens");
                    let msg = format!(
                        "error: too many wrong tokens from {}; try again in {:.1} s\r\n",
                        peer.ip(),
                        wait.as_secs_f64()
                    );
                    refuse(stream, msg);
                    continue;
                }
                Ok(Err(guard::Refusal::TooManyPending)) | Err(_) => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "eventcast::repl", %peer, "too many console connections waiting for a token");
                    refuse(stream, "error: too many connections are waiting to give a token; try later\r\n".into());
                    continue;
                }
            }
        } else {
            match shared.claim() {
                Some(active) => (Some(active), None),
                None => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "eventcast::repl", %peer, max_clients = shared.max_clients, "console full; connection refused");
                    refuse(stream, shared.full_message());
                    continue;
                }
            }
        };
        tracing::info!(target: "eventcast::repl", %peer, "console session opened");
        let shared = shared.clone();
        tokio::spawn(
            async move {
                session::run(stream, peer, &shared, slot, admission).await;
                tracing::info!(target: "eventcast::repl", %peer, "console session closed");
            }
            .with_subscriber(log.clone()),
        );
    }
}

/// Counts a session as active until it ends, however it ends.
pub(crate) struct Active(Arc<ConsoleCounters>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}
