//! A seeded in-memory network that drives several [`Endpoint`]s: loss, duplication and
//! reordering are chosen by a PRNG, and time is simulated, so every run is reproducible.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{Endpoint, EndpointConfig, payload};

struct Net {
    rng: StdRng,
    now: Instant,
    nodes: Vec<Endpoint>,
    /// (arrival time, destination, contents)
    in_flight: Vec<(Instant, usize, Vec<u8>)>,
    loss: f64,
    dup: f64,
    jitter_ms: u64,
}

impl Net {
    fn new(seed: u64, n: usize, config: EndpointConfig) -> Self {
        Net {
            rng: StdRng::seed_from_u64(seed),
            now: Instant::now(),
            nodes: (0..n)
                .map(|i| Endpoint::new(config.clone(), 1000 + i as u64))
                .collect(),
            in_flight: Vec::new(),
            loss: 0.0,
            dup: 0.0,
            jitter_ms: 0,
        }
    }

    fn addr(i: usize) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, i as u8 + 1], 9000))
    }

    /// Moves every queued datagram of node `from` onto the simulated wire.
    fn flush(&mut self, from: usize) {
        while let Some(t) = self.nodes[from].poll_transmit() {
            for to in 0..self.nodes.len() {
                if to == from || self.rng.random_bool(self.loss) {
                    continue;
                }
                let copies = if self.rng.random_bool(self.dup) { 2 } else { 1 };
                for _ in 0..copies {
                    let delay = Duration::from_millis(self.rng.random_range(0..=self.jitter_ms));
                    self.in_flight
                        .push((self.now + delay, to, t.contents.clone()));
                }
            }
        }
    }

    /// Delivers everything that has arrived by `now + step`, in arrival order.
    fn run_for(&mut self, step: Duration) {
        self.now += step;
        self.in_flight.sort_by_key(|(at, ..)| *at);
        let due = self
            .in_flight
            .iter()
            .take_while(|(at, ..)| *at <= self.now)
            .count();
        let batch: Vec<_> = self.in_flight.drain(..due).collect();
        for (at, to, bytes) in batch {
            self.nodes[to].handle_datagram(at, Self::addr(to), &bytes);
        }
        for node in &mut self.nodes {
            if node.poll_timeout().is_some_and(|t| t <= self.now) {
                node.handle_timeout(self.now);
            }
        }
    }

    fn drain_events(&mut self, node: usize) -> Vec<(u64, String, Vec<u8>)> {
        let mut out = Vec::new();
        while let Some(d) = self.nodes[node].poll_event() {
            out.push((
                d.sender,
                d.view.name(&d.payload).to_owned(),
                d.view.args(&d.payload).to_vec(),
            ));
        }
        out
    }
}

fn bson_blob(len: usize, fill: u8) -> Vec<u8> {
    let doc = bson::doc! { "0": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![fill; len] } };
    bson::serialize_to_vec(&doc).unwrap()
}

fn event(name: &str, args: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    payload::encode(name, args, &mut p).unwrap();
    p
}

#[test]
fn reordered_duplicated_traffic_delivers_each_event_once() {
    for seed in 0..20 {
        let mut net = Net::new(seed, 3, EndpointConfig::default());
        net.dup = 0.3;
        net.jitter_ms = 50;
        let mut sent = Vec::new();
        for i in 0..40u8 {
            let args = bson_blob(if i % 10 == 0 { 20_000 } else { 10 }, i);
            net.nodes[0].send(&event(&format!("e{i}"), &args)).unwrap();
            sent.push((format!("e{i}"), args));
            net.flush(0);
            net.run_for(Duration::from_millis(1));
        }
        net.run_for(Duration::from_secs(1));
        for node in 1..3 {
            let mut got: Vec<_> = net
                .drain_events(node)
                .into_iter()
                .map(|(s, n, a)| {
                    assert_eq!(s, 1000);
                    (n, a)
                })
                .collect();
            got.sort();
            let mut want = sent.clone();
            want.sort();
            assert_eq!(got, want, "seed {seed} node {node}");
            assert!(
                net.nodes[node].stats().dropped.duplicate > 0,
                "seed {seed}: duplicates were sent"
            );
            assert_eq!(net.nodes[node].stats().reassembly_in_flight, 0);
        }
    }
}

#[test]
fn small_events_are_packed_into_few_datagrams() {
    let mut net = Net::new(1, 2, EndpointConfig::default());
    for i in 0..100u8 {
        net.nodes[0]
            .send(&event("tick", &bson_blob(20, i)))
            .unwrap();
    }
    // 100 events of ~50 bytes each in 1024-byte datagrams
    let datagrams = {
        let mut n = 0;
        let mut copy = Vec::new();
        while let Some(t) = net.nodes[0].poll_transmit() {
            assert!(t.contents.len() <= 1024);
            n += 1;
            copy.push(t);
        }
        for t in copy {
            net.nodes[1].handle_datagram(net.now, Net::addr(0), &t.contents);
        }
        n
    };
    assert!(datagrams <= 7, "{datagrams} datagrams for 100 small events");
    assert_eq!(net.drain_events(1).len(), 100);
}

#[test]
fn lost_fragment_times_out_and_frees_memory() {
    let mut net = Net::new(7, 2, EndpointConfig::default());
    net.nodes[0]
        .send(&event("big", &bson_blob(50_000, 1)))
        .unwrap();
    let first = net.nodes[0].poll_transmit().unwrap(); // lost
    drop(first);
    net.flush(0);
    net.run_for(Duration::from_millis(10));
    assert!(net.drain_events(1).is_empty());
    assert!(net.nodes[1].stats().reassembly_bytes > 40_000);
    net.run_for(Duration::from_secs(3));
    let s = net.nodes[1].stats();
    assert_eq!(
        (
            s.reassembly_in_flight,
            s.reassembly_bytes,
            s.dropped.reassembly_timeout
        ),
        (0, 0, 1)
    );
}

#[test]
fn random_loss_never_delivers_corrupt_or_duplicate_events() {
    for seed in 0..10 {
        let mut net = Net::new(seed, 4, EndpointConfig::default());
        net.loss = 0.2;
        net.dup = 0.1;
        net.jitter_ms = 5;
        for i in 0..50u8 {
            let args = bson_blob(if i % 5 == 0 { 5_000 } else { 30 }, i);
            net.nodes[(i % 4) as usize]
                .send(&event(&format!("e{i}"), &args))
                .unwrap();
            for n in 0..4 {
                net.flush(n);
            }
            net.run_for(Duration::from_millis(2));
        }
        net.run_for(Duration::from_secs(5));
        for node in 0..4 {
            let got = net.drain_events(node);
            let mut names: Vec<_> = got.iter().map(|(_, n, _)| n.clone()).collect();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), got.len(), "seed {seed}: duplicate delivery");
            for (_, name, args) in got {
                let i: u8 = name[1..].parse().unwrap();
                assert_eq!(args, bson_blob(if i % 5 == 0 { 5_000 } else { 30 }, i));
            }
            assert_eq!(net.nodes[node].stats().reassembly_in_flight, 0);
        }
    }
}

#[test]
fn oversized_send_is_refused() {
    let config = EndpointConfig {
        max_event_size: 1000,
        ..EndpointConfig::default()
    };
    let mut e = Endpoint::new(config, 1);
    let err = e.send(&vec![0; 1001]).unwrap_err();
    assert_eq!(
        err,
        super::SendError::TooLarge {
            size: 1001,
            max: 1000
        }
    );
}
