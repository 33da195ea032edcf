//! One console connection: optional token, then prompt, command, reply, with event lines
//! from `on` interleaved. Output goes through a bounded queue to a writer task, so the
//! instance never waits for a client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;

use super::command::{self, Command, KeysCommand};
use super::guard::{Admission, FIRST_LOCKOUT, TOKEN_TIMEOUT};
use super::{Active, ConsoleCounters, Shared, render};
use crate::emitter::ListenerId;
use crate::eventcast::Eventcast;
use crate::options::Encryption;

/// The longest line a client may send; longer ones are refused whole.
pub(crate) const MAX_LINE: usize = 64 * 1024;
/// Lines (replies and events) queued for one client; event lines beyond it are dropped.
pub(crate) const OUTPUT_QUEUE: usize = 256;
/// A client that takes longer than this to accept output is disconnected.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

enum LineRead {
    Line(String),
    TooLong,
    Eof,
}

/// Reads one line of at most [`MAX_LINE`] bytes, without telnet commands or the CR.
async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R, buf: &mut Vec<u8>) -> std::io::Result<LineRead> {
    buf.clear();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() && !too_long { LineRead::Eof } else { finish(buf, too_long) });
        }
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if buf.len() + take <= MAX_LINE + 1 {
            buf.extend_from_slice(&available[..take]);
        } else {
            too_long = true;
        }
        reader.consume(take);
        if done {
            return Ok(finish(buf, too_long));
        }
    }
}

fn finish(buf: &[u8], too_long: bool) -> LineRead {
    if too_long {
        return LineRead::TooLong;
    }
    LineRead::Line(clean_line(buf))
}

/// The text of a line as typed: telnet commands (IAC …) removed, line end and NULs dropped,
/// invalid UTF-8 replaced.
fn clean_line(raw: &[u8]) -> String {
    const IAC: u8 = 255;
    const SB: u8 = 250;
    const SE: u8 = 240;
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            IAC => match raw.get(i + 1) {
                Some(&IAC) => {
                    out.push(IAC);
                    i += 2;
                }
                Some(251..=254) => i += 3, // WILL, WONT, DO, DONT + option
                Some(&SB) => {
                    // subnegotiation: skip to IAC SE
                    let end = raw[i..].windows(2).position(|w| w == [IAC, SE]).map_or(raw.len(), |p| i + p + 2);
                    i = end;
                }
                _ => i += 2,
            },
            b'\r' | b'\n' | 0 => i += 1,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a raw line as the console would: the fuzz target's entry point.
#[doc(hidden)]
pub fn fuzz_line(raw: &[u8]) {
    let line = clean_line(raw);
    if let Ok(Command::Emit { args, .. }) = Command::parse(&line) {
        for a in args {
            let _ = crate::event::arg_from_text(&a);
        }
    }
}

/// Serves one connection until the client quits or goes away, or the console shuts down.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    slot: Option<Active>,
    admission: Option<Admission>,
) {
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let (out, out_rx) = mpsc::channel(OUTPUT_QUEUE);
    let unshown = Arc::new(AtomicU64::new(0));
    let writer = tokio::spawn(write_loop(wr, out_rx, unshown.clone()));
    let mut session = Session { shared, out, unshown, listeners: Vec::new(), prompt: true, peer, slot };
    session.serve(BufReader::new(rd), admission).await;
    if let Some(ec) = shared.ec.upgrade() {
        for (_, id) in session.listeners.drain(..) {
            ec.off(id);
        }
    }
    drop(session);
    let _ = writer.await;
}

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<String>, unshown: Arc<AtomicU64>) {
    while let Some(text) = rx.recv().await {
        let mut text = text;
        let skipped = unshown.swap(0, Ordering::Relaxed);
        if skipped > 0 {
            text = format!(
                "note: {skipped} event lines were not shown: this client was not reading fast enough\r\n{text}"
            );
        }
        match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(text.as_bytes())).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => break,
            Err(_) => {
                tracing::warn!(target: "eventcast::repl", "console client not reading for 30 s; disconnected");
                break;
            }
        }
    }
    let _ = wr.shutdown().await;
}

struct Session<'a> {
    shared: &'a Shared,
    out: mpsc::Sender<String>,
    unshown: Arc<AtomicU64>,
    /// The `on` listeners of this session, removed when it ends.
    listeners: Vec<(String, ListenerId)>,
    prompt: bool,
    peer: SocketAddr,
    /// The session slot, taken once the token (if any) was right.
    slot: Option<Active>,
}

