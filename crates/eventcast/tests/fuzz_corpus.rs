//! Replays the committed fuzzing corpora (`fuzz/corpus/<target>/`) through the same entry
//! points the fuzz targets use, so every input a fuzzer ever kept stays a regression test.
//! `cargo test --test fuzz_corpus -- --ignored write_seed_corpus` rewrites the seed files.

use std::path::Path;
use std::time::Instant;

use eventcast_proto::crypto::{Key, Keyring};
use eventcast_proto::fuzz_entry::{self, FUZZ_KEY};
use eventcast_proto::{DeliveryMode, Endpoint, EndpointConfig, Sealing, payload};

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        n += 1;
    }
    n
}

#[test]
fn datagram_corpus() {
    assert!(replay("datagram", fuzz_entry::datagram) > 0);
}

#[test]
fn args_corpus() {
    assert!(replay("args", eventcast::fuzz_args) > 0);
}

#[test]
fn sealed_corpus() {
    assert!(replay("sealed", fuzz_entry::sealed) > 0);
}

#[test]
fn console_corpus() {
    assert!(replay("console", eventcast::console::fuzz_line) > 0);
}

#[test]
fn reassembly_corpus() {
    assert!(replay("reassembly", fuzz_entry::reassembly) > 0);
}

/// Valid traffic to start the fuzzers from: small, packed, fragmented, control frames.
fn seed_traffic(sealing: Option<Sealing>) -> Vec<Vec<u8>> {
    let now = Instant::now();
    let mut a = Endpoint::with_sealing(EndpointConfig::default(), 7, sealing);
    let mut out = Vec::new();
    for (i, size) in [5usize, 40, 3000].into_iter().enumerate() {
        let doc = eventcast::bson::doc! { "0": "x".repeat(size), "1": i as i32 };
        let mut p = Vec::new();
        payload::encode(&format!("seed.{i}"), &eventcast::bson::serialize_to_vec(&doc).unwrap(), &mut p).unwrap();
        a.send(now, p.into(), DeliveryMode::Reliable).unwrap();
    }
    a.handle_timeout(now + std::time::Duration::from_millis(10)); // a heartbeat
    while let Some(t) = a.poll_transmit(now) {
        out.push(t.contents);
    }
    out
}

#[test]
#[ignore = "writes fuzz/corpus seeds; run by hand"]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let write = |target: &str, items: Vec<Vec<u8>>| {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, item) in items.into_iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), item).unwrap();
        }
    };
    // the datagram target reads length-prefixed datagrams: all of them in one input, and each
    let framed = |ds: &[Vec<u8>]| -> Vec<u8> {
        ds.iter().flat_map(|d| [&(d.len() as u16).to_le_bytes()[..], d].concat()).collect()
    };
    let plain = seed_traffic(None);
    let mut seeds: Vec<Vec<u8>> = plain.iter().map(|d| framed(std::slice::from_ref(d))).collect();
    seeds.push(framed(&plain));
    write("datagram", seeds);
    let deep = (0..70).fold(eventcast::bson::doc! {}, |d, _| eventcast::bson::doc! { "0": d });
    write(
        "args",
        vec![
            eventcast::bson::serialize_to_vec(&eventcast::bson::doc! { "0": 1, "1": [1, "x", { "a": null }] }).unwrap(),
            eventcast::bson::serialize_to_vec(&deep).unwrap(),
        ],
    );
    write("traffic", vec![vec![1, 2, 0, 7, 7, 7, 7, 7, 7, 7, 7, 0, 0, 0, 1, 0, 4, 2, 1, 0, 0, 1, 50, 0, 0, 0]]);
    let sealing = Sealing {
        keyring: Keyring::new(Key::from_bytes(1, &FUZZ_KEY).unwrap()),
        nonce_base: 99,
        wall_clock: (Instant::now(), 1_700_000_000_000),
        freshness: std::time::Duration::from_secs(60),
    };
    write("sealed", seed_traffic(Some(sealing)));
    write("reassembly", vec![vec![1, 2, 3, 0, 0, 0, 100, 0, 1, 7, 0, 0, 1, 2, 3, 0, 1, 0, 100, 0, 1, 7, 0, 0]]);
}
