//! Simulator tests of which events a receiver gets (the start point) and of an application
//! that takes nothing for a while (a blocked listener).

use std::time::Duration;

use super::sim::{Impairment, SimNet};
use super::{DeliveryMode, Endpoint, EndpointConfig, StartAt};

const RELIABLE: DeliveryMode = DeliveryMode::Reliable;

fn names(net: &SimNet, node: usize) -> Vec<String> {
    net.seen[node].iter().map(|s| s.name.clone()).collect()
}

fn range(from: usize, to: usize) -> Vec<String> {
    (from..to).map(|i| format!("e{i}")).collect()
}

fn emit_paced(net: &mut SimNet, from: usize, to: usize) {
    for i in from..to {
        net.emit(0, &format!("e{i}"), 10, RELIABLE);
        net.run_for(Duration::from_millis(100));
    }
}

/// A receiver that starts after a sender's events 0–2 were sent gets 3 on, never 0–2 (the
/// old "a sequence below 64 is the start of a stream" rule handed them out).
#[test]
fn a_late_joiner_gets_what_was_sent_after_it_joined_even_early_in_a_stream() {
    let mut net = SimNet::new(1, 2, EndpointConfig::default(), Impairment::default());
    net.drop_next[1] = u32::MAX; // not running yet: hears nothing
    emit_paced(&mut net, 0, 3);
    // it starts now: the first thing it hears is event 3
    net.drop_next[1] = 0;
    net.nodes[1] = Endpoint::new(EndpointConfig::default(), 1001);
    net.nodes[1].handle_start(net.now);
    net.seen[1].clear();
    emit_paced(&mut net, 3, 6);
    net.run_for(Duration::from_secs(1));
    assert_eq!(names(&net, 1), range(3, 6));
    let s = net.nodes[1].stats(net.now);
    assert_eq!((s.nacks_sent, s.events_lost), (0, 0), "no history asked for, none reported lost");
}

/// A receiver killed and restarted at once (a new core) never gets the previous run's
/// events again: 40 events at 10/s, the restart after 22.
#[test]
fn a_restarted_receiver_does_not_get_its_previous_runs_events_again() {
    let mut net = SimNet::new(2, 2, EndpointConfig::default(), Impairment::default());
    emit_paced(&mut net, 0, 22);
    assert_eq!(names(&net, 1), range(0, 22));
    net.nodes[1] = Endpoint::new(EndpointConfig::default(), 1001);
    net.nodes[1].handle_start(net.now);
    net.seen[1].clear();
    emit_paced(&mut net, 22, 40);
    net.run_for(Duration::from_secs(1));
    assert_eq!(names(&net, 1), range(22, 40));
}

/// A receiver that was running when a sender started gets its first events even when the
/// datagrams carrying them are lost: the ORIGIN frame of the next datagram tells it that
/// it was there from the start.
#[test]
fn a_new_senders_lost_first_datagrams_are_still_repaired() {
    for lost_first in 1..=3 {
        let mut net = SimNet::new(3, 2, EndpointConfig::default(), Impairment::default());
        net.run_for(Duration::from_millis(50)); // the receiver runs before the sender sends
        net.drop_next[1] = lost_first;
        emit_paced(&mut net, 0, 5);
        net.run_for(Duration::from_secs(1));
        assert_eq!(names(&net, 1), range(0, 5), "first {lost_first} datagrams lost");
        assert!(net.nodes[1].stats(net.now).gaps_recovered >= 1);
    }
}

/// The same when the sender's first event is large and every datagram of it is lost.
#[test]
fn a_new_senders_lost_first_large_event_is_repaired() {
    let mut net = SimNet::new(4, 2, EndpointConfig::default(), Impairment::default());
    net.run_for(Duration::from_millis(50));
    net.drop_next[1] = 20; // 20 KB in 1 KB datagrams: all of event 0
    net.emit(0, "big", 20_000, RELIABLE);
    net.run_for(Duration::from_millis(1));
    net.emit(0, "after", 10, RELIABLE);
    net.run_for(Duration::from_secs(1));
    assert_eq!(names(&net, 1), ["big", "after"]);
}

