//! The TCP console driven over real sockets on 127.0.0.1: every command, several clients at
//! once, a client that never reads, the session limit, the token, bad input.

use std::net::SocketAddr;
use std::time::Duration;

use eventcast::bson::Bson;
use eventcast::{Eventcast, Stats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

async fn instance(port: u16, f: impl FnOnce(eventcast::Builder) -> eventcast::Builder) -> Eventcast {
    let b = Eventcast::builder().group("239.255.4.1").port(port).interface("127.0.0.1");
    let ec = f(b).build().unwrap();
    ec.start().await.unwrap();
    ec
}

/// A telnet-like client: sends lines, reads until the prompt comes back.
struct Client {
    stream: TcpStream,
    pending: Vec<u8>,
    prompt: String,
}

impl Client {
    async fn raw(addr: SocketAddr) -> TcpStream {
        timeout(WAIT, TcpStream::connect(addr)).await.unwrap().unwrap()
    }

    async fn connect(addr: SocketAddr) -> Client {
        Self::greeted(Self::raw(addr).await).await
    }

    /// A client whose socket buffers little, so that not reading fills it at once.
    async fn connect_small(addr: SocketAddr) -> Client {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        Self::greeted(timeout(WAIT, socket.connect(addr)).await.unwrap().unwrap()).await
    }

    async fn greeted(stream: TcpStream) -> Client {
        let mut c = Client { stream, pending: Vec::new(), prompt: String::new() };
        let greeting = c.read_until("> ").await;
        let host = greeting.split("eventcast console on ").nth(1).unwrap().split(';').next().unwrap().to_owned();
        c.prompt = format!("eventcast@{host}> ");
        assert!(greeting.ends_with(&c.prompt), "{greeting:?}");
        c
    }

    async fn read_until(&mut self, end: &str) -> String {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = find(&self.pending, end.as_bytes()) {
                let rest = self.pending.split_off(i + end.len());
                let got = std::mem::replace(&mut self.pending, rest);
                return String::from_utf8_lossy(&got).into_owned();
            }
            let n = timeout(WAIT, self.stream.read(&mut buf)).await.expect("console answers").unwrap();
            assert!(n > 0, "connection closed; so far: {:?}", String::from_utf8_lossy(&self.pending));
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Sends one command; the reply up to the next prompt, without it.
    async fn cmd(&mut self, line: &str) -> String {
        self.stream.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        let prompt = self.prompt.clone();
        let out = self.read_until(&prompt).await;
        out.trim_end_matches(prompt.as_str()).to_owned()
    }

    async fn stats(&mut self) -> Stats {
        let text = self.cmd("stats json").await;
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        let mut s = Stats::default();
        s.protocol.events_in = v["events_in"].as_u64().unwrap();
        s.protocol.events_out = v["events_out"].as_u64().unwrap();
        s.console_lines_dropped = v["console_lines_dropped"].as_u64().unwrap();
        s.console_active = v["console_active"].as_u64().unwrap();
        s
    }

    async fn closed(&mut self) -> String {
        let mut rest = Vec::new();
        timeout(WAIT, self.stream.read_to_end(&mut rest)).await.expect("closed in time").unwrap();
        String::from_utf8_lossy(&[std::mem::take(&mut self.pending), rest].concat()).into_owned()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[tokio::test]
async fn every_command_works_over_tcp() {
    let a = instance(19301, |b| b.repl(true)).await;
    let b = instance(19301, |b| b).await;
    let addr = a.console_addr().expect("console open after start");
    assert!(addr.ip().is_loopback(), "localhost by default: {addr}");
    let mut c = Client::connect(addr).await;

    let help = c.cmd("help").await;
    for name in [
        "help",
        "emit",
        "on",
        "off",
        "listeners",
        "stats",
        "peers",
        "config",
        "loglevel",
        "keys",
        "start",
        "stop",
        "quit",
    ] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(name)), "help lacks {name}: {help}");
    }
    assert!(c.cmd("help emit").await.contains("emit EVENT [ARG…]"));

    let mut at_b = b.subscribe("hi").unwrap();
    assert!(
        c.cmd(r#"emit hi "two words" 5 '{"$date": "2024-01-02T03:04:05Z"}'"#)
            .await
            .starts_with("ok: emitted \"hi\" with 3 arguments")
    );
    let ev = timeout(WAIT, at_b.recv()).await.unwrap().unwrap();
    let args = ev.args_bson().unwrap();
    assert_eq!(args[..2], [Bson::String("two words".into()), Bson::Int32(5)]);
    assert!(matches!(args[2], Bson::DateTime(_)), "Extended JSON is read: {args:?}");

    assert!(c.cmd("on sensor.*").await.starts_with("ok: showing events matching \"sensor.*\""));
    b.emit("sensor.temp", &("kitchen", 21.5)).await.unwrap();
    b.emit("other", &()).await.unwrap();
    let line = c.read_until("\r\n").await;
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!((v["event"].as_str(), v["args"][0].as_str()), (Some("sensor.temp"), Some("kitchen")));
    let listeners = c.cmd("listeners").await;
    assert!(listeners.contains("1  sensor.*"), "{listeners}");
    assert!(c.cmd("off sensor.*").await.starts_with("ok: 1 pattern of this session removed"));
    assert_eq!(c.cmd("listeners").await.trim(), "no listeners");
    b.emit("sensor.temp", &("hall", 19.0)).await.unwrap();

    let stats = c.stats().await;
    assert_eq!(stats.protocol.events_out, 1, "{stats:?}");
    assert_eq!(stats.console_active, 1);
    let text = c.cmd("stats").await;
    assert!(text.lines().any(|l| l.starts_with("events_out ") && l.trim_end().ends_with(" 1")), "{text}");
    assert!(!text.contains("sensor.temp"), "events after off are not shown: {text}");

    let b_id = match *b.state().borrow() {
        eventcast::State::Running { sender, .. } => sender.to_string(),
        eventcast::State::Stopped => unreachable!(),
    };
    let peers = c.cmd("peers").await;
    assert!(peers.starts_with("SENDER") && peers.contains(&b_id), "{peers}");

    let config = c.cmd("config").await;
    assert!(
        config.contains("group                   239.255.4.1") && config.contains("encryption              off"),
        "{config}"
    );

    assert_eq!(c.cmd("loglevel").await.trim(), "eventcast=info net=info repl=info");
    assert_eq!(c.cmd("loglevel repl debug").await.trim(), "eventcast=info net=info repl=debug");
    assert_eq!(c.cmd("loglevel warn").await.trim(), "eventcast=warn net=warn repl=warn");
    assert!(c.cmd("loglevel disk info").await.starts_with("error: invalid log component \"disk\""));
    assert!(c.cmd("loglevel loud").await.starts_with("error: invalid log level \"loud\""));

    assert_eq!(c.cmd("keys").await.trim(), "encryption is off");
    assert!(c.cmd("keys use 2").await.starts_with("error: invalid key \"<none>\""));

    assert!(c.cmd("stop").await.starts_with("ok: stopped"));
    assert!(!a.is_running());
    assert!(c.cmd("emit x").await.starts_with("error: the instance is not running"));
    assert!(c.cmd("start").await.starts_with("ok: started"));
    assert!(a.is_running());
    assert!(c.cmd("start").await.starts_with("error: the instance is already running"));

    c.stream.write_all(b"quit\n").await.unwrap();
    assert_eq!(c.closed().await.trim(), "bye");
}

#[tokio::test]
async fn keys_rotate_from_the_console_and_are_never_shown() {
    let a = instance(19302, |b| b.repl(true).passphrase("first secret")).await;
    let b = instance(19302, |b| b.passphrase("first secret")).await;
    let mut c = Client::connect(a.console_addr().unwrap()).await;
    assert_eq!(c.cmd("keys list").await.trim(), "key ids 1; encrypting with 1");
    let reply = c.cmd("keys install 2 'second secret'").await;
    assert!(reply.starts_with("ok: key 2 installed"), "{reply}");
    b.install_key(2, &eventcast::Encryption::Passphrase("second secret".into())).unwrap();
    assert!(c.cmd("keys use 2").await.starts_with("ok: encrypting with key 2"));
    assert_eq!(c.cmd("keys").await.trim(), "key ids 1, 2; encrypting with 2");
    let mut at_b = b.subscribe("rotated").unwrap();
    c.cmd("emit rotated 1").await;
    assert!(timeout(WAIT, at_b.recv()).await.unwrap().is_some());
    assert!(c.cmd("keys remove 2").await.starts_with("error:"), "the key in use cannot go");
    assert!(c.cmd("keys remove 1").await.starts_with("ok: key 1 removed"));
    assert!(c.cmd("keys install 3 hex:zz").await.starts_with("error: invalid key \"<redacted>\""));
    let everything = [c.cmd("config").await, c.cmd("stats").await].concat();
    assert!(!everything.contains("secret"), "{everything}");
    assert!(everything.contains("on (key ids 2; encrypting with 2)"));
}

#[tokio::test]
async fn several_clients_at_once_and_a_stuck_one_never_slows_the_instance() {
    let a = instance(19303, |b| b.repl(true)).await;
    let b = instance(19303, |b| b).await;
    let addr = a.console_addr().unwrap();
    // The stuck client asks for every event, then never reads again.
    let mut stuck = Client::connect_small(addr).await;
    assert!(stuck.cmd("on **").await.starts_with("ok"));
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(addr).await);
    }
    let mut all = a.subscribe("**").unwrap();
    const N: usize = 20_000;
    let payload = "x".repeat(200);
    let sending = tokio::spawn(async move {
        for i in 0..N {
            b.emit("burst", &(i as u64, payload.as_str())).await.unwrap();
        }
        b
    });
    // Meanwhile every other client is served.
    for c in &mut clients {
        assert!(c.cmd("listeners").await.contains("**"));
    }
    let _b = timeout(Duration::from_secs(60), sending).await.expect("the sender is not held up").unwrap();
    for i in 0..N {
        let ev = timeout(WAIT, all.recv()).await.expect("every event reaches the instance").unwrap();
        assert_eq!(ev.arg::<u64>(0).unwrap(), i as u64);
    }
    let stats = clients[0].stats().await;
    assert_eq!(stats.protocol.events_in, N as u64);
    assert!(stats.console_lines_dropped > 0, "the stuck client's lines were dropped: {stats:?}");
    assert_eq!(stats.console_active, 4);
    // The stuck client, reading at last, is told what it missed.
    let mut seen = String::new();
    while !seen.contains("event lines were not shown") {
        seen = stuck.read_until("\r\n").await;
    }
}

