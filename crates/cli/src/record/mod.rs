//! `eventcast record`, `replay` and `cat`: recordings of the event space in MCAP, the
//! format robotics and data tools open (Foxglove, the `mcap` CLI and libraries). The layout
//! (a channel per event name, BSON arguments kept byte for byte, sender and receive time
//! per message, losses and metadata) is in [`format`].

mod capture;
mod cat;
pub mod format;
mod reader;
mod replay;
mod writer;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::CliResult;
use crate::net::{NetArgs, parse_duration, parse_rate};
use writer::CompressionArg;

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The MCAP file to write (later files of a split get .0001, .0002, … before the extension)
    file: PathBuf,
    /// Event names or patterns to record (sensor.*, **.error); default: every event
    patterns: Vec<String>,
    /// Stop after this long (e.g. 10s, 5m)
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many events
    #[arg(long)]
    count: Option<u64>,
    /// Compress the file's chunks
    #[arg(long, value_enum, default_value = "none")]
    compression: CompressionArg,
    /// Start a new file when this many bytes are written (e.g. 100M, 2G)
    #[arg(long, value_parser = parse_rate)]
    split_size: Option<u64>,
    /// Start a new file after this long (e.g. 1h)
    #[arg(long, value_parser = parse_duration)]
    split_duration: Option<Duration>,
    /// Print the instance's counters as one JSON line on stderr at the end
    #[arg(long)]
    stats: bool,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// MCAP files written by `eventcast record`, played one after the other
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Speed: 2 plays twice as fast, 0.5 half as fast, 0 as fast as possible
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Play again from the start when the end is reached (until Ctrl-C)
    #[arg(long = "loop")]
    r#loop: bool,
    /// Replay only events matching this pattern (repeatable)
    #[arg(long)]
    filter: Vec<String>,
    /// Skip this much of the recording's start (e.g. 30s)
    #[arg(long, value_parser = parse_duration)]
    start_offset: Option<Duration>,
    /// Start paused: Enter (or n) sends the next event, p + Enter pauses/resumes, q quits
    #[arg(long)]
    paused: bool,
    /// Print the events as JSON lines at their times instead of sending them
    #[arg(long)]
    json: bool,
    /// Stay this long after the last event so receivers can ask for repairs
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    linger: Duration,
    #[command(flatten)]
    net: NetArgs,
}

#[derive(Debug, Args)]
pub struct CatArgs {
    /// MCAP files written by `eventcast record`
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print only events matching this pattern (repeatable)
    #[arg(long)]
    filter: Vec<String>,
    /// Also print the files' metadata records on stderr
    #[arg(long)]
    metadata: bool,
}

/// `eventcast record`.
pub async fn record(args: RecordArgs) -> CliResult {
    capture::run(args).await
}

/// `eventcast replay`.
pub fn replay(args: ReplayArgs) -> CliResult {
    replay::run(args)
}

/// `eventcast cat`.
pub fn cat(args: CatArgs) -> CliResult<ExitCode> {
    cat::run(args)
}
