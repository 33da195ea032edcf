//! The reassembly bound counts memory, not payload (docs/SECURITY.md, finding 6): a flood of
//! one-byte fragments holds no more heap than `max_reassembly_bytes` says. The heap is
//! measured by a counting allocator that rounds each allocation up as glibc's malloc does
//! (16-byte granules, 32 bytes at least, 8 bytes of header), so the figure is what the
//! process really holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use eventcast_proto::{Endpoint, EndpointConfig};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

fn charged(size: usize) -> isize {
    ((size + 8).div_ceil(16) * 16).max(32) as isize
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(charged(layout.size()), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(charged(layout.size()), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(charged(new_size) - charged(layout.size()), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A datagram of `n` one-byte fragments of event `seq` (count 2^20) from `sender`.
fn tiny_fragments(sender: u64, seq: u64, first: u32, n: u32) -> Vec<u8> {
    let mut d = b"EC\x01\x00".to_vec();
    d.extend_from_slice(&sender.to_be_bytes());
    for index in first..first + n {
        d.extend_from_slice(&[0x02, 0, 0, 17]);
        d.extend_from_slice(&seq.to_be_bytes());
        d.extend_from_slice(&index.to_be_bytes());
        d.extend_from_slice(&(1u32 << 20).to_be_bytes());
        d.push(b'z');
    }
    d
}

#[test]
fn a_flood_of_one_byte_fragments_holds_no_more_than_the_bound() {
    const BOUND: usize = 8 << 20;
    let mut config = EndpointConfig::default();
    config.receiver.reassembly.max_bytes = BOUND;
    let from: SocketAddr = "10.0.0.2:9000".parse().unwrap();
    let now = Instant::now();
    let mut rx = Endpoint::new(config, 1);
    let before = LIVE.load(Ordering::Relaxed);
    let mut peak = 0;
    // 64 partial events of 2^20 fragments each, one byte per fragment: 400,000 fragments in
    for k in 0..400u32 {
        let (seq, first) = (u64::from(k % 64), (k / 64) * 1000);
        rx.handle_datagram(now, from, &tiny_fragments(77, seq, first, 1000));
        peak = peak.max(LIVE.load(Ordering::Relaxed) - before);
    }
    let s = rx.stats(now);
    assert!(s.reassembly_bytes as usize <= BOUND, "gauge {}", s.reassembly_bytes);
    assert!(s.dropped.reassembly_evicted > 0, "the flood went past the bound");
    let peak = peak as usize;
    eprintln!("peak heap {peak} bytes for a {BOUND}-byte bound (gauge {})", s.reassembly_bytes);
    // the peer table and windows take ~20 KB; the bound must hold the rest
    assert!(peak < BOUND + BOUND / 20, "peak heap {peak} bytes for a bound of {BOUND}");
}
