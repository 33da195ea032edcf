//! How events reach application code, on real sockets on loopback: listeners apart from the
//! protocol driver, backpressure through flow control, subscriptions that end on stop.
//! Each test uses its own port and group.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventcast::{EventStream, Eventcast};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(10);

fn instance(group: &str, port: u16) -> Eventcast {
    Eventcast::builder().group(group).port(port).interface("127.0.0.1").build().unwrap()
}

async fn started(group: &str, port: u16) -> Eventcast {
    let ec = instance(group, port);
    ec.start().await.unwrap();
    ec
}

async fn collect(stream: &mut EventStream, n: usize) -> Vec<u64> {
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        let ev = timeout(WAIT, stream.recv()).await.expect("events keep coming").expect("stream open");
        got.push(ev.arg::<u64>(0).unwrap());
    }
    got
}

/// A listener that blocks its thread for 3 s, on a one-thread runtime: the instance still
/// sends its own events, its receivers get them all, and `stats` answers at once.
#[tokio::test]
async fn a_blocked_listener_does_not_stall_the_instance() {
    let a = started("239.255.11.1", 19201).await;
    let b = started("239.255.11.1", 19201).await;
    let blocked = Arc::new(AtomicBool::new(false));
    let flag = blocked.clone();
    a.on("block", move |_| {
        flag.store(true, Ordering::SeqCst);
        std::thread::sleep(Duration::from_secs(3));
    })
    .unwrap();
    let mut probes = b.subscribe("probe").unwrap();
    b.emit("block", &()).await.unwrap();
    let t0 = Instant::now();
    while !blocked.load(Ordering::SeqCst) {
        assert!(t0.elapsed() < WAIT, "the blocking listener never ran");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Meanwhile: events from b keep arriving (and queue for a's listeners) ...
    for i in 0..100u64 {
        b.emit("noise", &(i,)).await.unwrap();
    }
    // ... and a sends, and answers, while its listener sleeps.
    let t1 = Instant::now();
    for i in 0..200u64 {
        a.emit("probe", &(i,)).await.unwrap();
    }
    let asked = Instant::now();
    timeout(Duration::from_millis(500), a.stats()).await.expect("stats answers at once");
    assert!(asked.elapsed() < Duration::from_millis(500));
    assert_eq!(collect(&mut probes, 200).await, (0..200).collect::<Vec<_>>());
    assert!(t1.elapsed() < Duration::from_secs(2), "sending waited for the listener: {:?}", t1.elapsed());
}

/// A subscription read slowly but steadily holds the sender back through flow control
/// instead of losing events: everything arrives, in order, and the sender waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_reader_slows_the_sender_and_loses_nothing() {
    const N: u64 = 40_000;
    let a = Eventcast::builder()
        .group("239.255.11.2")
        .port(19202)
        .interface("127.0.0.1")
        .stream_capacity(256)
        .build()
        .unwrap();
    let mut slow = a.subscribe("n").unwrap();
    a.start().await.unwrap();
    let b = started("239.255.11.2", 19202).await;
    let sender = tokio::spawn(async move {
        for i in 0..N {
            b.emit("n", &(i,)).await.unwrap();
        }
        b
    });
    let mut next = 0u64;
    while next < N {
        let ev = timeout(WAIT, slow.recv()).await.expect("events keep coming").unwrap();
        assert_eq!(ev.arg::<u64>(0).unwrap(), next, "in order, none missing");
        next += 1;
        if next % 64 == 0 {
            // ~64 events per ms at most: far below the sender's rate
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let b = sender.await.unwrap();
    let (sa, sb) = (a.stats().await, b.stats().await);
    assert_eq!((sa.protocol.events_lost, sa.protocol.dropped.delivery_queue_full), (0, 0));
    assert!(sb.protocol.flow_control_waits > 0, "the sender was never held back: {sb:?}");
}

#[tokio::test]
async fn subscriptions_end_when_the_instance_stops_and_resume_if_asked() {
    let a = instance("239.255.11.3", 19203);
    let mut run = a.subscribe("x").unwrap();
    let mut always = a.subscribe_across_restarts("x").unwrap();
    let mut losses = a.losses();
    a.start().await.unwrap();
    let b = started("239.255.11.3", 19203).await;
    b.emit("x", &(1u64,)).await.unwrap();
    assert_eq!(collect(&mut run, 1).await, [1]);
    assert_eq!(collect(&mut always, 1).await, [1]);
    a.stop().await.unwrap();
    assert!(timeout(Duration::from_secs(1), run.recv()).await.expect("ends at once").is_none());
    assert!(timeout(Duration::from_secs(1), losses.recv()).await.expect("ends at once").is_none());
    assert!(timeout(Duration::from_millis(300), always.recv()).await.is_err(), "still open across the stop");
    a.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.emit("x", &(2u64,)).await.unwrap();
    assert_eq!(collect(&mut always, 1).await, [2]);
    assert!(run.recv().await.is_none(), "an ended subscription stays ended");
    a.stop().await.unwrap();
}

#[test]
fn the_blocking_recv_ends_when_the_instance_stops() {
    let a = eventcast::blocking::Eventcast::builder()
        .interface("127.0.0.1")
        .group("239.255.11.4")
        .port(19204)
        .build()
        .unwrap();
    let mut s = a.subscribe("x").unwrap();
    a.start().unwrap();
    let stopper = a.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        stopper.stop().unwrap();
    });
    let t0 = Instant::now();
    assert!(s.blocking_recv().is_none());
    assert!(t0.elapsed() < Duration::from_secs(3));
    t.join().unwrap();
}

/// A stream nobody reads cannot hold `stop` forever: after the stuck timeout what it did
/// not take is dropped and counted, and the stream ends.
#[tokio::test]
async fn stop_gives_up_on_a_stream_nobody_reads() {
    let a = Eventcast::builder()
        .group("239.255.11.5")
        .port(19205)
        .interface("127.0.0.1")
        .stream_capacity(1)
        .build()
        .unwrap();
    let mut unread = a.subscribe("x").unwrap();
    a.start().await.unwrap();
    let b = started("239.255.11.5", 19205).await;
    for i in 0..10u64 {
        b.emit("x", &(i,)).await.unwrap();
    }
    let t0 = Instant::now();
    while a.stats().await.protocol.events_in < 10 {
        assert!(t0.elapsed() < WAIT);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t1 = Instant::now();
    a.stop().await.unwrap();
    assert!(t1.elapsed() < Duration::from_secs(3), "stop waited {:?}", t1.elapsed());
    assert_eq!(collect(&mut unread, 1).await, [0]);
    let end = timeout(Duration::from_secs(1), unread.recv()).await.expect("the stream ends");
    assert!(end.is_none(), "{:?}", end.map(|e| e.arg::<u64>(0)));
    // every event but the one in the stream is counted as not taken (the dispatcher
    // counts them as it lets go)
    let t2 = Instant::now();
    loop {
        let stats = a.stats().await;
        let counted = stats.stream_dropped + stats.dispatch_abandoned;
        assert!(counted <= 9, "{stats:?}");
        if counted == 9 {
            break;
        }
        assert!(t2.elapsed() < WAIT, "{stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `emit` calls the local listeners before it returns, as the original's does; when they
/// are stuck it stops waiting after the stuck timeout, and the copies still arrive once
/// the listener is back (none was dropped while the hand-over queue had room).
#[tokio::test]
async fn emit_waits_for_local_listeners_but_not_for_stuck_ones() {
    let a = started("239.255.11.6", 19206).await;
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    a.on("tick", move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    a.emit("tick", &()).await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1, "called before emit returned");
    a.on("block", |_| std::thread::sleep(Duration::from_secs(2))).unwrap();
    a.emit("block", &()).await.unwrap();
    let t0 = Instant::now();
    for _ in 0..20 {
        a.emit("tick", &()).await.unwrap();
    }
    assert!(t0.elapsed() < Duration::from_millis(1800), "emit waited for a stuck listener: {:?}", t0.elapsed());
    let t1 = Instant::now();
    while seen.load(Ordering::SeqCst) < 21 {
        assert!(t1.elapsed() < WAIT, "local copies lost: {}", seen.load(Ordering::SeqCst));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(a.stats().await.local_dropped, 0);
}

/// After a quiet spell longer than the stuck timeout (1 s), the next events are not taken
/// for stuck listeners: `emit` still returns after its local listeners ran, and a burst
/// followed by `stop` is delivered in full.
#[tokio::test]
async fn a_quiet_spell_is_not_mistaken_for_stuck_listeners() {
    let a = started("239.255.11.7", 19207).await;
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    a.on("tick", move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    })
    .unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    a.emit("tick", &()).await.unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 1, "emit returned before its local listener ran");
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let mut accepted = 1;
    for _ in 0..2000 {
        accepted += u64::from(a.try_emit("tick", &()).is_ok());
    }
    let before = seen.load(Ordering::SeqCst);
    a.stop().await.unwrap();
    let stats = a.stats().await;
    let after = seen.load(Ordering::SeqCst);
    assert_eq!(stats.dispatch_abandoned, 0, "nothing given up at stop");
    assert_eq!(after + stats.local_dropped, accepted, "every copy delivered or counted (before stop: {before})");
}

/// A listener that emits: its own instance does not wait for itself, the copy reaches the
/// listeners after the current one, and another instance's emit from a listener works too.
#[tokio::test]
async fn a_listener_may_emit() {
    let a = started("239.255.11.8", 19208).await;
    let b = started("239.255.11.8", 19208).await;
    let (a2, b2) = (a.clone(), b.clone());
    a.on("ping", move |ev| {
        let n = ev.arg::<u64>(0).unwrap();
        let (a2, b2) = (a2.clone(), b2.clone());
        tokio::spawn(async move {
            if n < 5 {
                a2.emit("ping", &(n + 1,)).await.unwrap();
            }
            b2.emit("from-b", &(n,)).await.unwrap();
        });
    })
    .unwrap();
    let chain = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = chain.clone();
    let a3 = a.clone();
    a.on("direct", move |ev| {
        log.lock().unwrap().push(ev.arg::<u64>(0).unwrap());
        let n = ev.arg::<u64>(0).unwrap();
        if n < 3 {
            // emitted from the dispatcher thread itself, through the blocking facade
            a3.try_emit("direct", &(n + 1,)).unwrap();
        }
    })
    .unwrap();
    let mut from_b = a.subscribe("from-b").unwrap();
    a.emit("ping", &(0u64,)).await.unwrap();
    let mut got = collect(&mut from_b, 6).await;
    got.sort();
    assert_eq!(got, [0, 1, 2, 3, 4, 5]);
    a.emit("direct", &(0u64,)).await.unwrap();
    let t0 = Instant::now();
    while chain.lock().unwrap().len() < 4 {
        assert!(t0.elapsed() < WAIT, "chain stopped at {:?}", chain.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(*chain.lock().unwrap(), [0, 1, 2, 3]);
    assert_eq!(a.stats().await.local_dropped, 0);
}
