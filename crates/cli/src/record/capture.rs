//! `eventcast record FILE [PATTERN…]`: received events into MCAP files.
//!
//! Events are written by a listener on the instance's dispatcher thread (as `listen`
//! prints): when the disk is slower than the network, that thread waits and flow control
//! slows the senders, so nothing is dropped and no queue grows. SIGINT/SIGTERM, `--duration`
//! and `--count` end the recording with the file closed cleanly (summary and end record
//! written); SIGHUP, `--split-size` and `--split-duration` start a new file.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventcast::Pattern;

use super::RecordArgs;
use super::writer::{Recorder, WriterOptions, now_ns};
use crate::CliResult;

enum End {
    Counted,
    Failed(String),
}

pub async fn run(args: RecordArgs) -> CliResult {
    let patterns = args.patterns.iter().map(|p| Pattern::new(p)).collect::<Result<Vec<_>, _>>()?;
    let mut shutdown = crate::shutdown::Shutdown::install();
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    let ec = args.net.build()?;
    let recorder = Recorder::create(WriterOptions {
        path: args.file.clone(),
        compression: args.compression,
        split_size: args.split_size,
        split_duration: args.split_duration,
        metadata: file_metadata(&args),
    })?;
    let recorder = Arc::new(Mutex::new(recorder));
    let (end_tx, mut end_rx) = tokio::sync::mpsc::unbounded_channel();
    let recorded = Arc::new(AtomicU64::new(0));
    let count = args.count;
    if count == Some(0) {
        let _ = end_tx.send(End::Counted);
    }
    {
        let (recorder, recorded, end_tx) = (recorder.clone(), recorded.clone(), end_tx.clone());
        ec.on_any(move |event| {
            if !patterns.is_empty() && !patterns.iter().any(|p| p.matches(event.name())) {
                return;
            }
            if count.is_some_and(|n| recorded.load(Ordering::Relaxed) >= n) {
                return;
            }
            let time = now_ns();
            let mut r = lock(&recorder);
            let written = r.event(event, time).and_then(|()| split_if_due(&mut r));
            drop(r);
            if let Err(e) = written {
                let _ = end_tx.send(End::Failed(e));
                return;
            }
            let n = recorded.fetch_add(1, Ordering::Relaxed) + 1;
            if count == Some(n) {
                let _ = end_tx.send(End::Counted);
            }
        });
    }
    {
        let (recorder, end_tx) = (recorder.clone(), end_tx.clone());
        ec.on_loss(move |loss| {
            if let Err(e) = lock(&recorder).loss(loss, now_ns()) {
                let _ = end_tx.send(End::Failed(e));
            }
        });
    }
    ec.start().await?;
    let _extras = args.net.serve_extras(&ec)?;
    eprintln!("eventcast: recording to {} on {}", args.file.display(), args.net.describe());
    let deadline = async {
        match args.duration {
            Some(t) => tokio::time::sleep(t).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(deadline);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let (reason, outcome) = loop {
        #[cfg(unix)]
        let hup = hangup.recv();
        #[cfg(not(unix))]
        let hup = std::future::pending::<Option<()>>();
        tokio::select! {
            end = end_rx.recv() => match end {
                Some(End::Failed(e)) => break (format!("error: {e}"), Err(e)),
                Some(End::Counted) | None => break ("count".to_owned(), Ok(ExitCode::SUCCESS)),
            },
            () = &mut deadline => break ("duration".to_owned(), Ok(ExitCode::SUCCESS)),
            () = shutdown.requested() => break ("signal".to_owned(), Ok(ExitCode::SUCCESS)),
            _ = hup => {
                let rotated = lock(&recorder).rotate("SIGHUP");
                match rotated {
                    Ok(next) => say(&format!("eventcast: SIGHUP: now recording to {}", next.display())),
                    Err(e) => break (format!("error: {e}"), Err(e)),
                }
            }
            _ = tick.tick() => {
                let split = split_if_due(&mut lock(&recorder));
                if let Err(e) = split {
                    break (format!("error: {e}"), Err(e));
                }
            }
        }
    };
    // stop first: no listener runs after this, so the file closes with every event in it
    ec.stop().await?;
    let summary = {
        let mut r = lock(&recorder);
        r.close(&reason)?;
        let c = r.counts;
        serde_json::json!({
            "recorded": c.events, "losses": c.losses, "lost_events": c.lost_events, "bytes": c.bytes,
            "files": c.files, "last_file": r.current_path().display().to_string(), "undecodable": c.undecodable,
            "reason": reason,
        })
    };
    say(&summary.to_string());
    if args.stats {
        eprintln!("{}", serde_json::to_string(&ec.stats().await)?);
    }
    outcome.map_err(Into::into)
}

/// A line on stderr; a closed stderr is no reason to stop recording.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    recorder.lock().unwrap_or_else(|p| p.into_inner())
}

fn split_if_due(r: &mut Recorder) -> Result<(), String> {
    if r.due_for_split() {
        let next = r.rotate("split")?;
        say(&format!("eventcast: now recording to {}", next.display()));
    }
    Ok(())
}

/// The `eventcast` metadata record: what was recorded, where, how.
fn file_metadata(args: &RecordArgs) -> BTreeMap<String, String> {
    let net = &args.net;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_owned()).unwrap_or_default();
    BTreeMap::from([
        ("version".into(), env!("CARGO_PKG_VERSION").into()),
        ("layout".into(), "1".into()),
        ("host".into(), host),
        ("network".into(), net.describe()),
        ("group".into(), net.group.clone()),
        ("port".into(), net.port.to_string()),
        ("interface".into(), net.interface.clone()),
        ("delivery".into(), format!("{:?}", net.delivery).to_lowercase()),
        (
            "encrypted".into(),
            (net.key.is_some() || net.key_file.is_some() || std::env::var_os("EVENTCAST_KEY").is_some()).to_string(),
        ),
        ("patterns".into(), args.patterns.join(" ")),
        ("compression".into(), format!("{:?}", args.compression).to_lowercase()),
    ])
}
