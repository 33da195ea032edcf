//! Any bytes, split at 0xff, as datagrams into a plaintext protocol core.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventcast::proto::fuzz_entry::datagram(data));
