//! The Python strings every received event carries — its name, its sender's id, its source
//! address — made once per distinct value instead of once per event. A stream of events
//! repeats a handful of names and senders; the cache hands out the same `str` objects
//! (whose hashes Python keeps, so the package's lookup by name is cheaper too).
//!
//! Bounded: each map holds at most [`MAX_ENTRIES`] values and is emptied when full (a
//! counter says how often), so a sender inventing names cannot grow it
//! (`tests/test_hostile.py` sends more names than that).

use std::collections::HashMap;
use std::net::SocketAddr;

use eventcast::SenderId;
use pyo3::prelude::*;
use pyo3::types::PyString;

/// Entries per map before it is emptied.
pub const MAX_ENTRIES: usize = 4096;
/// Names longer than this are not cached (made per event instead).
const MAX_CACHED_NAME: usize = 256;

/// The caches (used with the GIL held).
#[derive(Default)]
pub struct Strings {
    names: HashMap<Box<str>, Py<PyString>>,
    senders: HashMap<SenderId, Py<PyString>>,
    sources: HashMap<SocketAddr, Py<PyString>>,
    /// Times a map was emptied because it was full.
    pub resets: u64,
}

impl Strings {
    /// The event name as a Python `str`.
    pub fn name<'py>(&mut self, py: Python<'py>, name: &str) -> Bound<'py, PyString> {
        if name.len() > MAX_CACHED_NAME {
            return PyString::new(py, name);
        }
        if let Some(s) = self.names.get(name) {
            return s.bind(py).clone();
        }
        let s = PyString::new(py, name);
        bounded(&mut self.names, &mut self.resets).insert(name.into(), s.clone().unbind());
        s
    }

    /// The sender id as 16 hex digits.
    pub fn sender<'py>(&mut self, py: Python<'py>, sender: SenderId) -> Bound<'py, PyString> {
        if let Some(s) = self.senders.get(&sender) {
            return s.bind(py).clone();
        }
        let s = PyString::new(py, &sender.to_string());
        bounded(&mut self.senders, &mut self.resets).insert(sender, s.clone().unbind());
        s
    }

    /// The source address as `"IP:PORT"`.
    pub fn source<'py>(&mut self, py: Python<'py>, from: SocketAddr) -> Bound<'py, PyString> {
        if let Some(s) = self.sources.get(&from) {
            return s.bind(py).clone();
        }
        let s = PyString::new(py, &from.to_string());
        bounded(&mut self.sources, &mut self.resets).insert(from, s.clone().unbind());
        s
    }
}

fn bounded<'a, K, V>(map: &'a mut HashMap<K, V>, resets: &mut u64) -> &'a mut HashMap<K, V> {
    if map.len() >= MAX_ENTRIES {
        map.clear();
        *resets += 1;
    }
    map
}