/// `StartAt::Oldest`: a late joiner also gets what the sender still holds, and what it no
/// longer holds is skipped without a loss report.
#[test]
fn start_at_oldest_gets_what_the_sender_still_holds() {
    let mut config = EndpointConfig::default();
    config.sender.retransmit_max_events = 10; // holds the last 10 only
    config.sender.retransmit_min_hold = Duration::ZERO;
    let mut net = SimNet::new(5, 2, config.clone(), Impairment::default());
    net.drop_next[1] = u32::MAX; // not running yet
    emit_paced(&mut net, 0, 30);
    net.drop_next[1] = 0;
    let mut oldest = config.clone();
    oldest.receiver.start_at = StartAt::Oldest;
    net.nodes[1] = Endpoint::new(oldest, 1001);
    net.nodes[1].handle_start(net.now);
    net.seen[1].clear();
    net.lost[1].clear();
    emit_paced(&mut net, 30, 32);
    net.run_for(Duration::from_secs(2));
    let got = names(&net, 1);
    assert_eq!(got, range(32 - got.len(), 32), "a contiguous tail, in order");
    assert!(got.len() >= 10, "what the sender held came too: {got:?}");
    assert!(net.lost[1].is_empty(), "history the sender no longer held is not a loss: {:?}", net.lost[1]);
}

/// A receiver whose application takes nothing for 5 s (a blocked listener) costs the other
/// receivers nothing: one at 10% loss is repaired as fast as when nobody is blocked, and
/// the blocked one gets everything, in order, once it takes again. At 10% loss an ordered
/// stream's p99 is set by a few chains of lost repairs, which any change of timing moves
/// around, so the p99s are summed over several seeds.
#[test]
fn a_blocked_application_does_not_slow_repairs_for_the_others() {
    let run = |seed: u64, blocked: bool| {
        let mut config = EndpointConfig::default();
        config.receiver.confirm_taken = true;
        let imp = Impairment { loss: 0.1, ..Impairment::default() };
        let mut net = SimNet::new(seed, 3, config, imp);
        if blocked {
            net.paused_until[1] = Some(net.now + Duration::from_secs(5));
        }
        for i in 0..2_000 {
            net.emit(0, &format!("e{i}"), 100, RELIABLE);
            net.run_for(Duration::from_micros(500));
        }
        net.run_for(Duration::from_secs(6));
        net
    };
    let p99 = |net: &SimNet, node: usize| {
        let mut l: Vec<Duration> = net.seen[node].iter().map(|s| s.latency).collect();
        l.sort();
        l[l.len() * 99 / 100]
    };
    let (mut free_sum, mut blocked_sum) = (Duration::ZERO, Duration::ZERO);
    for seed in 1..=6 {
        let (free, with_blocked) = (run(seed, false), run(seed, true));
        for net in [&free, &with_blocked] {
            assert_eq!(names(net, 2), range(0, 2_000));
            assert_eq!(names(net, 1), range(0, 2_000), "the blocked one gets everything afterwards");
            assert!(net.lost.iter().all(Vec::is_empty));
        }
        assert!(p99(&with_blocked, 1) >= Duration::from_secs(4), "the blocked one really waited");
        free_sum += p99(&free, 2);
        blocked_sum += p99(&with_blocked, 2);
    }
    assert!(
        blocked_sum <= free_sum * 3 / 2 + Duration::from_millis(30),
        "repair latency p99 summed over 6 seeds: {blocked_sum:?} with a blocked receiver, {free_sum:?} without"
    );
}

