//! A seeded, simulated LAN for the protocol core: several [`Endpoint`]s exchange datagrams
//! through a network that loses (at random or in bursts), duplicates, delays and reorders
//! them, in simulated time. Same seed, same run. The tests and the reliability report
//! (`cargo run --release --example reliability`) are built on it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{DeliveryMode, Endpoint, EndpointConfig, payload};

/// How the simulated network misbehaves. Loss applies to each receiver's input separately,
/// as a packet filter on every host would.
#[derive(Debug, Clone, PartialEq)]
pub struct Impairment {
    /// Probability that a datagram is lost on its way into a host.
    pub loss: f64,
    /// Probability that a datagram is lost on its way out of its sender, before the network
    /// copies it to anyone (a congested uplink: every receiver misses it together).
    pub shared_loss: f64,
    /// Gilbert–Elliott bursts: probability of entering a burst per datagram, and of leaving
    /// it; inside a burst every datagram is lost. `None` for independent loss only.
    pub burst: Option<(f64, f64)>,
    /// Probability that a datagram arrives twice.
    pub duplicate: f64,
    /// Every datagram takes `base_delay` plus up to `jitter` more, so jitter reorders.
    pub base_delay: Duration,
    /// See `base_delay`.
    pub jitter: Duration,
}

impl Default for Impairment {
    fn default() -> Self {
        Impairment {
            loss: 0.0,
            shared_loss: 0.0,
            burst: None,
            duplicate: 0.0,
            base_delay: Duration::from_micros(100),
            jitter: Duration::ZERO,
        }
    }
}

/// One delivered event as a node saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Sending node's index.
    pub from_node: usize,
    /// Event name.
    pub name: String,
    /// Simulated time from the emit to the delivery.
    pub latency: Duration,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    order: u64,
    to: usize,
    bytes: Vec<u8>,
}

/// The simulated network and its nodes.
pub struct SimNet {
    rng: StdRng,
    /// Simulated now.
    pub now: Instant,
    /// The nodes' protocol cores.
    pub nodes: Vec<Endpoint>,
    /// What the network does to datagrams; may change mid-run (a warm-up without loss, say).
    pub impairment: Impairment,
    in_burst: Vec<bool>,
    queue: BinaryHeap<Reverse<InFlight>>,
    order: u64,
    sent_at: HashMap<(usize, String), Instant>,
    /// What each node delivered, in order.
    pub seen: Vec<Vec<Seen>>,
    /// Loss reports each node raised, as (sending node, count).
    pub lost: Vec<Vec<(usize, u64)>>,
    /// Datagrams the network dropped.
    pub dropped: u64,
    /// Datagrams the network carried (each copy to each receiver counts).
    pub carried: u64,
    /// Per node: its application takes no event before this (a blocked listener); the
    /// events wait in its core, and its progress reports say so.
    pub paused_until: Vec<Option<Instant>>,
    /// Per node: how many of the next datagrams to it the network drops.
    pub drop_next: Vec<u32>,
}

impl SimNet {
    /// `n` nodes with `config`, on a network with `impairment`, everything drawn from `seed`.
    pub fn new(seed: u64, n: usize, config: EndpointConfig, impairment: Impairment) -> Self {
        let start = Instant::now();
        SimNet {
            rng: StdRng::seed_from_u64(seed),
            now: start,
            nodes: (0..n)
                .map(|i| {
                    let mut node = Endpoint::new(
                        EndpointConfig { seed: seed.wrapping_add(i as u64), ..config.clone() },
                        1000 + i as u64,
                    );
                    node.handle_start(start);
                    node
                })
                .collect(),
            impairment,
            in_burst: vec![false; n],
            queue: BinaryHeap::new(),
            order: 0,
            sent_at: HashMap::new(),
            seen: vec![Vec::new(); n],
            lost: vec![Vec::new(); n],
            dropped: 0,
            carried: 0,
            paused_until: vec![None; n],
            drop_next: vec![0; n],
        }
    }

