//! `eventcast listen`: received events as JSON lines on stdout.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use clap::Args;
use eventcast::Pattern;

use crate::CliResult;
use crate::net::{NetArgs, parse_duration};

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Event names or patterns to print (sensor.*, **.error); default: every event
    patterns: Vec<String>,
    /// Exit 0 after this many events
    #[arg(long)]
    count: Option<u64>,
    /// Exit when this much time has passed: 0 without --count, 1 if --count was not reached
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Print the instance's counters as one JSON line on stderr when exiting
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    net: NetArgs,
}

/// Why printing stopped.
enum End {
    /// `--count` events printed.
    Counted,
    /// stdout was closed (`| head`).
    Closed,
}

pub async fn run(args: ListenArgs) -> CliResult {
    let patterns = args.patterns.iter().map(|p| Pattern::new(p)).collect::<Result<Vec<_>, _>>()?;
    let mut shutdown = crate::shutdown::Shutdown::install();
    let ec = args.net.build()?;
    // Lines are written by a listener, on the instance's dispatcher thread: when stdout is
    // not read, that thread waits and the protocol goes on (its senders are slowed through
    // flow control), rather than a blocked write holding up the async runtime.
    let (end_tx, mut end_rx) = tokio::sync::mpsc::unbounded_channel();
    let seen = Arc::new(AtomicU64::new(0));
    let count = args.count;
    if count == Some(0) {
        let _ = end_tx.send(End::Counted);
    }
    let printed = seen.clone();
    ec.on_any(move |event| {
        if !patterns.is_empty() && !patterns.iter().any(|p| p.matches(event.name())) {
            return;
        }
        if count.is_some_and(|n| printed.load(Ordering::Relaxed) >= n) {
            return;
        }
        let line = event.to_json();
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_err() {
            let _ = end_tx.send(End::Closed);
            return;
        }
        let n = printed.fetch_add(1, Ordering::Relaxed) + 1;
        if count == Some(n) {
            let _ = end_tx.send(End::Counted);
        }
    });
    ec.on_loss(|loss| {
        let line = serde_json::json!({ "lost": loss.count(), "sender": loss.sender.to_string(), "first": loss.first, "last": loss.last });
        eprintln!("{line}");
    });
    ec.start().await?;
    let _extras = args.net.serve_extras(&ec)?;
    eprintln!("eventcast: listening on {}", args.net.describe());
    let timeout = async {
        match args.timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    let outcome = tokio::select! {
        end = end_rx.recv() => match end {
            Some(End::Counted | End::Closed) | None => ExitCode::SUCCESS,
        },
        () = timeout => match args.count {
            Some(n) => {
                eprintln!("eventcast: timed out after {} of {n} events", seen.load(Ordering::Relaxed));
                ExitCode::FAILURE
            }
            None => ExitCode::SUCCESS,
        },
        () = shutdown.requested() => ExitCode::SUCCESS,
    };
    crate::shutdown::stop_and_report(&ec, args.stats).await?;
    Ok(outcome)
}
