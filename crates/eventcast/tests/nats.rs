//! The NATS transport against a real `nats-server` (the Debian package), started here on a
//! free port of 127.0.0.1 and stopped after each test; unicast peers on loopback; and the
//! errors bad transport settings get. Each test uses its own ports.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use eventcast::Eventcast;

const WAIT: Duration = Duration::from_secs(10);

/// A nats-server of our own; killed when dropped.
struct NatsServer {
    child: Child,
    port: u16,
}

impl NatsServer {
    /// Starts one on `port` (0: a free one), or `None` (saying why) where nats-server is
    /// not installed.
    fn start(port: u16, extra: &[&str]) -> Option<NatsServer> {
        let port = if port == 0 { free_port() } else { port };
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else {
            eprintln!("SKIPPED: nats-server is not installed (apt-get install nats-server)");
            return None;
        };
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(t0.elapsed() < WAIT, "nats-server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(NatsServer { child, port })
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn on_nats(url: &str, group: &str) -> Eventcast {
    Eventcast::builder().group(group).port(19401).interface("127.0.0.1").multicast(false).nats(url).build().unwrap()
}

#[tokio::test]
async fn instances_on_nats_alone_exchange_events() {
    let Some(server) = NatsServer::start(0, &[]) else { return };
    let a = on_nats(&server.url(), "239.255.14.1");
    let b = on_nats(&server.url(), "239.255.14.1");
    let other_group = on_nats(&server.url(), "239.255.14.2");
    let mut got = b.subscribe("n.*").unwrap();
    let mut elsewhere = other_group.subscribe("**").unwrap();
    for ec in [&a, &b, &other_group] {
        ec.start().await.unwrap();
    }
    for i in 0..200u32 {
        a.emit("n.tick", &(i, "x".repeat(3000))).await.unwrap();
    }
    for i in 0..200u32 {
        let ev = tokio::time::timeout(WAIT, got.recv()).await.expect("events over NATS").unwrap();
        assert_eq!(ev.arg::<u32>(0).unwrap(), i);
        assert_eq!(ev.from(), None, "NATS gives no source address");
    }
    let s = a.stats().await;
    assert_eq!(s.nats_connected, 1);
    assert!(s.nats_messages_out >= 200, "{}", s.nats_messages_out);
    assert!(elsewhere.try_recv().is_none(), "another group's subject stays apart");
    // a restart connects anew: not counted as a reconnection
    a.stop().await.unwrap();
    assert_eq!(a.stats().await.nats_connected, 0);
    a.start().await.unwrap();
    let t0 = Instant::now();
    while a.stats().await.nats_connected == 0 {
        assert!(t0.elapsed() < WAIT, "did not connect again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.stats().await.nats_reconnects, 0);
}

#[tokio::test]
async fn an_unreachable_server_is_retried_until_it_comes() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let a = on_nats(&url, "239.255.14.3");
    let t0 = Instant::now();
    a.start().await.expect("starts while NATS is away");
    assert!(t0.elapsed() < Duration::from_secs(5));
    assert_eq!(a.stats().await.nats_connected, 0);
    let Some(_server) = NatsServer::start(port, &[]) else { return };
    let t1 = Instant::now();
    while a.stats().await.nats_connected == 0 {
        assert!(t1.elapsed() < WAIT, "did not connect once the server came");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let b = on_nats(&url, "239.255.14.3");
    let mut got = b.subscribe("late").unwrap();
    b.start().await.unwrap();
    a.emit("late", &("after the server came",)).await.unwrap();
    let ev = tokio::time::timeout(WAIT, got.recv()).await.unwrap().unwrap();
    assert_eq!(ev.arg::<String>(0).unwrap(), "after the server came");
}

#[tokio::test]
async fn bad_transport_settings_get_one_clear_error() {
    // refused credentials: an error at start, naming NATS
    if let Some(server) = NatsServer::start(0, &["--user", "ec", "--pass", "right"]) {
        let wrong = Eventcast::builder()
            .port(19402)
            .interface("127.0.0.1")
            .multicast(false)
            .nats(&server.url())
            .nats_user("ec", "wrong")
            .build()
            .unwrap();
        let err = wrong.start().await.unwrap_err().to_string();
        assert!(err.contains("nats") && err.to_lowercase().contains("authorization"), "{err}");
        let right = Eventcast::builder()
            .port(19402)
            .interface("127.0.0.1")
            .multicast(false)
            .nats(&server.url())
            .nats_user("ec", "right")
            .build()
            .unwrap();
        right.start().await.unwrap();
    }
    let build = |b: eventcast::Builder| b.interface("127.0.0.1").port(19403).build();
    let err = build(Eventcast::builder().nats("nats://[not a url")).unwrap_err().to_string();
    assert!(err.contains("nats") && err.contains("not a url"), "{err}");
    let err = build(Eventcast::builder().multicast(false)).unwrap_err().to_string();
    assert!(err.contains("--peer") && err.contains("--nats"), "{err}");
    let err = build(Eventcast::builder().peer("10.0.0.1")).unwrap_err().to_string();
    assert!(err.contains("10.0.0.1") && err.contains("HOST:PORT"), "{err}");
    let err = build(Eventcast::builder().nats("nats://127.0.0.1:1").nats_subject("a.*")).unwrap_err().to_string();
    assert!(err.contains("nats_subject") && err.contains("a.*"), "{err}");
    // a peer that does not resolve: an error at start, naming it
    let ec = build(Eventcast::builder().peer("no-such-host.invalid:9000")).unwrap();
    let err = ec.start().await.unwrap_err().to_string();
    assert!(err.contains("no-such-host.invalid:9000") && err.contains("resolve"), "{err}");
}

#[tokio::test]
async fn unicast_peers_on_loopback_without_multicast() {
    let peer = |port: u16, to: u16| {
        Eventcast::builder()
            .interface("127.0.0.1")
            .port(port)
            .multicast(false)
            .peer(&format!("127.0.0.1:{to}"))
            .peer(&format!("localhost:{to}"))
            .build()
            .unwrap()
    };
    let (a, b) = (peer(19411, 19412), peer(19412, 19411));
    let mut at_b = b.subscribe("to.b").unwrap();
    let mut at_a = a.subscribe("to.a").unwrap();
    a.start().await.unwrap();
    b.start().await.unwrap();
    a.emit("to.b", &("a to b",)).await.unwrap();
    b.emit("to.a", &("b to a",)).await.unwrap();
    let got = tokio::time::timeout(WAIT, at_b.recv()).await.unwrap().unwrap();
    assert_eq!(got.arg::<String>(0).unwrap(), "a to b");
    assert_eq!(got.from().unwrap().port(), 19411);
    let got = tokio::time::timeout(WAIT, at_a.recv()).await.unwrap().unwrap();
    assert_eq!(got.arg::<String>(0).unwrap(), "b to a");
    let s = a.stats().await;
    assert_eq!(s.peer_addresses, 1, "127.0.0.1 and localhost are one address");
    assert!(s.peer_datagrams_out >= 1 && s.peer_datagrams_in >= 1, "{s:?}");
    assert!(b.stats().await.protocol.dropped.duplicate <= 1);
    // a fresh instance's very first datagrams go out: twenty one-shot senders, no linger
    let mut one_shots = b.subscribe("one.shot").unwrap();
    for i in 0..20u32 {
        let once = peer(19413, 19412);
        once.start().await.unwrap();
        once.emit("one.shot", &(i,)).await.unwrap();
        once.stop().await.unwrap();
        let ev = tokio::time::timeout(WAIT, one_shots.recv()).await.expect("the one event arrives").unwrap();
        assert_eq!(ev.arg::<u32>(0).unwrap(), i);
    }
    assert_eq!(b.stats().await.peer_unknown_source, 0);
    // the peer socket is not an open door: a source that is not a listed peer is dropped
    let stranger = std::net::UdpSocket::bind("127.0.0.2:0").unwrap();
    for _ in 0..3 {
        stranger.send_to(b"not from a peer", "127.0.0.1:19411").unwrap();
    }
    let t0 = Instant::now();
    while a.stats().await.peer_unknown_source < 3 {
        assert!(t0.elapsed() < WAIT, "strangers not counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.stats().await.protocol.dropped.bad_magic, 0, "never reached the protocol");
}

#[tokio::test]
async fn stop_returns_promptly_while_nats_is_down() {
    let Some(server) = NatsServer::start(0, &[]) else { return };
    let a = on_nats(&server.url(), "239.255.14.5");
    a.start().await.unwrap();
    for i in 0..50u32 {
        a.emit("before", &(i,)).await.unwrap();
    }
    drop(server);
    for i in 0..50u32 {
        a.emit("while.down", &(i,)).await.unwrap();
    }
    let t0 = Instant::now();
    a.stop().await.unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "stop took {:?}", t0.elapsed());
    assert_eq!(a.stats().await.nats_connected, 0);
}

#[tokio::test]
async fn a_gateway_must_know_its_lan() {
    let lan = Eventcast::builder().port(19421).build().unwrap().options().clone();
    let wan = eventcast::TransportOptions {
        multicast: false,
        nats: Some(eventcast::NatsOptions::new(["nats://127.0.0.1:1"])),
        ..Default::default()
    };
    let err = eventcast::Gateway::start(eventcast::GatewayOptions::new(lan, wan)).await.unwrap_err().to_string();
    assert!(err.contains("lan_id") && err.contains("interface"), "{err}");
}
