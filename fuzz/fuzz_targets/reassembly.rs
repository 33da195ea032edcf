//! Any bytes as fragment records into the reassembler, checking its bounds.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventcast_proto::fuzz_entry::reassembly(data));
