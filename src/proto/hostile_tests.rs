//! Hostile input against the protocol core: edge values in every field of every frame type,
//! and each attack of issue 10 (see docs/SECURITY.md, "Findings fixed"), with the work it
//! causes counted in steps ([`super::work`]) and the memory it holds read from the gauges.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::wire::{self, NACK_WHOLE};
use super::{DeliveryMode, Endpoint, EndpointConfig, payload, work};

const FROM: &str = "10.0.0.9:9000";
const EDGES: [u64; 8] = [0, 1, (1 << 31) - 1, 1 << 31, (1 << 32) - 1, (1 << 63) - 1, 1 << 63, u64::MAX];
const LIVE: u64 = 1;
const RX: u64 = 2;
const HOSTILE: u64 = 77;

fn from() -> SocketAddr {
    FROM.parse().unwrap()
}

fn frame(kind: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![kind, flags];
    f.extend_from_slice(&(body.len() as u16).to_be_bytes());
    f.extend_from_slice(body);
    f
}

fn args() -> Vec<u8> {
    bson::serialize_to_vec(&bson::doc! { "0": 1 }).unwrap()
}

fn event(seq: u64, name: &str) -> Vec<u8> {
    let mut body = seq.to_be_bytes().to_vec();
    payload::encode(name, &args(), &mut body).unwrap();
    frame(wire::TYPE_EVENT, 0, &body)
}

fn fragment(seq: u64, index: u32, count: u32, data: &[u8]) -> Vec<u8> {
    let mut body = seq.to_be_bytes().to_vec();
    body.extend_from_slice(&index.to_be_bytes());
    body.extend_from_slice(&count.to_be_bytes());
    body.extend_from_slice(data);
    frame(wire::TYPE_FRAGMENT, 0, &body)
}

fn pair(kind: u8, a: u64, b: u64) -> Vec<u8> {
    let mut body = a.to_be_bytes().to_vec();
    body.extend_from_slice(&b.to_be_bytes());
    frame(kind, 0, &body)
}

fn nack(target: u64, entries: &[(u64, u32, u32)]) -> Vec<u8> {
    let mut body = target.to_be_bytes().to_vec();
    for (seq, first, end) in entries {
        body.extend_from_slice(&seq.to_be_bytes());
        body.extend_from_slice(&first.to_be_bytes());
        body.extend_from_slice(&end.to_be_bytes());
    }
    frame(wire::TYPE_NACK, 0, &body)
}

fn dgram(sender: u64, frames: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    wire::Datagram::emit_header(&mut d, sender);
    frames.iter().for_each(|f| d.extend_from_slice(f));
    d
}

/// Feeds `d` to `rx` and returns the steps it cost.
fn feed(rx: &mut Endpoint, now: Instant, d: &[u8]) -> u64 {
    work::take();
    rx.handle_datagram(now, from(), d);
    work::take()
}

/// Everything `a` has to send reaches `rx`, and `rx`'s requests reach `a`; timers run.
fn exchange(a: &mut Endpoint, rx: &mut Endpoint, now: Instant) {
    a.handle_timeout(now);
    rx.handle_timeout(now);
    while let Some(t) = a.poll_transmit(now) {
        rx.handle_datagram(now, from(), &t.contents);
    }
    while let Some(t) = rx.poll_transmit(now) {
        a.handle_datagram(now, from(), &t.contents);
    }
}

fn emit(a: &mut Endpoint, now: Instant, name: &str) {
    let mut p = Vec::new();
    payload::encode(name, &args(), &mut p).unwrap();
    a.send(now, Bytes::from(p), DeliveryMode::Reliable).unwrap();
}

fn names(rx: &mut Endpoint, sender: u64) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(d) = rx.poll_event() {
        if d.sender == sender {
            out.push(d.view.name(&d.payload).to_owned());
        }
    }
    out
}

