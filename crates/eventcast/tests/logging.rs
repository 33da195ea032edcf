//! Per-component log levels changed at run time, from the API and from the console, seen in
//! the output of the program's own subscriber. One test per binary: it installs the global
//! subscriber.

use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventcast::Eventcast;
use tracing::level_filters::LevelFilter;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn take(&self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut *self.0.lock().unwrap())).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs console commands in one session (prompt off) and returns what it printed.
fn console(addr: std::net::SocketAddr, commands: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(format!("prompt off\n{commands}\nquit\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_change_at_run_time_per_component() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let ec = Eventcast::builder()
        .group("239.255.4.2")
        .port(19311)
        .interface("127.0.0.1")
        .repl(true)
        .log_level(tracing::Level::INFO)
        .build()
        .unwrap();
    ec.on("ping", |_| tracing::info!(target: "my_app", "listener ran")).unwrap();
    ec.start().await.unwrap();
    let addr = ec.console_addr().unwrap();
    let started = captured.take();
    assert!(started.contains("INFO eventcast::repl: console listening"), "{started}");
    assert!(started.contains("INFO eventcast: started"), "{started}");

    // repl at info: no per-command debug lines.
    console(addr, "stats");
    let quiet = captured.take();
    assert!(quiet.contains("console session opened") && !quiet.contains("console command"), "{quiet}");

    // The console turns the repl component up to debug: its commands are logged now.
    let reply = console(addr, "loglevel repl debug\nlisteners");
    assert!(reply.contains("eventcast=info net=info repl=debug"), "{reply}");
    let loud = captured.take();
    assert!(
        loud.contains("DEBUG eventcast::repl: console command") && loud.contains("command=\"listeners\""),
        "{loud}"
    );

    // The session logs its closing just after the client sees it close: let that land.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = captured.take();
    // Everything off from the API: the instance's own lines stop, the program's do not.
    ec.set_log_level(None, LevelFilter::OFF).unwrap();
    console(addr, "stats");
    ec.emit("ping", &()).await.unwrap();
    ec.stop().await.unwrap();
    let off = captured.take();
    assert!(!off.contains("eventcast"), "nothing of ours while off: {off}");
    assert!(off.contains("INFO my_app: listener ran"), "other targets pass: {off}");

    // One component back on.
    ec.set_log_level(Some("eventcast"), LevelFilter::INFO).unwrap();
    ec.start().await.unwrap();
    console(addr, "stats");
    let root_only = captured.take();
    assert!(root_only.contains("INFO eventcast: started"), "{root_only}");
    assert!(!root_only.contains("eventcast::repl"), "{root_only}");
}
