//! Unit tests of the spy table: statistics, sorting, filtering, bounds, loss attribution.

use super::*;

fn ev(name: &str, arg: i64) -> Event {
    Event::local(name, &(arg,)).unwrap()
}

fn at(t0: Instant, ms: u64) -> Instant {
    t0 + Duration::from_millis(ms)
}

fn table(limits: Limits) -> (Table, Instant) {
    let t0 = Instant::now();
    (Table::new(limits, Vec::new(), t0), t0)
}

#[test]
fn counts_rates_intervals_and_jitter() {
    let (mut t, t0) = table(Limits::default());
    for i in 0..10 {
        t.record_from(at(t0, i * 100), &ev("a", i as i64), SenderId(1), None);
    }
    let rows = t.rows(at(t0, 1000), "", SortKey::Name, false);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r.count, r.senders, r.lost), (10, 1, 0));
    assert!((r.interval_ms.unwrap() - 100.0).abs() < 1e-6, "{r:?}");
    assert!(r.jitter_ms.unwrap() < 1e-6, "{r:?}");
    assert!((r.rate_hz - 10.0).abs() < 0.01, "{r:?}");
    assert_eq!(r.bytes, 10 * ev("a", 0).encoded_len() as u64);
    // the window slides: 5 s later nothing is in it
    let later = t.rows(at(t0, 6000), "", SortKey::Name, false);
    assert_eq!((later[0].rate_hz, later[0].bytes_per_sec, later[0].count), (0.0, 0.0, 10));
    // irregular intervals have jitter: 100, 300 → mean 200, sample std-dev 141.4
    let (mut t, t0) = table(Limits::default());
    for ms in [0, 100, 400] {
        t.record(at(t0, ms), &ev("b", 1));
    }
    let r = &t.rows(at(t0, 500), "", SortKey::Name, false)[0];
    assert!((r.interval_ms.unwrap() - 200.0).abs() < 1e-6);
    assert!((r.jitter_ms.unwrap() - 141.421).abs() < 0.01, "{r:?}");
    let totals = t.totals(at(t0, 500));
    assert_eq!((totals.events, totals.names, totals.peers), (3, 1, 1));
    assert!((totals.rate_hz - 6.0).abs() < 0.01, "{totals:?}");
}

#[test]
fn sorting_and_reversing() {
    let (mut t, t0) = table(Limits::default());
    for (name, n, senders) in [("b", 3, 1), ("a", 1, 3), ("c", 2, 2)] {
        for i in 0..n {
            t.record_from(at(t0, i * 10), &ev(name, 0), SenderId(i % senders), None);
        }
    }
    let names = |k, rev| t.rows(at(t0, 100), "", k, rev).into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(SortKey::Name, false), ["a", "b", "c"]);
    assert_eq!(names(SortKey::Name, true), ["c", "b", "a"]);
    assert_eq!(names(SortKey::Count, false), ["b", "c", "a"]);
    assert_eq!(names(SortKey::Count, true), ["a", "c", "b"]);
    assert_eq!(names(SortKey::Senders, false), ["c", "a", "b"]);
    // no interval yet ("a": one event) sorts last
    assert_eq!(names(SortKey::Interval, false)[2], "a");
    assert_eq!(SortKey::Lost.cycle(true), SortKey::Name);
    assert_eq!(SortKey::Name.cycle(false), SortKey::Lost);
    assert_eq!(SortKey::ALL[SortKey::Rate.index()], SortKey::Rate);
}

#[test]
fn filters_and_patterns() {
    let t0 = Instant::now();
    let patterns = vec![Pattern::new("sensor.*").unwrap()];
    let mut t = Table::new(Limits::default(), patterns, t0);
    for name in ["sensor.Temp", "sensor.humidity", "other"] {
        t.record(t0, &ev(name, 1));
    }
    let names = |f| t.rows(t0, f, SortKey::Name, false).into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(names(""), ["sensor.Temp", "sensor.humidity"]);
    assert_eq!(names("TEMP"), ["sensor.Temp"]);
    assert!(names("zzz").is_empty());
    assert_eq!(t.totals(t0).events, 2, "names outside the patterns are not counted");
}

