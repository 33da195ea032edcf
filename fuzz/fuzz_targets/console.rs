//! Any bytes as one line typed into the console: telnet commands stripped, words split,
//! the command parsed, `emit` arguments read as (Extended) JSON.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| eventcast::console::fuzz_line(data));
