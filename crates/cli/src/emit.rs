//! `eventcast emit`: send events from arguments or JSON lines.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use eventcast::bson::Bson;

use crate::net::{NetArgs, parse_duration};
use crate::{CliResult, json};

#[derive(Debug, Args)]
pub struct EmitArgs {
    /// Event name (not with --stdin)
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    event: Option<String>,
    /// Arguments: each is JSON (Extended JSON allowed), or a string when it is not JSON
    #[arg(allow_negative_numbers = true)]
    args: Vec<String>,
    /// Read events from stdin, one JSON object per line: {"event": NAME, "args": [...]}
    #[arg(long)]
    stdin: bool,
    /// Send each event this many times (with --stdin: each line)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    repeat: u64,
    /// Wait this long between two sends, repeats and --stdin lines alike (e.g. 0.1, 100ms)
    #[arg(long, value_parser = parse_duration, default_value = "0")]
    interval: Duration,
    /// Stay up this long after the last send, to answer repair requests (e.g. 2, 500ms)
    #[arg(long, value_parser = parse_duration, default_value = "0")]
    linger: Duration,
    /// Print the instance's counters as one JSON line on stderr before exiting
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    net: NetArgs,
}

pub async fn run(args: EmitArgs) -> CliResult {
    let mut shutdown = crate::shutdown::Shutdown::install();
    let parsed_args = args.args.iter().map(|a| eventcast::arg_from_text(a)).collect::<Result<Vec<Bson>, _>>()?;
    let ec = args.net.build()?;
    ec.start().await?;
    let _extras = args.net.serve_extras(&ec)?;
    let work = async {
        let mut code = ExitCode::SUCCESS;
        let mut pace = Pace { interval: args.interval, next: None };
        if let Some(event) = &args.event {
            for _ in 0..args.repeat {
                pace.wait().await;
                ec.emit_bson(event, parsed_args.clone()).await?;
            }
        } else {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<(usize, std::io::Result<String>)>(1024);
            std::thread::spawn(move || {
                for (n, line) in std::io::stdin().lock().lines().enumerate() {
                    if tx.blocking_send((n + 1, line)).is_err() {
                        break;
                    }
                }
            });
            while let Some((n, line)) = rx.recv().await {
                let line = line?;
                if line.trim().is_empty() {
                    continue;
                }
                match json::parse_input_line(&line) {
                    Ok((event, event_args)) => {
                        for _ in 0..args.repeat {
                            pace.wait().await;
                            ec.emit_bson(&event, event_args.clone()).await?;
                        }
                    }
                    Err(e) => {
                        // the rest of the stream still goes out; the exit status says input was bad
                        eprintln!("eventcast: stdin line {n}: {e}; line skipped");
                        code = ExitCode::from(2);
                    }
                }
            }
        }
        if !args.linger.is_zero() {
            tokio::time::sleep(args.linger).await;
        }
        Ok::<_, Box<dyn std::error::Error>>(code)
    };
    // SIGINT and SIGTERM stop sending; what was emitted still goes out, in order
    let code = tokio::select! {
        code = work => code?,
        () = shutdown.requested() => ExitCode::SUCCESS,
    };
    // stop first: it sends what is still queued, so the counters include every event
    crate::shutdown::stop_and_report(&ec, args.stats).await?;
    Ok(code)
}

/// `--interval`: the wait between two sends, whatever they are (repeats, lines).
struct Pace {
    interval: Duration,
    next: Option<tokio::time::Instant>,
}

impl Pace {
    async fn wait(&mut self) {
        if self.interval.is_zero() {
            return;
        }
        if let Some(next) = self.next {
            tokio::time::sleep_until(next).await;
        }
        self.next = Some(tokio::time::Instant::now() + self.interval);
    }
}
