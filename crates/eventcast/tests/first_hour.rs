//! What a newcomer writes after the quickstart, on loopback: the blocking facade with every
//! setter and method of the async one, subscriptions read with a timeout or as a `Stream`.
//! Each test uses its own port and group.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use eventcast::{DeliveryMode, State};

const WAIT: Duration = Duration::from_secs(10);

fn blocking(port: u16) -> eventcast::blocking::Eventcast {
    eventcast::blocking::Eventcast::builder()
        .group("239.255.12.1")
        .port(port)
        .interface("127.0.0.1")
        .stream_capacity(64)
        .build()
        .unwrap()
}

#[test]
fn the_blocking_facade_has_the_async_surface() {
    let a = blocking(19301);
    let b = blocking(19301);
    assert_eq!(a.options().port, 19301);
    assert_eq!(a.state(), State::Stopped);
    let mut pings = b.subscribe("ping").unwrap();
    let mut losses = b.losses();
    let any = Arc::new(AtomicU64::new(0));
    let counter = any.clone();
    b.on_any(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    b.on_loss(|_| {});
    a.start().unwrap();
    b.start().unwrap();
    assert!(a.is_running() && matches!(a.state(), State::Running { .. }));
    assert!(a.local_addr().is_some());
    assert_eq!(pings.recv_timeout(Duration::from_millis(50)).unwrap_err(), RecvTimeoutError::Timeout);
    a.emit("ping", &(1,)).unwrap();
    a.emit_with("ping", &(2,), DeliveryMode::BestEffort).unwrap();
    a.emit_bson("ping", vec![eventcast::bson::Bson::Int32(3)]).unwrap();
    a.try_emit("ping", &(4,)).unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        got.push(pings.recv_timeout(WAIT).expect("four pings").arg::<i32>(0).unwrap());
    }
    got.sort();
    assert_eq!(got, [1, 2, 3, 4]);
    assert!(b.event_names().contains(&"ping".to_owned()));
    assert_eq!(b.listener_count("ping"), 2, "the subscription and on_any");
    b.stop().unwrap();
    assert_eq!(pings.recv_timeout(WAIT).unwrap_err(), RecvTimeoutError::Disconnected, "ends on stop");
    assert!(losses.blocking_recv().is_none(), "the loss stream ends on stop too");
    assert_eq!(any.load(Ordering::SeqCst), 4);
    assert!(format!("{pings:?}").contains("ended: true"), "{pings:?}");
    a.stop().unwrap();
}

#[test]
fn recv_timeout_waits_no_longer_than_asked_and_wakes_on_arrival() {
    let a = blocking(19302);
    let b = blocking(19302);
    let mut s = b.subscribe("late").unwrap();
    a.start().unwrap();
    b.start().unwrap();
    let t0 = Instant::now();
    assert_eq!(s.recv_timeout(Duration::from_millis(200)).unwrap_err(), RecvTimeoutError::Timeout);
    assert!(t0.elapsed() >= Duration::from_millis(200));
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        a.emit("late", &("x",)).unwrap();
        a
    });
    let t1 = Instant::now();
    let ev = s.recv_timeout(WAIT).expect("arrives");
    assert!(t1.elapsed() < WAIT, "woken by the arrival, not by the timeout");
    assert_eq!(ev.arg::<String>(0).unwrap(), "x");
    sender.join().unwrap().stop().unwrap();
    b.stop().unwrap();
}

#[tokio::test]
async fn a_subscription_is_a_stream() {
    use tokio_stream::StreamExt;
    let a = eventcast::Eventcast::builder().group("239.255.12.3").port(19303).interface("127.0.0.1").build().unwrap();
    let b = eventcast::Eventcast::builder().group("239.255.12.3").port(19303).interface("127.0.0.1").build().unwrap();
    let s = b.subscribe("n").unwrap();
    a.start().await.unwrap();
    b.start().await.unwrap();
    for i in 0..10u32 {
        a.emit("n", &(i,)).await.unwrap();
    }
    let evens: Vec<u32> =
        tokio::time::timeout(WAIT, s.map(|ev| ev.arg::<u32>(0).unwrap()).filter(|n| n % 2 == 0).take(5).collect())
            .await
            .unwrap();
    assert_eq!(evens, [0, 2, 4, 6, 8]);
}
