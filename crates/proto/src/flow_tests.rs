//! Flow control and long bursts between two endpoints in simulated time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::payload;
use super::{DeliveryMode, Endpoint, EndpointConfig};

fn event() -> bytes::Bytes {
    let mut out = Vec::new();
    payload::encode("e", &[5, 0, 0, 0, 0], &mut out).unwrap();
    out.into()
}

/// `x` runs its timers and everything it sends reaches `y`.
fn pump(x: &mut Endpoint, y: &mut Endpoint, now: Instant, from: SocketAddr) {
    x.handle_timeout(now);
    while let Some(t) = x.poll_transmit(now) {
        y.handle_datagram(now, from, &t.contents);
    }
}

#[test]
fn a_sender_stays_within_a_window_of_its_receiver_and_a_silent_one_stops_holding_it() {
    let from: SocketAddr = "10.0.0.1:9000".parse().unwrap();
    let config = EndpointConfig::default();
    let window = config.sender.flow_window;
    let (mut a, mut b) = (Endpoint::new(config.clone(), 1), Endpoint::new(config, 2));
    let mut now = Instant::now();
    let mut delivered = 0;
    // Connected: the receiver keeps up and reports; the sender never waits.
    for _ in 0..50 {
        for _ in 0..1000 {
            assert!(a.can_send(now));
            a.send(now, event(), DeliveryMode::Reliable).unwrap();
        }
        pump(&mut a, &mut b, now, from); // the data, as sent
        now += Duration::from_millis(25);
        pump(&mut b, &mut a, now, from); // progress reports
        pump(&mut a, &mut b, now, from); // heartbeats
        while b.poll_event().is_some() {
            delivered += 1;
        }
    }
    assert_eq!(delivered, 50_000, "{:?}", b.stats(now));
    let stats = a.stats(now);
    assert_eq!(stats.flow_control_waits, 0);
    assert!(stats.statuses_received >= 48, "{}", stats.statuses_received);
    // Cut off: nothing reaches the receiver; the sender stops about a window ahead.
    let mut sent = 0u64;
    while a.can_send(now) && sent < 4 * window {
        a.send(now, event(), DeliveryMode::Reliable).unwrap();
        while a.poll_transmit(now).is_some() {}
        sent += 1;
    }
    assert!((window - 1024..=window).contains(&sent), "sent {sent} past the last report");
    assert_eq!(a.stats(now).flow_control_waits, 1);
    let wake = a.poll_timeout().expect("a timer to look again");
    assert!(wake <= now + Duration::from_secs(1));
    // A receiver that reports no progress for a second no longer holds the sender back.
    now += Duration::from_secs(1);
    a.handle_timeout(now);
    assert!(a.can_send(now));
}

#[test]
fn a_tail_loss_longer_than_a_plausible_jump_is_repaired_within_a_few_heartbeats() {
    let from: SocketAddr = "10.0.0.1:9000".parse().unwrap();
    let config = EndpointConfig::default();
    let (mut a, mut b) = (Endpoint::new(config.clone(), 1), Endpoint::new(config, 2));
    let mut now = Instant::now();
    // 12,000 events; the receiver gets the datagrams of the first 2,000 or so, then nothing.
    for _ in 0..12_000 {
        a.send(now, event(), DeliveryMode::Reliable).unwrap();
    }
    let mut delivered = 0;
    let mut n = 0;
    while let Some(t) = a.poll_transmit(now) {
        if n < 40 {
            b.handle_datagram(now, from, &t.contents);
        }
        n += 1;
    }
    while b.poll_event().is_some() {
        delivered += 1;
    }
    assert!((1000..3000).contains(&delivered), "{delivered}");
    // Heartbeats reveal the tail (more than MAX_JUMP events); NACKs and repairs fill it.
    let start = now;
    while delivered < 12_000 && now < start + Duration::from_secs(5) {
        now += Duration::from_millis(5);
        pump(&mut a, &mut b, now, from);
        pump(&mut b, &mut a, now, from);
        pump(&mut a, &mut b, now, from);
        while b.poll_event().is_some() {
            delivered += 1;
        }
    }
    assert_eq!(delivered, 12_000);
    assert!(now - start < Duration::from_millis(200), "took {:?}", now - start);
    assert_eq!(b.stats(now).events_lost, 0);
}