    fn addr(i: usize) -> SocketAddr {
        let i = i + 1; // 10.0.0.1, 10.0.0.2, …: distinct for 65,535 nodes
        SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 9000))
    }

    /// Node `node` emits an event called `name` (unique per node, so delivery can be
    /// checked) with a BSON binary argument of `size` bytes.
    pub fn emit(&mut self, node: usize, name: &str, size: usize, mode: DeliveryMode) {
        let doc = bson::doc! { "0": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![node as u8; size] } };
        let mut p = Vec::new();
        payload::encode(name, &bson::serialize_to_vec(&doc).unwrap_or_default(), &mut p).unwrap_or_default();
        self.sent_at.insert((node, name.to_owned()), self.now);
        let now = self.now;
        let _ = self.nodes[node].send(now, Bytes::from(p), mode);
        self.pump(node);
    }

    /// Whether node `node` may send now (its retransmit buffer and queue have room).
    pub fn can_send(&mut self, node: usize) -> bool {
        let now = self.now;
        self.nodes[node].can_send(now)
    }

    /// Moves node `node`'s ready datagrams onto the wire, impaired per receiver.
    fn pump(&mut self, node: usize) {
        while let Some(t) = self.nodes[node].poll_transmit(self.now) {
            if self.impairment.shared_loss > 0.0 && self.rng.random_bool(self.impairment.shared_loss) {
                // lost before the fan-out: counted once per receiver that misses it
                self.dropped += self.nodes.len() as u64 - 1;
                continue;
            }
            for to in 0..self.nodes.len() {
                if to != node {
                    self.carry(to, &t.contents);
                }
            }
        }
    }

    fn carry(&mut self, to: usize, bytes: &[u8]) {
        let imp = &self.impairment;
        if let Some((enter, leave)) = imp.burst {
            let flip = if self.in_burst[to] { leave } else { enter };
            if self.rng.random_bool(flip) {
                self.in_burst[to] = !self.in_burst[to];
            }
        }
        if self.drop_next[to] > 0 {
            self.drop_next[to] -= 1;
            self.dropped += 1;
            return;
        }
        if self.in_burst[to] || self.rng.random_bool(imp.loss) {
            self.dropped += 1;
            return;
        }
        let copies = if self.rng.random_bool(imp.duplicate) { 2 } else { 1 };
        for _ in 0..copies {
            let jitter = imp.jitter.as_micros() as u64;
            let extra = if jitter == 0 { 0 } else { self.rng.random_range(0..=jitter) };
            let at = self.now + imp.base_delay + Duration::from_micros(extra);
            self.order += 1;
            self.carried += 1;
            self.queue.push(Reverse(InFlight { at, order: self.order, to, bytes: bytes.to_vec() }));
        }
    }

    /// Runs the network and the nodes' timers until `until`.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            let next_arrival = self.queue.peek().map(|Reverse(f)| f.at);
            let next_timer = self.nodes.iter().filter_map(Endpoint::poll_timeout).min();
            let unpause = self.paused_until.iter().flatten().filter(|&&t| t > self.now).min().copied();
            let next = [next_arrival, next_timer, unpause].into_iter().flatten().min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.step();
                }
                _ => {
                    self.now = self.now.max(until);
                    return;
                }
            }
        }
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn step(&mut self) {
        let now = self.now;
        while let Some(Reverse(f)) = self.queue.peek() {
            if f.at > now {
                break;
            }
            let Some(Reverse(f)) = self.queue.pop() else {
                break;
            };
            self.nodes[f.to].handle_datagram(now, Self::addr(f.to), &f.bytes);
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[i].handle_timeout(now);
            }
            self.collect(i);
            self.pump(i);
        }
    }

    fn collect(&mut self, i: usize) {
        if self.paused_until[i].is_some_and(|t| t > self.now) {
            return;
        }
        let now = self.now;
        while let Some(d) = self.nodes[i].poll_event() {
            if d.reliable {
                self.nodes[i].handle_taken(now, [super::Taken { sender: d.sender, last_seq: d.seq, count: 1 }]);
            }
            let from_node = (d.sender - 1000) as usize;
            let name = d.view.name(&d.payload).to_owned();
            let sent = self.sent_at.get(&(from_node, name.clone())).copied().unwrap_or(self.now);
            self.seen[i].push(Seen { from_node, name, latency: self.now.saturating_duration_since(sent) });
        }
        while let Some(l) = self.nodes[i].poll_loss() {
            self.lost[i].push(((l.sender - 1000) as usize, l.count()));
        }
    }
}