#[tokio::test]
async fn sessions_beyond_the_limit_are_refused_with_a_message() {
    let a = instance(19304, |b| b.repl(true).repl_max_clients(2)).await;
    let addr = a.console_addr().unwrap();
    let _one = Client::connect(addr).await;
    let mut two = Client::connect(addr).await;
    let mut three = Client { stream: Client::raw(addr).await, pending: Vec::new(), prompt: String::new() };
    let said = three.closed().await;
    assert!(said.starts_with("error: the console already has 2 sessions"), "{said:?}");
    let s = two.cmd("stats json").await;
    assert!(s.contains("\"console_refused\":1"), "{s}");
    // A closed session frees its place.
    two.stream.write_all(b"quit\n").await.unwrap();
    two.closed().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut four = Client::connect(addr).await;
    assert!(four.cmd("help quit").await.contains("quit"));
}

#[tokio::test]
async fn a_token_is_asked_first_and_a_wrong_one_closes_the_session() {
    let a = instance(19305, |b| b.repl(true).repl_token("let me in")).await;
    let addr = a.console_addr().unwrap();
    let mut wrong = Client { stream: Client::raw(addr).await, pending: Vec::new(), prompt: String::new() };
    assert!(wrong.read_until("token: ").await.contains("needs a token"));
    wrong.stream.write_all(b"guess\r\n").await.unwrap();
    assert_eq!(wrong.closed().await.trim(), "error: wrong token");
    let mut right = Client { stream: Client::raw(addr).await, pending: Vec::new(), prompt: String::new() };
    right.read_until("token: ").await;
    right.stream.write_all(b"let me in\n").await.unwrap();
    let greeting = right.read_until("\r\n").await;
    let host = greeting.split("eventcast console on ").nth(1).unwrap().split(';').next().unwrap().to_owned();
    right.prompt = format!("eventcast@{host}> ");
    let prompt = right.prompt.clone();
    right.read_until(&prompt).await;
    let s = right.cmd("stats json").await;
    assert!(s.contains("\"console_auth_failed\":1"), "{s}");
}

