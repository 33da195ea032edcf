//! The signals that ask a command for an orderly stop: SIGINT (Ctrl-C) and SIGTERM (what
//! `docker stop`, systemd and Kubernetes send). Both end `listen` the same way: its
//! `--stats` printed, the instance stopped, exit 0.

/// Handlers for both signals, installed when made (so a signal that comes before the
/// command waits for it is not lost to the default action).
pub struct Shutdown {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Shutdown {
    /// Installs the handlers (needs the tokio runtime).
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = signal(SignalKind::interrupt()).and_then(|i| Ok((i, signal(SignalKind::terminate())?)));
            Shutdown { signals: signals.ok() }
        }
        #[cfg(not(unix))]
        Shutdown {}
    }

    /// Resolves when SIGINT or SIGTERM arrives, after saying so on stderr.
    pub async fn requested(&mut self) {
        let signal = self.signal().await;
        eprintln!("eventcast: {signal}: stopping");
    }

    /// Resolves when SIGINT or SIGTERM arrives; the name of the signal.
    async fn signal(&mut self) -> &'static str {
        #[cfg(unix)]
        if let Some((interrupt, terminate)) = &mut self.signals {
            return tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// Stops `ec` (which sends what is still queued), then prints its final counters as one JSON
/// line on stderr when `stats` is set.
pub async fn stop_and_report(ec: &eventcast::Eventcast, stats: bool) -> crate::CliResult<()> {
    ec.stop().await?;
    if stats {
        eprintln!("{}", serde_json::to_string(&ec.stats().await)?);
    }
    Ok(())
}
