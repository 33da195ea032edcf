//! `eventcast listen`: received events as JSON lines on stdout.

use std::io::Write;
use std::process::ExitCode;
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

pub async fn run(args: ListenArgs) -> CliResult {
    let patterns = args.patterns.iter().map(|p| Pattern::new(p)).collect::<Result<Vec<_>, _>>()?;
    let ec = args.net.build()?;
    let mut events = ec.subscribe("**")?;
    ec.on_loss(|loss| {
        let line = serde_json::json!({ "lost": loss.count(), "sender": loss.sender.to_string(), "first": loss.first, "last": loss.last });
        eprintln!("{line}");
    });
    ec.start().await?;
    let _extras = args.net.serve_extras(&ec)?;
    eprintln!("eventcast: listening on {}:{} via interface {}", args.net.group, args.net.port, args.net.interface);
    let deadline = args.timeout.map(|t| tokio::time::Instant::now() + t);
    let mut seen = 0u64;
    let mut stdout = std::io::stdout().lock();
    let outcome = loop {
        if args.count.is_some_and(|n| seen >= n) {
            break ExitCode::SUCCESS;
        }
        let next = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, events.recv()).await.ok(),
                None => Some(events.recv().await),
            }
        };
        let event = tokio::select! {
            e = next => e,
            _ = tokio::signal::ctrl_c() => break ExitCode::SUCCESS,
        };
        let Some(event) = event else {
            // timed out
            break match args.count {
                Some(n) => {
                    eprintln!("eventcast: timed out after {seen} of {n} events");
                    ExitCode::FAILURE
                }
                None => ExitCode::SUCCESS,
            };
        };
        let Some(event) = event else {
            break ExitCode::FAILURE;
        };
        if !patterns.is_empty() && !patterns.iter().any(|p| p.matches(event.name())) {
            continue;
        }
        seen += 1;
        let line = event.to_json();
        if writeln!(stdout, "{line}").and_then(|()| stdout.flush()).is_err() {
            break ExitCode::SUCCESS; // the reader went away (`| head`)
        }
    };
    if args.stats {
        eprintln!("{}", serde_json::to_string(&ec.stats().await)?);
    }
    ec.stop().await?;
    Ok(outcome)
}
