//! Any bytes as a datagram into an encrypting protocol core: decrypt, replay and freshness
//! checks, then parsing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventcast_proto::fuzz_entry::sealed(data));
