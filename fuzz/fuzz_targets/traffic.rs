//! A fuzzer-chosen history (emits, time, loss, duplication, reordering, restarts, key
//! changes, hostile datagrams) of two or three protocol cores, checking the delivery
//! contract, the memory bounds and the work per datagram.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventcast_proto::fuzz_entry::traffic(data));