/// Every hostile datagram to try: one frame per type with an edge value in each field.
fn edge_datagrams(sender: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for v in EDGES {
        out.push(dgram(sender, &[event(v, "x")]));
        let mut unordered = event(v, "x");
        unordered[1] = wire::FRAME_UNORDERED;
        out.push(dgram(sender, &[unordered]));
        out.push(dgram(sender, &[fragment(v, 0, 2, b"ab")]));
        let small = v as u32;
        out.push(dgram(sender, &[fragment(3, small, small, b"ab")]));
        out.push(dgram(sender, &[fragment(3, small.saturating_sub(1), small.max(2), b"a")]));
        out.push(dgram(sender, &[pair(wire::TYPE_HEARTBEAT, v, 0)]));
        out.push(dgram(sender, &[pair(wire::TYPE_HEARTBEAT, v, v)]));
        out.push(dgram(sender, &[pair(wire::TYPE_HEARTBEAT, 3, v)]));
        out.push(dgram(sender, &[pair(wire::TYPE_STATUS, LIVE, v)]));
        out.push(dgram(sender, &[pair(wire::TYPE_STATUS, RX, v)]));
        out.push(dgram(sender, &[nack(LIVE, &[(v, 0, NACK_WHOLE), (v, small, small)])]));
        out.push(dgram(sender, &[nack(RX, &[(v, 0, NACK_WHOLE), (3, small, v as u32)])]));
        out.push(dgram(sender, &[nack(v, &[(1, 0, NACK_WHOLE)])]));
    }
    out
}

/// For every edge datagram, from a new sender and from a known one: the work is bounded by
/// its size, a live sender's stream is still delivered whole and in order, and the receiver
/// returns to idle.
#[test]
fn edge_values_in_every_frame_leave_a_live_stream_untouched() {
    let cases = edge_datagrams(HOSTILE);
    for known in [false, true] {
        for (i, hostile) in cases.iter().enumerate() {
            let mut now = Instant::now();
            let (mut a, mut rx) =
                (Endpoint::new(EndpointConfig::default(), LIVE), Endpoint::new(EndpointConfig::default(), RX));
            if known {
                for s in 0..20 {
                    rx.handle_datagram(now, from(), &dgram(HOSTILE, &[event(s, &format!("h{s}"))]));
                    now += Duration::from_millis(10);
                }
            }
            for n in 0..5 {
                emit(&mut a, now, &format!("e{n}"));
            }
            exchange(&mut a, &mut rx, now);
            let steps = feed(&mut rx, now, hostile);
            assert!(steps <= 200 + 8 * hostile.len() as u64, "case {i} (known {known}): {steps} steps");
            for n in 5..50 {
                emit(&mut a, now, &format!("e{n}"));
                now += Duration::from_millis(1);
                exchange(&mut a, &mut rx, now);
            }
            let mut got = names(&mut rx, LIVE);
            for _ in 0..30 {
                now += Duration::from_secs(1);
                exchange(&mut a, &mut rx, now);
                got.extend(names(&mut rx, LIVE));
            }
            let want: Vec<String> = (0..50).map(|n| format!("e{n}")).collect();
            assert_eq!(got, want, "case {i} (known {known})");
            let s = rx.stats(now);
            assert_eq!(
                (s.missing_events, s.held_events, s.reassembly_in_flight, s.events_lost_from(LIVE)),
                (0, 0, 0, 0),
                "case {i} (known {known}) not idle: {s:?}"
            );
        }
    }
}

impl super::Stats {
    fn events_lost_from(&self, sender: u64) -> u64 {
        self.peer_table.iter().find(|p| p.sender == sender).map_or(0, |p| p.events_lost)
    }
}

/// Finding 1: the 32-byte datagram from the report (sequence 2^64−1 from a new sender).
#[test]
fn the_last_sequence_number_is_refused_not_wrapped() {
    let exact: Vec<u8> = [
        &[0x45, 0x43, 0x01, 0x00][..],
        &[0x11; 8],
        &[0x01, 0x00, 0x00, 0x10],
        &[0xff; 8],
        &[0x00, 0x01, 0x78, 0x05, 0x00, 0x00, 0x00, 0x00],
    ]
    .concat();
    assert_eq!(exact.len(), 32);
    for flags in [0, wire::FRAME_UNORDERED] {
        let mut d = exact.clone();
        d[13] = flags;
        let mut rx = Endpoint::new(EndpointConfig::default(), RX);
        let now = Instant::now();
        assert!(feed(&mut rx, now, &d) < 50);
        let s = rx.stats(now);
        assert_eq!((s.dropped.out_of_range, s.peers, s.events_in), (1, 0, 0));
        // the largest valid sequence is delivered, and the stream after it costs nothing
        let last = dgram(0x1111, &[event((1 << 63) - 1, "x")]);
        assert!(feed(&mut rx, now, &last) < 100);
        assert_eq!(rx.stats(now).events_in, 1);
        assert!(rx.poll_timeout().is_some_and(|t| t > now));
    }
}
