//! Any bytes as length-prefixed datagrams (2-byte little-endian length, then the bytes) into
//! a plaintext protocol core: every byte value and every sequence of datagrams is reachable.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventcast_proto::fuzz_entry::datagram(data));