#[test]
fn bounds_hold() {
    let limits = Limits { names: 2, senders: 2, args_bytes: 64, ..Limits::default() };
    let (mut t, t0) = table(limits);
    for name in ["a", "b", "c", "d"] {
        t.record(t0, &ev(name, 1));
    }
    let totals = t.totals(t0);
    assert_eq!((totals.names, totals.events, totals.untracked_events), (2, 4, 2));
    for s in 0..5 {
        t.record_from(t0, &ev("a", 1), SenderId(100 + s), None);
    }
    assert_eq!(t.senders("a").len(), 2);
    assert!(t.totals(t0).untracked_senders >= 3);
    // big arguments: cut to the byte limit, and the event rendered at once
    let big = Event::local("a", &("x".repeat(10_000),)).unwrap();
    t.record(t0, &big);
    let args = t.last_args("a").unwrap();
    assert!(args.len() <= 64 && args.ends_with('…'), "{args}");
    assert!(t.last_event("a").unwrap().len() <= 64);
    // small ones are kept whole
    t.record(t0, &ev("a", 7));
    assert_eq!(t.last_args("a").unwrap(), "[7]");
    assert!(t.last_event("a").unwrap().contains("\"seq\""));
    // many events: the windows stay the same size
    for i in 0..100_000u64 {
        t.record(at(t0, i), &ev("b", 1));
    }
    assert_eq!(t.totals(at(t0, 100_000)).names, 2);
    assert_eq!(cut("héllo".into(), 4), "h…");
    assert_eq!(cut("ok".into(), 4), "ok");
}

#[test]
fn losses_go_to_the_names_of_their_sender() {
    let (mut t, t0) = table(Limits::default());
    t.record_from(t0, &ev("a", 1), SenderId(1), None);
    t.record_from(t0, &ev("b", 1), SenderId(1), None);
    t.record_from(t0, &ev("c", 1), SenderId(2), None);
    t.record_loss(&Loss { sender: SenderId(1), first: 5, last: 7 });
    t.record_loss(&Loss { sender: SenderId(9), first: 1, last: 1 });
    let lost = |n: &str| t.rows(t0, n, SortKey::Name, false)[0].lost;
    assert_eq!((lost("a"), lost("b"), lost("c")), (3, 3, 0));
    assert_eq!(t.totals(t0).lost, 4);
    assert_eq!(t.senders("a")[0].lost, 3);
    assert_eq!(t.rows(t0, "", SortKey::Lost, false)[2].name, "c");
}

#[test]
fn hostile_names_and_args_do_not_panic() {
    let (mut t, t0) = table(Limits::default());
    let name = format!("\u{1b}[2J\u{7}{}\u{202e}", "é".repeat(400));
    t.record(t0, &Event::local(&name, &("\u{0}\u{1b}]0;x\u{7}", f64::NAN)).unwrap());
    assert!(t.last_args(&name).unwrap().contains("\\u001b"));
    assert_eq!(t.rows(t0, "É", SortKey::Name, false).len(), 1);
    assert!(t.last_event("missing").is_none());
}

#[test]
fn sender_rows_are_bounded_over_all_names_and_losses_visit_only_their_senders_names() {
    // an attacker spoofing many senders on many names: the rows stop at the table-wide cap
    let limits = Limits { names: 100, senders: 100, sender_rows: 250, ..Limits::default() };
    let (mut t, t0) = table(limits);
    for n in 0..100 {
        for s in 0..100u64 {
            t.record_from(t0, &ev(&format!("n{n}"), 1), SenderId(s), None);
        }
    }
    assert_eq!(t.sender_rows, 250);
    assert_eq!(t.names_of.values().map(Vec::len).sum::<usize>(), 250);
    assert!(t.totals(t0).untracked_senders >= 10_000 - 250);
    // a loss of sender 0 reaches the names it sent, nothing else; huge counts saturate
    t.record_loss(&Loss { sender: SenderId(0), first: 0, last: u64::MAX });
    t.record_loss(&Loss { sender: SenderId(0), first: 0, last: u64::MAX });
    assert_eq!(t.totals(t0).lost, u64::MAX);
    let lost_rows = t.rows(t0, "", SortKey::Name, false).iter().filter(|r| r.lost > 0).count();
    assert_eq!(lost_rows, 3); // sender 0 reached n0, n1, n2 before the cap
}