/// While an application takes nothing, its receiver reports no progress, so a sender that
/// follows flow control is held within its window of it, until the flow timeout lets the
/// sender go on without it.
#[test]
fn an_application_that_takes_nothing_holds_the_sender_back_until_the_flow_timeout() {
    let mut config = EndpointConfig::default();
    config.receiver.confirm_taken = true;
    config.sender.flow_window = 100;
    let mut net = SimNet::new(7, 2, config, Impairment::default());
    // 50 events taken, so that the receiver reports progress; then its application blocks
    let mut sent = 0;
    while sent < 50 {
        net.emit(0, &format!("e{sent}"), 10, RELIABLE);
        sent += 1;
        net.run_for(Duration::from_millis(1));
    }
    net.run_for(Duration::from_millis(50));
    assert_eq!(net.seen[1].len(), 50);
    net.paused_until[1] = Some(net.now + Duration::from_secs(10));
    let start = net.now;
    while net.now < start + Duration::from_millis(500) {
        if net.can_send(0) {
            net.emit(0, &format!("e{sent}"), 10, RELIABLE);
            sent += 1;
        }
        net.run_for(Duration::from_micros(200));
    }
    assert!((150..=170).contains(&sent), "held within the window of what was taken (50): {sent}");
    assert!(net.nodes[0].stats(net.now).flow_control_waits >= 1);
    while net.now < start + Duration::from_millis(2_000) {
        if net.can_send(0) {
            net.emit(0, &format!("e{sent}"), 10, RELIABLE);
            sent += 1;
        }
        net.run_for(Duration::from_micros(200));
    }
    assert!(sent > 1_000, "the flow timeout let the sender go on: {sent}");
}

/// A best-effort flood that the application cannot keep up with fills at most half of the
/// delivery queue, so reliable events of other senders still find room (none reported
/// lost); the best-effort events beyond it are dropped and counted, as best effort allows.
#[test]
fn a_best_effort_flood_cannot_crowd_out_reliable_events() {
    let mut config = EndpointConfig::default();
    config.receiver.confirm_taken = true;
    config.receiver.max_delivery_queue = 100;
    let mut net = SimNet::new(8, 3, config, Impairment::default());
    net.paused_until[1] = Some(net.now + Duration::from_secs(3));
    for i in 0..300 {
        net.emit(0, &format!("b{i}"), 10, DeliveryMode::BestEffort);
        net.run_for(Duration::from_millis(1));
    }
    for i in 0..40 {
        net.emit(2, &format!("r{i}"), 10, RELIABLE);
        net.run_for(Duration::from_millis(1));
    }
    net.run_for(Duration::from_secs(4));
    let reliable: Vec<String> =
        net.seen[1].iter().filter(|s| s.name.starts_with('r')).map(|s| s.name.clone()).collect();
    assert_eq!(reliable, (0..40).map(|i| format!("r{i}")).collect::<Vec<_>>());
    assert!(net.lost[1].is_empty(), "{:?}", net.lost[1]);
    let best_effort = net.seen[1].iter().filter(|s| s.name.starts_with('b')).count();
    assert!(best_effort <= 50, "best effort took {best_effort} of 100 places");
    assert!(net.nodes[1].stats(net.now).dropped.delivery_queue_full >= 250);
}

/// More senders in flight than the receiver's delivery queue holds (4 senders × a window of
/// 60 against a queue of 100) while its application is paused: the events that find the
/// queue full are put off and asked for again once it drains, so every sender's events
/// arrive, in order, and none is reported lost.
#[test]
fn senders_whose_windows_exceed_the_delivery_queue_lose_nothing() {
    let mut config = EndpointConfig::default();
    config.receiver.confirm_taken = true;
    config.receiver.max_delivery_queue = 100;
    config.sender.flow_window = 60;
    let mut net = SimNet::new(9, 5, config, Impairment::default());
    net.paused_until[4] = Some(net.now + Duration::from_millis(300));
    let per_sender = 400;
    let mut sent = [0usize; 4];
    let start = net.now;
    while sent.iter().any(|&n| n < per_sender) && net.now < start + Duration::from_secs(30) {
        for (s, count) in sent.iter_mut().enumerate() {
            if *count < per_sender && net.can_send(s) {
                net.emit(s, &format!("s{s}e{count}"), 10, RELIABLE);
                *count += 1;
            }
        }
        net.run_for(Duration::from_micros(200));
    }
    net.run_for(Duration::from_secs(5));
    assert_eq!(sent, [per_sender; 4]);
    for s in 0..4 {
        let prefix = format!("s{s}e");
        let got: Vec<String> =
            net.seen[4].iter().filter(|e| e.name.starts_with(&prefix)).map(|e| e.name.clone()).collect();
        let want: Vec<String> = (0..per_sender).map(|i| format!("s{s}e{i}")).collect();
        assert_eq!(got, want, "sender {s}: all, in order");
    }
    assert!(net.lost[4].is_empty(), "{:?}", net.lost[4]);
    let stats = net.nodes[4].stats(net.now);
    assert!(stats.delivery_deferred > 0, "the queue was full at some point: {stats:?}");
    assert_eq!(stats.events_lost, 0);
}

