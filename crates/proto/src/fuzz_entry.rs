//! Entry points shared by the fuzz targets (`fuzz/`) and the corpus regression test
//! (`tests/fuzz_corpus.rs`): each takes arbitrary bytes, drives the core with them, and
//! panics only if an invariant breaks.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::crypto::{Key, Keyring};
use super::reassembly::{Reassembler, ReassemblyLimits};
use super::{Endpoint, EndpointConfig, ProtocolStats, Sealing};

const FROM: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)), 9000);

/// The key the `sealed` target and its seed corpus use.
pub const FUZZ_KEY: [u8; 16] = [0x42; 16];

fn drain(e: &mut Endpoint, now: Instant) {
    e.handle_timeout(now + Duration::from_secs(5));
    while e.poll_event().is_some() {}
    while e.poll_loss().is_some() {}
    while e.poll_transmit(now).is_some() {}
    let s = e.stats(now);
    assert!(s.reassembly_bytes <= 64 << 20 && s.peers <= 1024, "bounds broken: {s:?}");
}

/// Splits `data` into datagrams: each is a 2-byte little-endian length and that many bytes
/// (the last takes what is left), so every byte value can appear in a datagram and every
/// sequence of datagrams can be produced.
pub fn framed(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 && out.len() < 64 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let body = &rest[2..];
        let take = len.min(body.len());
        out.push(&body[..take]);
        rest = &body[take..];
    }
    out
}

/// Length-prefixed datagrams ([`framed`]) for a plaintext core, a millisecond apart.
pub fn datagram(data: &[u8]) {
    let t0 = Instant::now();
    let mut e = Endpoint::new(EndpointConfig::default(), 1);
    let mut now = t0;
    for d in framed(data) {
        e.handle_datagram(now, FROM, d);
        e.handle_timeout(now);
        while e.poll_transmit(now).is_some() {}
        now += Duration::from_millis(1);
    }
    drain(&mut e, now);
}

/// A fuzzer-chosen history of a small network; see [`super::fuzz_traffic`].
#[cfg(feature = "fuzzing")]
pub use super::fuzz_traffic::traffic;

/// Bytes as one datagram for an encrypting core (decrypt, check replay and freshness, parse).
pub fn sealed(data: &[u8]) {
    let now = Instant::now();
    let sealing = Sealing {
        keyring: Keyring::new(Key::from_bytes(1, &FUZZ_KEY).expect("16 bytes")),
        nonce_base: 1,
        wall_clock: (now, 1_700_000_000_000),
        freshness: Duration::from_secs(u64::MAX / 4_000_000),
    };
    let mut e = Endpoint::with_sealing(EndpointConfig::default(), 1, Some(sealing));
    e.handle_datagram(now, FROM, data);
    e.handle_datagram(now, FROM, data);
    drain(&mut e, now);
}

/// Bytes as a sequence of 12-byte fragment records for the reassembler.
pub fn reassembly(data: &[u8]) {
    let limits = ReassemblyLimits {
        max_event_size: 1 << 16,
        max_partial_per_sender: 8,
        max_bytes: 1 << 18,
        ttl: Duration::from_millis(100),
    };
    let (mut r, mut stats, t0) = (Reassembler::new(limits), ProtocolStats::default(), Instant::now());
    for (i, rec) in data.chunks_exact(12).enumerate() {
        let sender = u64::from(rec[0] % 4);
        let seq = u64::from(rec[1] % 16);
        let count = u32::from(u16::from_le_bytes([rec[2], rec[3]])).max(2);
        let index = u32::from(u16::from_le_bytes([rec[4], rec[5]])) % count;
        let len = usize::from(u16::from_le_bytes([rec[6], rec[7]]) % 4096).max(1);
        let at = t0 + Duration::from_millis(u64::from(rec[8]) * i as u64);
        let _ = r.insert(at, sender, seq, index, count, &vec![rec[9]; len], &mut stats);
        r.expire(at, &mut stats);
        assert!(r.bytes() <= 1 << 18 && r.in_flight() <= 4 * 8, "bounds broken");
    }
}
