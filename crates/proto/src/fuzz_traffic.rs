//! The structure-aware fuzz target `traffic`: the fuzzer's bytes choose a small network of
//! two or three protocol cores and a history for it — emits of every size and mode, time
//! steps, loss, duplication and reordering, restarts, key changes and hostile datagrams
//! mixed into the real traffic — and the harness checks the delivery contract, the memory
//! bounds and the work per datagram after every step.
//!
//! The contract checked: a receiver delivers each sender's reliable events at most once and
//! in order; once the network has healed and time has passed, every reliable event a
//! receiver could have had (from the first it heard of a sender on) was delivered or
//! reported lost. Hostile datagrams never carry a live sender's id in plaintext (plaintext
//! has no integrity: see docs/SECURITY.md) and are sealed with no valid key when the
//! network encrypts.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;

use super::crypto::{Key, Keyring};
use super::{DeliveryMode, Endpoint, EndpointConfig, Sealing, payload, work};

/// One step of a history.
#[derive(Debug, Arbitrary)]
enum Step {
    /// A node emits an event of a size class in a mode.
    Emit { node: u8, size: u8, mode: u8 },
    /// Simulated time passes.
    Wait { millis: u16 },
    /// The network's misbehaviour changes (per mille).
    Impair { loss: u16, duplicate: u16, jitter_us: u16 },
    /// A node restarts: a new sender id, a fresh receiver.
    Restart { node: u8 },
    /// Every node installs a new key and seals with it (sealed networks only).
    Rekey { id: u8 },
    /// A hostile datagram reaches a node.
    Hostile { node: u8, bytes: Vec<u8> },
}

struct Node {
    core: Endpoint,
    /// How often it restarted (its sender id changes with each run).
    restarts: u32,
    /// Whether this receiver ran the whole history (its completeness is checked).
    whole: bool,
}

struct Flight {
    at: Instant,
    to: usize,
    bytes: Vec<u8>,
}

struct Net {
    now: Instant,
    nodes: Vec<Node>,
    config: EndpointConfig,
    ring: Option<Keyring>,
    loss: u32,
    duplicate: u32,
    jitter_us: u64,
    flights: Vec<Flight>,
    rng: u64,
    /// Per receiver, per sender id: the sequences delivered, in order.
    delivered: Vec<HashMap<u64, Vec<u64>>>,
    /// Per receiver, per sender id: sequences reported lost.
    lost: Vec<HashMap<u64, BTreeSet<u64>>>,
    /// Per sender id: reliable sequences emitted.
    emitted: HashMap<u64, Vec<u64>>,
}

const FROM: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 3)), 9000);

impl Net {
    fn id(node: usize, restarts: u32) -> u64 {
        1000 + node as u64 + 16 * u64::from(restarts)
    }