impl Session<'_> {
    async fn say(&self, text: impl Into<String>) -> bool {
        let text = text.into();
        text.is_empty() || self.out.send(text).await.is_ok()
    }

    async fn serve<R: AsyncBufRead + Unpin>(&mut self, mut reader: R, admission: Option<Admission>) {
        let mut shutdown = self.shared.shutdown.clone();
        let mut buf = Vec::new();
        if let (Some(token), Some((id, kicked))) = (&self.shared.token, admission) {
            let ip = self.peer.ip();
            if !self.say(format!("{}\r\ntoken: ", super::NEEDS_TOKEN)).await {
                let _ = self.shared.guard.lock().map(|mut g| g.finish(ip, id, Instant::now(), None));
                return;
            }
            let typed = tokio::select! {
                r = tokio::time::timeout(TOKEN_TIMEOUT, read_line(&mut reader, &mut buf)) => Some(r),
                _ = shutdown.changed() => None,
                _ = kicked => {
                    let _ = self.say("\r\nerror: a newer connection from your address took this one's place\r\n").await;
                    None
                }
            };
            let right = match &typed {
                Some(Ok(Ok(LineRead::Line(t)))) => Some(bool::from(t.as_bytes().ct_eq(token.0.as_bytes()))),
                Some(Ok(Ok(LineRead::TooLong))) => Some(false),
                _ => None,
            };
            let delay = self.shared.guard.lock().map_or(FIRST_LOCKOUT, |mut g| g.finish(ip, id, Instant::now(), right));
            let counters = &self.shared.counters;
            match (right, typed) {
                (Some(true), _) => {}
                (Some(false), _) => {
                    counters.auth_failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(target: "eventcast::repl", peer = %self.peer, "console client gave a wrong token");
                    tokio::time::sleep(delay).await;
                    let _ = self.say("error: wrong token\r\n").await;
                    return;
                }
                (None, Some(Err(_))) => {
                    counters.auth_timeouts.fetch_add(1, Ordering::Relaxed);
                    let _ = self.say(format!("\r\nerror: no token within {} s\r\n", TOKEN_TIMEOUT.as_secs())).await;
                    return;
                }
                (None, _) => return,
            }
            match self.shared.claim() {
                Some(active) => self.slot = Some(active),
                None => {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    let _ = self.say(self.shared.full_message()).await;
                    return;
                }
            }
        }
        let greeting = format!("{}{}; type help for the commands\r\n", super::GREETING, self.shared.host);
        if !self.say(greeting).await {
            return;
        }
        loop {
            if self.prompt && !self.say(super::prompt(&self.shared.host)).await {
                return;
            }
            let read = tokio::select! {
                r = read_line(&mut reader, &mut buf) => r,
                _ = shutdown.changed() => return,
                _ = self.out.closed() => return,
            };
            let reply = match read {
                Ok(LineRead::Eof) | Err(_) => return,
                Ok(LineRead::TooLong) => format!("error: line longer than {MAX_LINE} bytes; ignored\r\n"),
                Ok(LineRead::Line(text)) => match Command::parse(&text) {
                    Err(e) => format!("error: {e}\r\n"),
                    Ok(Command::Quit) => {
                        let _ = self.say("bye\r\n").await;
                        return;
                    }
                    Ok(command) => {
                        let Some(ec) = self.shared.ec.upgrade() else {
                            let _ = self.say("error: the instance is gone\r\n").await;
                            return;
                        };
                        tracing::debug!(target: "eventcast::repl", peer = %self.peer, command = text.split_whitespace().next().unwrap_or(""), "console command");
                        self.execute(&ec, command).await
                    }
                },
            };
            if !self.say(reply).await {
                return;
            }
        }
    }

    async fn execute(&mut self, ec: &Eventcast, command: Command) -> String {
        match self.try_execute(ec, command).await {
            Ok(text) => text,
            Err(e) => format!("error: {}\r\n", e.replace(['\r', '\n'], " ")),
        }
    }

    async fn try_execute(&mut self, ec: &Eventcast, command: Command) -> Result<String, String> {
        let e = |e: crate::Error| e.to_string();
        Ok(match command {
            Command::Nothing | Command::Quit => String::new(),
            Command::Help(topic) => command::help(topic.as_deref())?,
            Command::Emit { event, args } => {
                let args =
                    args.iter().map(|a| crate::event::arg_from_text(a)).collect::<Result<Vec<_>, _>>().map_err(e)?;
                let n = args.len();
                ec.emit_bson(&event, args).await.map_err(e)?;
                format!("ok: emitted {event:?} with {n} argument{}\r\n", if n == 1 { "" } else { "s" })
            }
            Command::On(pattern) => {
                let id = ec.on(&pattern, self.event_printer()).map_err(e)?;
                self.listeners.push((pattern.clone(), id));
                format!("ok: showing events matching {pattern:?} here (off {pattern} stops)\r\n")
            }
            Command::Off(pattern) => {
                let mut removed = 0;
                self.listeners.retain(|(p, id)| {
                    let hit = pattern.as_ref().is_none_or(|want| want == p);
                    if hit {
                        ec.off(*id);
                        removed += 1;
                    }
                    !hit
                });
                format!("ok: {removed} pattern{} of this session removed\r\n", if removed == 1 { "" } else { "s" })
            }
            Command::Listeners => {
                let table = ec.listener_table();
                if table.is_empty() {
                    "no listeners\r\n".to_owned()
                } else {
                    table.iter().map(|(p, n)| format!("{n:>5}  {p}\r\n")).collect()
                }
            }
            Command::Stats { json } => {
                let stats = ec.stats().await;
                if json {
                    serde_json::to_string(&stats).map_err(|x| x.to_string())? + "\r\n"
                } else {
                    render::stats(&stats)
                }
            }
            Command::Peers => render::peers(&ec.stats().await),
            Command::Config => render::config(ec),
            Command::LogLevel { component, level } => {
                if let Some(level) = level {
                    let level = crate::logging::parse_level(&level).map_err(e)?;
                    ec.set_log_level(component.as_deref(), level).map_err(e)?;
                }
                let levels: Vec<String> = ec.log_levels().iter().map(|(c, l)| format!("{c}={l}")).collect();
                format!("{}\r\n", levels.join(" "))
            }
            Command::Keys(keys) => self.keys(ec, keys).await?,
            Command::Start => {
                ec.start().await.map_err(e)?;
                let addr = ec.local_addr().map(|a| a.to_string()).unwrap_or_default();
                format!("ok: started, bound to {addr}\r\n")
            }
            Command::Stop => {
                ec.stop().await.map_err(e)?;
                "ok: stopped; this console stays open (start runs it again)\r\n".to_owned()
            }
            Command::Prompt(on) => {
                self.prompt = on;
                String::new()
            }
        })
    }

    async fn keys(&self, ec: &Eventcast, keys: KeysCommand) -> Result<String, String> {
        let e = |e: crate::Error| e.to_string();
        match keys {
            KeysCommand::List => Ok(match ec.key_ids() {
                None => "encryption is off\r\n".to_owned(),
                Some((ids, using)) => {
                    let ids: Vec<String> = ids.iter().map(u8::to_string).collect();
                    format!("key ids {}; encrypting with {using}\r\n", ids.join(", "))
                }
            }),
            KeysCommand::Install { id, key } => {
                let key: Encryption = key.parse().map_err(e)?;
                // Stretching a passphrase takes tens of milliseconds of CPU: off the runtime.
                let ec2 = ec.clone();
                tokio::task::spawn_blocking(move || ec2.install_key(id, &key))
                    .await
                    .map_err(|j| j.to_string())?
                    .map_err(e)?;
                tracing::info!(target: "eventcast::repl", peer = %self.peer, id, "key installed from the console");
                Ok(format!("ok: key {id} installed; keys use {id} makes it encrypt\r\n"))
            }
            KeysCommand::Use(id) => {
                ec.use_key(id).map_err(e)?;
                tracing::info!(target: "eventcast::repl", peer = %self.peer, id, "key in use changed from the console");
                Ok(format!("ok: encrypting with key {id}\r\n"))
            }
            KeysCommand::Remove(id) => {
                ec.remove_key(id).map_err(e)?;
                Ok(format!("ok: key {id} removed\r\n"))
            }
        }
    }

    /// A listener that queues each event as a JSON line for this client, or counts it as
    /// unshown when the client is behind: never waits.
    fn event_printer(&self) -> impl Fn(&crate::Event) + Send + Sync + 'static {
        let out = self.out.clone();
        let unshown = self.unshown.clone();
        let counters: Arc<ConsoleCounters> = self.shared.counters.clone();
        move |ev| {
            let Ok(permit) = out.try_reserve() else {
                if !out.is_closed() {
                    unshown.fetch_add(1, Ordering::Relaxed);
                    counters.lines_dropped.fetch_add(1, Ordering::Relaxed);
                }
                return;
            };
            permit.send(format!("{}\r\n", ev.to_json()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8]) -> Vec<String> {
        let mut reader = BufReader::new(input);
        let mut buf = Vec::new();
        let mut got = Vec::new();
        loop {
            match read_line(&mut reader, &mut buf).await.unwrap() {
                LineRead::Eof => return got,
                LineRead::TooLong => got.push("<too long>".into()),
                LineRead::Line(l) => got.push(l),
            }
        }
    }

    #[tokio::test]
    async fn lines_end_with_lf_or_crlf_and_lose_telnet_commands() {
        let got = lines(b"stats\r\nhelp\n\xff\xfd\x01peers\r\n\xff\xfa\x18\x00xterm\xff\xf0quit").await;
        assert_eq!(got, ["stats", "help", "peers", "quit"]);
    }

    #[tokio::test]
    async fn overlong_lines_are_refused_whole() {
        let mut input = vec![b'a'; MAX_LINE + 10];
        input.extend_from_slice(b"\nstats\n");
        assert_eq!(lines(&input).await, ["<too long>", "stats"]);
        let exact = [vec![b'b'; MAX_LINE], b"\n".to_vec()].concat();
        assert_eq!(lines(&exact).await[0].len(), MAX_LINE);
    }

    #[test]
    fn fuzz_entry_takes_anything() {
        fuzz_line(b"emit x {\"$oid\": 5} \xff\xff \"unterminated");
        fuzz_line(&[0xff; 7]);
        fuzz_line(b"emit a 1 2 [3] {\"$date\": 0}");
    }
}
