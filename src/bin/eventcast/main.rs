//! The `eventcast` command: a thin client of the library.

mod demo;
mod emit;
mod json;
mod listen;
mod net;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A LAN-wide event emitter over UDP multicast.
#[derive(Debug, Parser)]
#[command(name = "eventcast", version, about, propagate_version = true)]
struct Cli {
    /// Log filter for stderr: error, warn, info, debug, trace, or a tracing directive such as
    /// eventcast=debug
    #[arg(long, global = true, env = "EVENTCAST_LOG_LEVEL", default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every received event as one JSON line
    Listen(listen::ListenArgs),
    /// Send an event
    Emit(emit::EmitArgs),
    /// Start a few instances on loopback and show them exchanging events
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match tracing_subscriber::EnvFilter::try_new(&cli.log_level) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("eventcast: invalid --log-level {:?}: {e}; use error, warn, info, debug or trace", cli.log_level);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("eventcast: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Listen(args) => listen::run(args).await,
            Command::Emit(args) => emit::run(args).await,
            Command::Demo(args) => demo::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("eventcast: {e}");
            ExitCode::from(2)
        }
    }
}

/// The error a command ends with: printed as one line, exit status 2.
type CliResult = Result<ExitCode, Box<dyn std::error::Error>>;
