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

impl super::ProtocolStats {
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

/// Collects what `rx` sends until `now`, as total bytes.
fn drain_bytes(rx: &mut Endpoint, now: Instant) -> usize {
    let mut n = 0;
    while let Some(t) = rx.poll_transmit(now) {
        n += t.contents.len();
    }
    n
}

/// Proves `sender` to `rx` the way an attacker can: 16 datagrams over more than 100 ms.
fn prove(rx: &mut Endpoint, now: &mut Instant, sender: u64) {
    for _ in 0..17 {
        rx.handle_datagram(*now, from(), &dgram(sender, &[pair(wire::TYPE_HEARTBEAT, 1, 0)]));
        *now += Duration::from_millis(10);
    }
}

/// Finding 3: a sparse partial event (even fragments of 2^20) from a made-up sender, kept
/// alive by one fragment every 20 ms, draws a bounded trickle of NACKs, and two 64 KB
/// foreign NACK datagrams about it cost a bounded number of steps.
#[test]
fn a_sparse_partial_event_draws_a_trickle_of_nacks() {
    let mut now = Instant::now();
    let mut rx = Endpoint::new(EndpointConfig::default(), RX);
    prove(&mut rx, &mut now, HOSTILE);
    let count = 1 << 20;
    for chunk in (0..200_000u32).step_by(2).collect::<Vec<_>>().chunks(3000) {
        let frames: Vec<Vec<u8>> = chunk.iter().map(|i| fragment(1, *i, count, b"z")).collect();
        let d = dgram(HOSTILE, &frames);
        let steps = feed(&mut rx, now, &d);
        assert!(steps <= 8 * d.len() as u64, "{steps} steps for {} bytes", d.len());
    }
    rx.handle_datagram(now, from(), &dgram(HOSTILE, &[pair(wire::TYPE_HEARTBEAT, 2, 0)]));
    let mut sent = 0;
    let start = now;
    for k in 0..500u32 {
        now += Duration::from_millis(20);
        rx.handle_datagram(now, from(), &dgram(HOSTILE, &[fragment(1, 200_000 + 2 * k, count, b"z")]));
        rx.handle_timeout(now);
        sent += drain_bytes(&mut rx, now);
    }
    let per_sec = sent as f64 / (now - start).as_secs_f64();
    eprintln!("sparse partial: {per_sec:.0} bytes/s of NACKs");
    assert!(sent > 0, "the gap is still asked for");
    assert!(per_sec < 64_000.0, "{per_sec:.0} bytes/s of NACKs (was ≈75 MB/s)");
    // foreign NACK datagrams listing every hole: O(log n) per entry
    for _ in 0..2 {
        let entries: Vec<(u64, u32, u32)> = (0..4095).map(|i| (1, 2 * i + 1, 2 * i + 2)).collect();
        let d = dgram(55, &[nack(HOSTILE, &entries)]);
        let steps = feed(&mut rx, now, &d);
        assert!(steps <= 4 * d.len() as u64, "{steps} steps for a {} byte NACK", d.len());
    }
}

/// Finding 4: one 60 KB datagram of 3,000 heartbeats, each 4,095 further ahead, after the
/// same sender opened 1,024 best-effort partials: work bounded by the datagram's size.
#[test]
fn a_datagram_of_climbing_heartbeats_costs_steps_in_proportion_to_its_size() {
    let mut now = Instant::now();
    let mut rx = Endpoint::new(EndpointConfig::default(), RX);
    for s in 0..20 {
        rx.handle_datagram(now, from(), &dgram(HOSTILE, &[event(s, "h")]));
        now += Duration::from_millis(10);
    }
    for seq in 0..1024u64 {
        let mut f = fragment(seq, 0, 2, b"zz");
        f[1] = wire::FRAME_UNRELIABLE;
        rx.handle_datagram(now, from(), &dgram(HOSTILE, &[f]));
    }
    let frames: Vec<Vec<u8>> = (1..=3000u64).map(|i| pair(wire::TYPE_HEARTBEAT, 20 + 4095 * i, 0)).collect();
    let d = dgram(HOSTILE, &frames);
    let steps = feed(&mut rx, now, &d);
    eprintln!("heartbeat storm: {steps} steps for {} bytes", d.len());
    assert!(steps <= 16 * d.len() as u64, "{steps} steps for {} bytes", d.len());
    let s = rx.stats(now);
    assert!(s.events_lost > 12_000_000 - 70_000, "gaps beyond the window are given up: {}", s.events_lost);
    let mut reports = 0;
    while rx.poll_loss().is_some() {
        reports += 1;
    }
    assert!(reports <= 3000, "losses are reported as ranges: {reports}");
    let steps = {
        work::take();
        rx.handle_timeout(now + Duration::from_millis(5));
        work::take()
    };
    assert!(steps < 50_000, "the first NACK pass is bounded by its budget: {steps}");
}

/// Finding 5: with the reassembly budget full, each new fragment evicts in O(log n): the
/// steps per datagram do not grow with the number of partial events held.
#[test]
fn eviction_costs_the_same_with_many_partials_held() {
    let steps_with = |senders: u64| {
        let mut config = EndpointConfig::default();
        config.receiver.reassembly.max_bytes = (senders as usize) * 1024 * (1000 + 80) / 2;
        let mut rx = Endpoint::new(config, RX);
        let now = Instant::now();
        let data = vec![7u8; 1000];
        for s in 0..senders {
            for seq in 0..1024u64 {
                rx.handle_datagram(now, from(), &dgram(100 + s, &[fragment(seq, 0, 4, &data)]));
            }
        }
        let mut total = 0;
        for k in 0..10 {
            total += feed(&mut rx, now, &dgram(100, &[fragment(2000 + k, 1, 4, &data)]));
        }
        total
    };
    let (small, large) = (steps_with(2), steps_with(32));
    eprintln!("eviction: {small} steps with 2 senders' partials held, {large} with 32");
    assert!(large <= small + 100, "{small} steps with 2 senders, {large} with 32");
}

/// Finding 7: seventeen forged senders with heartbeats far ahead do not switch off repair
/// for a real sender: its lost event is repaired, not declared lost.
#[test]
fn forged_senders_far_ahead_leave_repair_on_for_everyone() {
    let mut now = Instant::now();
    let (mut a, mut rx) =
        (Endpoint::new(EndpointConfig::default(), LIVE), Endpoint::new(EndpointConfig::default(), RX));
    for n in 0..3 {
        emit(&mut a, now, &format!("e{n}"));
    }
    exchange(&mut a, &mut rx, now);
    for f in 0..17u64 {
        // 16 frames in one datagram no longer prove a sender; 16 datagrams over 100 ms do
        let frames: Vec<Vec<u8>> = (0..16).map(|i| pair(wire::TYPE_HEARTBEAT, 1 + i, 0)).collect();
        rx.handle_datagram(now, from(), &dgram(500 + f, &frames));
    }
    for f in 0..17u64 {
        prove(&mut rx, &mut now, 500 + f);
        for k in 1..=16u64 {
            rx.handle_datagram(now, from(), &dgram(500 + f, &[pair(wire::TYPE_HEARTBEAT, 4095 * k, 0)]));
        }
    }
    // the real sender's next event is lost once, then repaired
    emit(&mut a, now, "e3");
    while a.poll_transmit(now).is_some() {}
    emit(&mut a, now, "e4");
    let mut got = names(&mut rx, LIVE);
    for _ in 0..200 {
        now += Duration::from_millis(5);
        exchange(&mut a, &mut rx, now);
        got.extend(names(&mut rx, LIVE));
    }
    assert_eq!(got, ["e0", "e1", "e2", "e3", "e4"]);
    assert_eq!(rx.stats(now).events_lost_from(LIVE), 0);
}

/// Finding 9: NACKs of a sealed receiver stay within `max_payload_size`, and events held
/// for order by all senders together stay within `max_held_total_bytes`.
#[test]
fn sealed_nacks_fit_and_held_events_have_a_global_cap() {
    use super::crypto::{Key, Keyring};
    let ring = Keyring::new(Key::from_bytes(1, &[9; 16]).unwrap());
    let now = Instant::now();
    let sealing = |id: u64| super::Sealing {
        keyring: ring.clone(),
        nonce_base: u128::from(id) << 70,
        wall_clock: (now, 1_700_000_000_000),
        freshness: Duration::from_secs(60),
    };
    let config = EndpointConfig::default();
    let mut a = Endpoint::with_sealing(config.clone(), LIVE, Some(sealing(LIVE)));
    let mut rx = Endpoint::with_sealing(config.clone(), RX, Some(sealing(RX)));
    // every other datagram is lost, so the receiver asks for ~1,500 events at once
    let mut keep = true;
    for n in 0..3000 {
        emit(&mut a, now, &format!("e{n}"));
        while let Some(t) = a.poll_transmit(now) {
            if keep {
                rx.handle_datagram(now, from(), &t.contents);
            }
            keep = !keep;
        }
    }
    let later = now + Duration::from_millis(30);
    rx.handle_timeout(later);
    let mut nacks = 0;
    while let Some(t) = rx.poll_transmit(later) {
        assert!(t.contents.len() <= config.max_payload_size, "{} bytes", t.contents.len());
        nacks += 1;
    }
    assert!(nacks > 1, "{nacks} NACK datagrams; {:?}", rx.stats(later));

    let mut config = EndpointConfig::default();
    config.receiver.max_held_total_bytes = 100_000;
    let mut rx = Endpoint::new(config, RX);
    for s in 0..8u64 {
        rx.handle_datagram(now, from(), &dgram(300 + s, &[event(0, "first")]));
        for seq in 2..200u64 {
            rx.handle_datagram(now, from(), &dgram(300 + s, &[event(seq, &"n".repeat(200))]));
        }
        let held = rx.stats(now).held_bytes;
        assert!(held <= 100_000, "{held} bytes held");
    }
    // beyond the cap of all senders together, the biggest holder's oldest gap is given up
    assert!(rx.stats(now).held_overflow > 0);
}

fn origin(age_ms: u32) -> Vec<u8> {
    frame(wire::TYPE_ORIGIN, 0, &age_ms.to_be_bytes())
}

/// Runs `rx`'s timers for thirty seconds (past every give-up) and returns the NACKs it sent and the losses it
/// reported.
fn nacks_and_losses(rx: &mut Endpoint, now: Instant) -> (u64, u64) {
    let mut losses = 0;
    for ms in (0..30_000).step_by(50) {
        let t = now + Duration::from_millis(ms);
        rx.handle_timeout(t);
        while rx.poll_transmit(t).is_some() {}
        while let Some(l) = rx.poll_loss() {
            losses += l.last - l.first + 1;
        }
    }
    (rx.stats(now).nacks_sent, losses)
}

#[test]
fn origin_of_an_old_stream_is_joined_live_whatever_its_age() {
    let t0 = Instant::now();
    // ten seconds and beyond (the sender's ORIGIN period), and the largest age (a stream
    // older than 49 days), heard by a receiver up longer than each
    for age in [10_000, 60_000, u32::MAX - 1, u32::MAX] {
        let mut rx = Endpoint::new(EndpointConfig::default(), RX);
        rx.handle_timeout(t0);
        let now = t0 + Duration::from_millis(u64::from(age)) + Duration::from_secs(1);
        feed(&mut rx, now, &dgram(LIVE, &[origin(age), event(500, "e")]));
        assert_eq!(rx.poll_event().map(|d| d.seq), Some(500), "age {age}: delivered at once");
        assert_eq!(nacks_and_losses(&mut rx, now), (0, 0), "age {age}: nothing before 500 is owed");
    }
}

#[test]
fn origin_of_a_young_stream_makes_its_first_events_owed() {
    let t0 = Instant::now();
    let mut rx = Endpoint::new(EndpointConfig::default(), RX);
    rx.handle_timeout(t0);
    let now = t0 + Duration::from_secs(5);
    feed(&mut rx, now, &dgram(LIVE, &[origin(4_000), event(3, "e")]));
    assert!(rx.poll_event().is_none(), "3 waits for 0..=2 (reliable order)");
    let (nacks, losses) = nacks_and_losses(&mut rx, now);
    assert!(nacks > 0, "0..=2 asked for");
    assert_eq!(losses, 3, "never repaired, so reported");
}

#[test]
fn a_forgotten_sender_is_not_restarted_at_zero_by_its_origin() {
    let t0 = Instant::now();
    let mut rx = Endpoint::new(EndpointConfig::default(), RX);
    rx.handle_timeout(t0);
    feed(&mut rx, t0, &dgram(LIVE, &[origin(0), event(0, "e")]));
    assert_eq!(rx.poll_event().map(|d| d.seq), Some(0));
    // silent past the peer timeout: forgotten
    let later = t0 + Duration::from_secs(61);
    rx.handle_timeout(later);
    assert_eq!(rx.stats(later).peers, 0);
    // an ORIGIN still young (a forgery on a plaintext group, or a sender evicted early)
    feed(&mut rx, later, &dgram(LIVE, &[origin(10), event(1, "e")]));
    assert_eq!(rx.poll_event().map(|d| d.seq), Some(1), "joined where it stands");
    assert!(rx.poll_event().is_none(), "event 0 not delivered twice");
    assert_eq!(nacks_and_losses(&mut rx, later), (0, 0));
}

#[test]
fn malformed_origin_frames_are_dropped_and_counted() {
    let now = Instant::now();
    let mut rx = Endpoint::new(EndpointConfig::default(), RX);
    for body in [&[][..], &[0; 3], &[0; 5], &[0xff; 8]] {
        let before = rx.stats(now).dropped.malformed;
        feed(&mut rx, now, &dgram(LIVE, &[frame(wire::TYPE_ORIGIN, 0, body), event(0, "e")]));
        assert_eq!(rx.stats(now).dropped.malformed, before + 1, "ORIGIN body of {} bytes", body.len());
    }
}