/// Finding 8: silent connections hold no slot and no place for long, and wrong tokens lock
/// the address out for doubling times across connections.
#[tokio::test]
async fn silence_holds_no_slot_and_guesses_lock_the_address_out() {
    let a = instance(19308, |b| b.repl(true).repl_token("let me in")).await;
    let addr = a.console_addr().unwrap();
    let mut silent = Vec::new();
    for _ in 0..9 {
        let mut c = Client { stream: Client::raw(addr).await, pending: Vec::new(), prompt: String::new() };
        c.read_until("token: ").await;
        silent.push(c);
    }
    // the oldest silent connections were pushed out by the newer ones
    assert!(silent[0].closed().await.contains("newer connection from your address"));
    let mut right = Client { stream: Client::raw(addr).await, pending: Vec::new(), prompt: String::new() };
    right.read_until("token: ").await;
    right.stream.write_all(b"let me in\n").await.unwrap();
    assert!(right.read_until("\r\n").await.contains("eventcast console on"));
    // a wrong token: the answer waits, and meanwhile the address is locked out
    let mut wrong = Client { stream: Client::raw(addr).await, pending: Vec::new(), prompt: String::new() };
    wrong.read_until("token: ").await;
    wrong.stream.write_all(b"guess\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut locked = Client { stream: Client::raw(addr).await, pending: Vec::new(), prompt: String::new() };
    assert!(locked.closed().await.contains("too many wrong tokens from 127.0.0.1"));
    assert_eq!(wrong.closed().await.trim(), "error: wrong token");
    // the second wrong token in a row locks out for twice as long (600 ms)
    let mut again = Client { stream: Client::raw(addr).await, pending: Vec::new(), prompt: String::new() };
    again.read_until("token: ").await;
    again.stream.write_all(b"guess 2\r\n").await.unwrap();
    let started = std::time::Instant::now();
    assert_eq!(again.closed().await.trim(), "error: wrong token");
    assert!(started.elapsed() >= Duration::from_millis(550), "{:?}", started.elapsed());
    // a connection that says nothing is closed after 10 s
    let last = silent.last_mut().unwrap();
    assert!(timeout(Duration::from_secs(12), last.closed()).await.unwrap().contains("no token within 10 s"));
}

#[tokio::test]
async fn nothing_a_client_types_breaks_the_session() {
    let a = instance(19306, |b| b.repl(true)).await;
    let mut c = Client::connect(a.console_addr().unwrap()).await;
    let huge = "emit x ".to_owned() + &"y".repeat(70_000);
    assert!(c.cmd(&huge).await.starts_with("error: line longer than 65536 bytes"));
    assert!(c.cmd("emit \"unclosed").await.starts_with("error: unbalanced quotes"));
    assert!(c.cmd("\u{0}\u{7f}\u{1b}[A").await.starts_with("error: unknown command"));
    c.stream.write_all(b"\xff\xfb\x01\xff\xfd\x03help quit\r\n").await.unwrap(); // telnet negotiation
    let prompt = c.prompt.clone();
    assert!(c.read_until(&prompt).await.contains("close this session"));
    c.stream.write_all(b"\xc3\x28 invalid utf-8\n").await.unwrap();
    assert!(c.read_until(&prompt).await.starts_with("error: unknown command"));
    assert!(c.cmd(r#"emit x '{"$oid": 5}'"#).await.starts_with("error: invalid argument"));
    assert!(c.cmd("").await.is_empty());
    assert!(c.cmd("stats").await.contains("events_out"));
}

#[tokio::test]
async fn the_console_outlives_stop_and_closes_with_the_last_handle() {
    let a = instance(19307, |b| b.repl(true)).await;
    let addr = a.console_addr().unwrap();
    a.stop().await.unwrap();
    let mut c = Client::connect(addr).await;
    assert!(c.cmd("config").await.contains("state                   stopped"));
    drop(a);
    assert_eq!(c.closed().await, "", "the session ends with the instance");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}
