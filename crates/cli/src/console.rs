//! `eventcast console` and `eventcast stats`: clients of a running instance's TCP console.
//! The console itself is plain text, so `telnet` and `nc` work as well; this client adds
//! line editing and history, and runs commands from scripts.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;
use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter};

use crate::CliResult;

/// The address tried when none is given: the original's example port.
const DEFAULT_CONSOLE: &str = "127.0.0.1:20001";
use eventcast::console::{GREETING, NEEDS_TOKEN, prompt};

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// The console: HOST:PORT, or just PORT on 127.0.0.1
    #[arg(default_value = DEFAULT_CONSOLE, env = "EVENTCAST_CONSOLE")]
    address: String,
    /// The console's token, if it has one (prefer the environment variable)
    #[arg(long, env = "EVENTCAST_REPL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Run this command and exit instead of prompting (repeatable)
    #[arg(short = 'c', long = "command")]
    commands: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The console of the running instance: HOST:PORT, or just PORT on 127.0.0.1
    #[arg(default_value = DEFAULT_CONSOLE, env = "EVENTCAST_CONSOLE")]
    address: String,
    /// The console's token, if it has one
    #[arg(long, env = "EVENTCAST_REPL_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// One JSON object instead of lines
    #[arg(long)]
    json: bool,
    /// Show the peer table too
    #[arg(long)]
    peers: bool,
}

fn resolve(address: &str) -> Result<SocketAddr, String> {
    let text = if address.parse::<u16>().is_ok() { format!("127.0.0.1:{address}") } else { address.to_owned() };
    text.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("console address {address:?} is not HOST:PORT or PORT (example: 127.0.0.1:20001)"))
}

/// Connects, gives the token, and turns the server's prompt off (this client has its own).
fn connect(address: &str, token: Option<&str>) -> Result<(TcpStream, BufReader<TcpStream>, String), String> {
    let addr = resolve(address)?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("cannot reach the console at {addr}: {e}; is the instance running with --repl?"))?;
    let _ = stream.set_nodelay(true);
    let mut hello = String::new();
    if let Some(t) = token {
        hello.push_str(t);
        hello.push('\n');
    }
    hello.push_str("prompt off\n");
    stream.write_all(hello.as_bytes()).map_err(|e| format!("console at {addr}: {e}"))?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut first = String::new();
    reader.read_line(&mut first).map_err(|e| format!("console at {addr}: {e}"))?;
    if first.starts_with(NEEDS_TOKEN) {
        let mut verdict = String::new();
        let _ = reader.read_line(&mut verdict);
        if token.is_none() {
            return Err("this console needs a token: give --token or set EVENTCAST_REPL_TOKEN".into());
        }
        first = verdict.trim_start_matches("token: ").to_owned();
        if first.starts_with("error:") {
            return Err(format!("the console refused the token ({})", first.trim()));
        }
    }
    if first.starts_with("error:") {
        return Err(format!("the console at {addr} refused the connection: {}", first.trim()));
    }
    let host = first.trim().strip_prefix(GREETING).and_then(|r| r.split(';').next()).unwrap_or("?").to_owned();
    // The server shows one prompt before it reads `prompt off`: skip it.
    let mut shown = vec![0u8; prompt(&host).len()];
    reader.read_exact(&mut shown).map_err(|e| format!("console at {addr}: {e}"))?;
    Ok((stream, reader, host))
}

/// Sends `commands` and `quit`, prints every reply; exit status 1 if any was an error.
fn run_script(address: &str, token: Option<&str>, commands: &[String]) -> CliResult {
    let (mut stream, reader, _) = connect(address, token)?;
    let mut script = String::new();
    for c in commands {
        script.push_str(c);
        script.push('\n');
    }
    script.push_str("quit\n");
    stream.write_all(script.as_bytes())?;
    let mut failed = false;
    let mut out = std::io::stdout().lock();
    for line in reader.lines() {
        let line = line?;
        let line = line.trim_end_matches('\r');
        if line == "bye" {
            break;
        }
        failed |= line.starts_with("error:");
        if writeln!(out, "{line}").is_err() {
            break; // the reader went away (`| head`)
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

pub fn stats(args: StatsArgs) -> CliResult {
    let mut commands = vec![if args.json { "stats json".to_owned() } else { "stats".to_owned() }];
    if args.peers {
        commands.push("peers".into());
    }
    run_script(&args.address, args.token.as_deref(), &commands)
}

pub fn console(args: ConsoleArgs) -> CliResult {
    if !args.commands.is_empty() {
        return run_script(&args.address, args.token.as_deref(), &args.commands);
    }
    let (mut stream, reader, host) = connect(&args.address, args.token.as_deref())?;
    let mut editor = DefaultEditor::new()?;
    let history = std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".eventcast_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    let closed = Arc::new(AtomicBool::new(false));
    let printer: Box<dyn FnMut(String) + Send> = match editor.create_external_printer() {
        Ok(mut p) => Box::new(move |line| {
            let _ = p.print(line);
        }),
        Err(_) => Box::new(|line| {
            let _ = writeln!(std::io::stdout(), "{}", line.trim_end());
        }),
    };
    let reader_thread = {
        let closed = closed.clone();
        let mut printer = printer;
        std::thread::spawn(move || {
            for line in reader.lines() {
                let Ok(line) = line else { break };
                printer(format!("{}\n", line.trim_end_matches('\r')));
            }
            closed.store(true, Ordering::SeqCst);
        })
    };
    println!("connected to {} on {host}; help lists the commands, Ctrl-D quits", args.address);
    let prompt = prompt(&host);
    loop {
        if closed.load(Ordering::SeqCst) {
            eprintln!("eventcast: the console closed the connection");
            break;
        }
        match editor.readline(&prompt) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                if stream.write_all(format!("{line}\n").as_bytes()).is_err() {
                    eprintln!("eventcast: the console closed the connection");
                    break;
                }
                let word = line.split_whitespace().next().unwrap_or("");
                if word == "quit" || word == "exit" {
                    break;
                }
                // Let the reply arrive before the next prompt is drawn, for tidier output.
                std::thread::sleep(Duration::from_millis(30));
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => {
                let _ = stream.write_all(b"quit\n");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let _ = reader_thread.join();
    Ok(ExitCode::SUCCESS)
}
