//! The `eventcast` command: a thin client of the library.

mod bench;
mod console;
mod demo;
mod doctor;
mod emit;
mod gateway;
mod json;
mod listen;
mod metrics;
mod net;
mod record;
mod shutdown;
mod spy;
mod transport;

use std::process::ExitCode;
use std::sync::OnceLock;

use clap::{Parser, Subcommand, ValueEnum};
use eventcast::Eventcast;
use tracing::level_filters::LevelFilter;

/// A LAN-wide event emitter over UDP multicast.
#[derive(Debug, Parser)]
#[command(name = "eventcast", version, about, propagate_version = true)]
struct Cli {
    /// Log levels on stderr: a level for every component (off, error, warn, info, debug,
    /// trace), and COMPONENT=LEVEL for one: warn,repl=info. Components: eventcast, net, repl.
    /// The console's loglevel command changes them while running.
    #[arg(long, global = true, env = "EVENTCAST_LOG_LEVEL", default_value = "warn", value_parser = parse_log_levels)]
    log_level: LogLevels,
    /// Log line format on stderr
    #[arg(long, global = true, env = "EVENTCAST_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines
    Text,
    /// One JSON object per line
    Json,
}

/// `--log-level`: the level for all components, then per-component overrides.
type LogLevels = Vec<(Option<String>, LevelFilter)>;

fn parse_log_levels(text: &str) -> Result<LogLevels, String> {
    text.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|item| {
            let (component, level) = match item.split_once('=') {
                Some((c, l)) => (Some(c.trim()), l.trim()),
                None => (None, item.trim()),
            };
            if let Some(c) = component {
                if !eventcast::LOG_COMPONENTS.contains(&c) {
                    return Err(format!(
                        "unknown log component {c:?}; components: {}",
                        eventcast::LOG_COMPONENTS.join(", ")
                    ));
                }
            }
            let level = level
                .parse::<LevelFilter>()
                .map_err(|_| format!("{level:?} is not a log level; use off, error, warn, info, debug or trace"))?;
            Ok((component.map(str::to_owned), level))
        })
        .collect()
}

static LOG_LEVELS: OnceLock<LogLevels> = OnceLock::new();

/// Gives an instance the levels of `--log-level`.
pub fn apply_log_levels(ec: &Eventcast) -> eventcast::Result<()> {
    for (component, level) in LOG_LEVELS.get().map(Vec::as_slice).unwrap_or_default() {
        ec.set_log_level(component.as_deref(), *level)?;
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every received event as one JSON line
    Listen(listen::ListenArgs),
    /// Send an event
    Emit(emit::EmitArgs),
    /// A live table of the event space: one row per event name with rates, sizes,
    /// senders and losses (full-screen; --json for scripts)
    Spy(spy::SpyArgs),
    /// Record received events to an MCAP file (one channel per event name, BSON kept byte
    /// for byte)
    Record(record::RecordArgs),
    /// Re-emit the events of an MCAP recording with their original timing
    Replay(record::ReplayArgs),
    /// Print the events of an MCAP recording as `listen` JSON lines
    Cat(record::CatArgs),
    /// Check why events might not arrive: interfaces, routes, firewall, buffers,
    /// containers, and a self-test (--probe: the path to another host)
    Doctor(doctor::DoctorArgs),
    /// Start a few instances on loopback and show them exchanging events
    Demo(demo::DemoArgs),
    /// Open a running instance's console (started with --repl), with line editing and history
    Console(console::ConsoleArgs),
    /// Print a running instance's counters through its console
    Stats(console::StatsArgs),
    /// Measure throughput, latency and loss (or plain UDP's, with --raw)
    Bench(bench::BenchArgs),
    /// Relay a LAN's multicast group to NATS or unicast peers and back (joins LANs that
    /// multicast does not reach)
    Gateway(gateway::GatewayArgs),
}

fn init_logging(format: LogFormat) {
    // Each instance filters its own components by its levels (changeable from the console),
    // so the subscriber lets every level of ours through; RUST_LOG replaces this.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,eventcast=trace"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = LOG_LEVELS.set(cli.log_level);
    init_logging(cli.log_format);
    let result = match cli.command {
        Command::Console(args) => console::console(args),
        Command::Stats(args) => console::stats(args),
        Command::Listen(args) => block_on(listen::run(args)),
        Command::Emit(args) => block_on(emit::run(args)),
        Command::Spy(args) => spy::run(args),
        Command::Record(args) => block_on(record::record(args)),
        Command::Replay(args) => record::replay(args),
        Command::Cat(args) => record::cat(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Demo(args) => block_on(demo::run(args)),
        Command::Bench(args) => block_on(bench::run(args)),
        Command::Gateway(args) => block_on(gateway::run(args)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eventcast: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs an async command on a two-thread runtime (the console clients need none).
fn block_on(command: impl std::future::Future<Output = CliResult>) -> CliResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(command)
}

/// The error a command ends with: printed as one line, exit status 2.
type CliResult<T = ExitCode> = Result<T, Box<dyn std::error::Error>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_levels_parse_with_components() {
        let l = parse_log_levels("warn,repl=debug").unwrap();
        assert_eq!(l, vec![(None, LevelFilter::WARN), (Some("repl".into()), LevelFilter::DEBUG)]);
        assert!(parse_log_levels("disk=info").unwrap_err().contains("unknown log component \"disk\""));
        assert!(parse_log_levels("loud").unwrap_err().contains("\"loud\" is not a log level"));
    }
}
