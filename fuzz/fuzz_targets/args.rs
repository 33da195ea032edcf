//! Any bytes as the BSON arguments of an event: the depth and framing check, then every way
//! a listener reads arguments (values, serde, JSON).
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventcast::fuzz_args(data));