    fn endpoint(&self, node: usize, restarts: u32) -> Endpoint {
        let id = Self::id(node, restarts);
        let sealing = self.ring.clone().map(|keyring| Sealing {
            keyring,
            nonce_base: u128::from(id) << 64,
            wall_clock: (self.now, 1_700_000_000_000),
            freshness: Duration::from_secs(60),
        });
        Endpoint::with_sealing(EndpointConfig { seed: id, ..self.config.clone() }, id, sealing)
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        // xorshift: the network's dice are part of the fuzzer's input (the seed)
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng % 1000) < u64::from(per_mille)
    }

    fn deliver(&mut self, to: usize, bytes: &[u8]) {
        work::take();
        self.nodes[to].core.handle_datagram(self.now, FROM, bytes);
        let steps = work::take();
        // per byte, plus one pass over the window (65,536 sequences, 64 per step, both ways):
        // a bound of the receiver's own size, not of anything the datagram names
        let window_pass = 2 * super::window::WINDOW / 64;
        assert!(
            steps <= 64 + window_pass + 16 * bytes.len() as u64,
            "{steps} steps for a {}-byte datagram",
            bytes.len()
        );
    }

    fn pump(&mut self) {
        for from in 0..self.nodes.len() {
            while let Some(t) = self.nodes[from].core.poll_transmit(self.now) {
                assert!(t.contents.len() <= self.config.max_payload_size, "datagram over max_payload_size");
                for to in 0..self.nodes.len() {
                    if to == from || self.chance(self.loss) {
                        continue;
                    }
                    let copies = if self.chance(self.duplicate) { 2 } else { 1 };
                    for _ in 0..copies {
                        let jitter = if self.jitter_us == 0 { 0 } else { self.rng % self.jitter_us };
                        let at = self.now + Duration::from_micros(100 + jitter);
                        self.flights.push(Flight { at, to, bytes: t.contents.clone() });
                    }
                }
            }
        }
    }

    fn collect(&mut self) {
        for r in 0..self.nodes.len() {
            while let Some(d) = self.nodes[r].core.poll_event() {
                if d.payload.first().is_some_and(|_| d.view.name(&d.payload).starts_with('r')) {
                    self.delivered[r].entry(d.sender).or_default().push(d.seq);
                }
            }
            while let Some(l) = self.nodes[r].core.poll_loss() {
                let set = self.lost[r].entry(l.sender).or_default();
                // a loss report is a range: bounded by the emits, so never huge here
                set.extend(l.first..=l.last.min(l.first + 100_000));
            }
        }
    }

    /// Runs arrivals and timers up to `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.pump();
            let next_flight = self.flights.iter().map(|f| f.at).min();
            let next_timer = self.nodes.iter().filter_map(|n| n.core.poll_timeout()).min();
            let Some(next) = [next_flight, next_timer].into_iter().flatten().min().filter(|t| *t <= until) else {
                self.now = self.now.max(until);
                return;
            };
            self.now = self.now.max(next);
            let (due, rest): (Vec<Flight>, Vec<Flight>) = self.flights.drain(..).partition(|f| f.at <= self.now);
            self.flights = rest;
            for f in due {
                self.deliver(f.to, &f.bytes);
            }
            for n in &mut self.nodes {
                if n.core.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.core.handle_timeout(self.now);
                }
            }
            self.collect();
            self.check_bounds();
        }
    }

    fn check_bounds(&mut self) {
        let now = self.now;
        let r = &self.config.receiver;
        for n in &mut self.nodes {
            let s = n.core.stats(now);
            assert!(s.reassembly_bytes as usize <= r.reassembly.max_bytes, "reassembly {}", s.reassembly_bytes);
            assert!(s.peers as usize <= r.max_senders, "peers {}", s.peers);
            assert!(s.held_bytes as usize <= r.max_held_total_bytes, "held {}", s.held_bytes);
        }
    }

    fn step(&mut self, step: Step) -> Result<()> {
        let n = self.nodes.len();
        match step {
            Step::Emit { node, size, mode } => {
                let node = usize::from(node) % n;
                let mode =
                    [DeliveryMode::Reliable, DeliveryMode::Unordered, DeliveryMode::BestEffort][usize::from(mode % 3)];
                let len = [0usize, 10, 200, 1_500, 20_000][usize::from(size % 5)];
                if !self.nodes[node].core.can_send(self.now) {
                    return Ok(());
                }
                let doc = bson::doc! { "0": bson::Binary { subtype: bson::spec::BinarySubtype::Generic, bytes: vec![7; len] } };
                let mut p = Vec::new();
                let name = if mode == DeliveryMode::Reliable { "r" } else { "u" };
                payload::encode(name, &bson::serialize_to_vec(&doc).unwrap_or_default(), &mut p).unwrap_or_default();
                if let Ok(seq) = self.nodes[node].core.send(self.now, Bytes::from(p), mode) {
                    if mode == DeliveryMode::Reliable {
                        let id = Self::id(node, self.nodes[node].restarts);
                        self.emitted.entry(id).or_default().push(seq);
                    }
                }
            }
            Step::Wait { millis } => {
                let until = self.now + Duration::from_millis(u64::from(millis % 3000));
                self.run_until(until);
            }
            Step::Impair { loss, duplicate, jitter_us } => {
                self.loss = u32::from(loss % 600);
                self.duplicate = u32::from(duplicate % 300);
                self.jitter_us = u64::from(jitter_us % 5000);
            }
            Step::Restart { node } => {
                let node = usize::from(node) % n;
                let restarts = self.nodes[node].restarts + 1;
                self.nodes[node] = Node { core: self.endpoint(node, restarts), restarts, whole: false };
                // a new receiver: what the old one delivered is not its history
                self.delivered[node].clear();
                self.lost[node].clear();
            }
            Step::Rekey { id } => {
                if let Some(ring) = &mut self.ring {
                    let key = Key::from_bytes(id.max(2), &[id; 16]).map_err(|_| arbitrary::Error::IncorrectFormat)?;
                    ring.install(key);
                    let _ = ring.use_key(id.max(2));
                    for node in &mut self.nodes {
                        if let Some(r) = node.core.keyring_mut() {
                            r.install(
                                Key::from_bytes(id.max(2), &[id; 16]).map_err(|_| arbitrary::Error::IncorrectFormat)?,
                            );
                            let _ = r.use_key(id.max(2));
                        }
                    }
                }
            }
            Step::Hostile { node, mut bytes } => {
                let node = usize::from(node) % n;
                if self.ring.is_none() && bytes.len() >= 12 {
                    // never a live sender's id: plaintext cannot tell a forgery from it
                    let id = u64::from_be_bytes(bytes[4..12].try_into().unwrap_or_default());
                    if (1000..1000 + 16 * 64).contains(&id) {
                        bytes[4..12].copy_from_slice(&(id ^ 0x8000_0000_0000_0000).to_be_bytes());
                    }
                }
                self.deliver(node, &bytes);
                self.collect();
            }
        }
        Ok(())
    }

    /// The contract, after the network healed and time passed.
    fn check_contract(&mut self) {
        self.loss = 0;
        self.duplicate = 0;
        let until = self.now + Duration::from_secs(40);
        self.run_until(until);
        for r in 0..self.nodes.len() {
            for (sender, seqs) in self.delivered[r].iter().filter(|(s, _)| self.emitted.contains_key(s)) {
                assert!(
                    seqs.windows(2).all(|w| w[0] < w[1]),
                    "receiver {r}: {sender}'s events out of order or twice: {seqs:?}"
                );
            }
            if !self.nodes[r].whole {
                continue;
            }
            for (sender, emitted) in &self.emitted {
                if Self::id(r, self.nodes[r].restarts) == *sender {
                    continue;
                }
                let got: BTreeSet<u64> = self.delivered[r].get(sender).into_iter().flatten().copied().collect();
                let lost = self.lost[r].get(sender).cloned().unwrap_or_default();
                let Some(first) = got.iter().chain(lost.iter()).min().copied() else { continue };
                // A run that ended (its node restarted) may have emitted events no datagram of
                // which reached this receiver before it died: nobody can know of those. What
                // the receiver did learn of must be delivered or reported.
                let live = (0..self.nodes.len()).any(|k| Self::id(k, self.nodes[k].restarts) == *sender);
                let last = match live {
                    true => u64::MAX,
                    false => got.iter().chain(lost.iter()).max().copied().unwrap_or(0),
                };
                for seq in emitted.iter().filter(|s| **s >= first && **s <= last) {
                    assert!(
                        got.contains(seq) || lost.contains(seq),
                        "receiver {r}: event {seq} of {sender} neither delivered nor reported lost"
                    );
                }
            }
        }
    }
}

