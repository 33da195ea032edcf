//! Micro-benchmarks of the protocol core, without sockets: event encoding and decoding,
//! sealing and opening datagrams, packing small events, and segmentation and reassembly of
//! large ones. `cargo bench --bench core`; figures in docs/BENCHMARKS.md.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use eventcast::Event;
use eventcast_proto::crypto::{Key, Keyring, NonceSequence};
use eventcast_proto::{DeliveryMode, Endpoint, EndpointConfig};

const FROM: &str = "127.0.0.1:9000";

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    let args = ("kitchen", 21.5f64, 42u64, "a reading of the kitchen thermometer, sent every second");
    g.bench_function("encode 100 B event", |b| b.iter(|| Event::local("sensor.temp", black_box(&args)).unwrap()));
    let ev = Event::local("sensor.temp", &args).unwrap();
    g.bench_function("decode all arguments", |b| {
        b.iter(|| black_box(&ev).args::<(String, f64, u64, String)>().unwrap())
    });
    g.bench_function("decode one argument (lazy)", |b| b.iter(|| black_box(&ev).arg::<u64>(2).unwrap()));
    g.finish();
}

fn crypto(c: &mut Criterion) {
    let mut g = c.benchmark_group("crypto");
    let ring = Keyring::new(Key::from_bytes(1, &[7; 16]).unwrap());
    let mut nonces = NonceSequence::new(1);
    for size in [128usize, 1024] {
        let plain = vec![0x55u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("seal {size} B"), |b| b.iter(|| ring.seal(black_box(&plain), nonces.next_nonce(), 1)));
        let sealed = ring.seal(&plain, nonces.next_nonce(), 1);
        g.bench_function(format!("open {size} B"), |b| b.iter(|| ring.open(black_box(&sealed)).unwrap()));
    }
    g.finish();
}

/// Every datagram `a` has ready goes to `b`; returns how many events `b` delivered.
fn carry(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> usize {
    let from: SocketAddr = FROM.parse().unwrap();
    while let Some(t) = a.poll_transmit(now) {
        b.handle_datagram(now, from, &t.contents);
    }
    let mut n = 0;
    while b.poll_event().is_some() {
        n += 1;
    }
    n
}

fn core_paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("core");
    let small = Event::local("tick", &(1u64, "x".repeat(80))).unwrap();
    let small = bytes::Bytes::copy_from_slice(small_payload(&small).as_slice());
    const N: usize = 1000;
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("pack, send and receive 1000 small events", |b| {
        let now = Instant::now();
        let (mut a, mut r) = (Endpoint::new(EndpointConfig::default(), 1), Endpoint::new(EndpointConfig::default(), 2));
        b.iter(|| {
            for _ in 0..N {
                a.send(now, small.clone(), DeliveryMode::Reliable).unwrap();
            }
            assert_eq!(carry(&mut a, &mut r, now), N);
        })
    });
    let big = Event::local("blob", &("y".repeat(64 * 1024 - 32),)).unwrap();
    let big = bytes::Bytes::from(small_payload(&big));
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.bench_function("segment and reassemble a 64 KB event", |b| {
        let now = Instant::now();
        let (mut a, mut r) = (Endpoint::new(EndpointConfig::default(), 1), Endpoint::new(EndpointConfig::default(), 2));
        b.iter_batched(
            || big.clone(),
            |payload| {
                a.send(now, payload, DeliveryMode::Unordered).unwrap();
                let n = carry(&mut a, &mut r, now);
                assert_eq!(n, 1, "{:?}", r.stats(now));
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The wire payload of an event (name and arguments), as `emit` hands it to the core.
fn small_payload(ev: &Event) -> Vec<u8> {
    let mut out = Vec::new();
    eventcast_proto::payload::encode(ev.name(), ev.raw_args().unwrap().as_bytes(), &mut out).unwrap();
    out
}

criterion_group!(benches, codec, crypto, core_paths);
criterion_main!(benches);