/// Large events under loss, with a hold-for-order bound of three events and a repair
/// buffer of sixteen: events completed behind a missing one beyond the bound are put off
/// rather than the missing one given up, and the sender's byte window keeps it from
/// evicting repair copies the receiver still needs. Nothing is lost.
#[test]
fn large_events_past_the_hold_bound_are_put_off_not_lost() {
    let mut config = EndpointConfig::default();
    config.receiver.max_held_bytes = 3 * 65_536;
    config.sender.retransmit_max_bytes = 16 * 70_000;
    config.sender.flow_window_bytes = 8 * 70_000;
    let imp = Impairment { loss: 0.05, ..Impairment::default() };
    let mut net = SimNet::new(11, 2, config, imp);
    let mut sent = 0;
    let start = net.now;
    while sent < 200 && net.now < start + Duration::from_secs(60) {
        if net.can_send(0) {
            net.emit(0, &format!("e{sent}"), 65_536, RELIABLE);
            sent += 1;
        }
        net.run_for(Duration::from_micros(200));
    }
    net.run_for(Duration::from_secs(5));
    assert_eq!(sent, 200);
    assert_eq!(names(&net, 1), range(0, 200));
    assert!(net.lost[1].is_empty(), "{:?}", net.lost[1]);
    let stats = net.nodes[1].stats(net.now);
    assert_eq!(stats.held_overflow, 0);
    assert!(stats.held_bytes <= 3 * 65_536);
    assert!(stats.delivery_deferred > 0, "the hold bound was reached: {stats:?}");
}

/// The byte window follows the receivers that report: one that falls silent stops holding
/// the sender back after the flow timeout, as with the sequence window.
#[test]
fn a_silent_receiver_stops_holding_back_the_byte_window() {
    let mut config = EndpointConfig::default();
    config.receiver.confirm_taken = true;
    config.sender.flow_window_bytes = 4 * 70_000;
    config.sender.flow_timeout = Duration::from_millis(500);
    let mut net = SimNet::new(12, 3, config, Impairment::default());
    for i in 0..5 {
        net.emit(0, &format!("e{i}"), 65_536, RELIABLE);
        net.run_for(Duration::from_millis(5));
    }
    assert_eq!(net.seen[1].len(), 5);
    net.paused_until[1] = Some(net.now + Duration::from_secs(30)); // takes nothing from now on
    let start = net.now;
    let mut sent = 5;
    while net.now < start + Duration::from_millis(300) {
        if net.can_send(0) {
            net.emit(0, &format!("e{sent}"), 65_536, RELIABLE);
            sent += 1;
        }
        net.run_for(Duration::from_millis(1));
    }
    assert!(sent <= 5 + 6, "held within about four events of the silent receiver: {sent}");
    while net.now < start + Duration::from_secs(3) {
        if net.can_send(0) {
            net.emit(0, &format!("e{sent}"), 65_536, RELIABLE);
            sent += 1;
        }
        net.run_for(Duration::from_millis(1));
    }
    assert!(sent > 100, "after the flow timeout the silent receiver no longer holds it: {sent}");
    assert_eq!(net.seen[2].len(), sent, "the other receiver got everything");
}