/// Runs one fuzzer-chosen history. Panics only if the contract or a bound breaks.
pub fn traffic(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let nodes = 2 + usize::from(u.arbitrary::<bool>()?);
    let max_payload_size = [128usize, 512, 1024, 1400][usize::from(u.arbitrary::<u8>()? % 4)];
    let sealed = u.arbitrary::<bool>()?;
    let mut config = EndpointConfig::new(max_payload_size, Duration::from_secs(3), 1 << 20);
    config.receiver.reassembly.max_bytes = 4 << 20;
    config.receiver.max_held_total_bytes = 2 << 20;
    config.receiver.max_held_bytes = 1 << 20;
    let ring = sealed.then(|| Keyring::new(Key::from_bytes(1, &[1; 16]).expect("16 bytes")));
    let mut net = Net {
        now: Instant::now(),
        nodes: Vec::new(),
        config,
        ring,
        loss: 0,
        duplicate: 0,
        jitter_us: 0,
        flights: Vec::new(),
        rng: u.arbitrary::<u64>()? | 1,
        delivered: vec![HashMap::new(); nodes],
        lost: vec![HashMap::new(); nodes],
        emitted: HashMap::new(),
    };
    for i in 0..nodes {
        let core = net.endpoint(i, 0);
        net.nodes.push(Node { core, restarts: 0, whole: true });
    }
    let mut steps = 0;
    while !u.is_empty() && steps < 64 {
        let step = u.arbitrary::<Step>()?;
        net.step(step)?;
        steps += 1;
    }
    net.check_contract();
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// Every input the `traffic` fuzzer kept stays a regression test.
    #[test]
    fn corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/traffic");
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            // (a fuzzer running beside the tests may remove a file it reduced)
            let Ok(bytes) = std::fs::read(entry.path()) else { continue };
            super::traffic(&bytes);
            replayed += 1;
        }
        assert!(replayed > 0, "no corpus in {}", dir.display());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        /// Random histories keep the contract (the fuzzer explores far more).
        #[test]
        fn random_histories_keep_the_contract(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            super::traffic(&data);
        }
    }
}
