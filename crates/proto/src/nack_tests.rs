//! Simulator tests of how many NACKs repairs cost: gaps found together share a request,
//! and in a larger group the NACK backoff (see `receiver/group.rs`) lets one request spare
//! the others.

use std::time::Duration;

use super::sim::{Impairment, SimNet};
use super::{DeliveryMode, EndpointConfig};

/// One sender, `receivers` receivers that first hear each other for 300 ms without loss,
/// then `events` small events in bursts under `imp`. Returns the NACKs sent by all
/// receivers in the lossy part, after checking that every receiver got every event.
fn nacks_for(seed: u64, receivers: usize, events: usize, imp: Impairment) -> u64 {
    let mut net = SimNet::new(seed, receivers + 1, EndpointConfig::default(), Impairment::default());
    net.emit(0, "warm-up", 10, DeliveryMode::Reliable);
    net.run_for(Duration::from_millis(300));
    let nacks = |net: &mut SimNet| (1..=receivers).map(|n| net.nodes[n].stats(net.now).nacks_sent).sum::<u64>();
    let before = nacks(&mut net);
    net.impairment = imp;
    for i in 0..events {
        net.emit(0, &format!("e{i}"), 100, DeliveryMode::Reliable);
        if i % 64 == 63 {
            net.run_for(Duration::from_micros(100));
        }
    }
    net.run_for(Duration::from_secs(5));
    for n in 1..=receivers {
        assert_eq!(net.seen[n].len(), events + 1, "seed {seed}: receiver {n} got everything");
        assert!(net.lost[n].is_empty());
    }
    nacks(&mut net) - before
}

/// A datagram lost by 10 times as many receivers at once (the sender's uplink) draws far
/// fewer than 10 times the NACKs: the first one heard holds the others back.
#[test]
fn nacks_grow_far_slower_than_the_group() {
    let shared = Impairment { shared_loss: 0.02, ..Impairment::default() };
    let (mut small, mut large) = (0, 0);
    for seed in 1..=3 {
        small += nacks_for(seed, 5, 500, shared.clone());
        large += nacks_for(seed, 50, 500, shared.clone());
    }
    assert!(small > 0, "the loss made some NACKs");
    assert!(large < small * 4, "10× the receivers: {large} NACKs against {small}");
}

/// Gaps a receiver notices while a request to the same sender is pending go out in that
/// request: at 10% loss one receiver sends well under one NACK per lost datagram.
#[test]
fn gaps_found_together_share_a_nack() {
    let lossy = Impairment { loss: 0.1, ..Impairment::default() };
    let mut net_drops = 0;
    let mut nacks = 0;
    for seed in 1..=5 {
        let mut net = SimNet::new(seed, 2, EndpointConfig::default(), lossy.clone());
        for i in 0..300 {
            net.emit(0, &format!("e{i}"), 100, DeliveryMode::Reliable);
            if i % 64 == 63 {
                net.run_for(Duration::from_micros(100));
            }
        }
        net.run_for(Duration::from_secs(5));
        assert_eq!(net.seen[1].len(), 300);
        net_drops += net.dropped;
        nacks += net.nodes[1].stats(net.now).nacks_sent;
    }
    assert!(nacks * 2 < net_drops, "{nacks} NACKs for {net_drops} datagrams lost");
}
