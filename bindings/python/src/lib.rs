//! The Python extension of eventcast (`eventcast._native`): the Rust instance under the
//! Python package in `python/eventcast/`.
//!
//! [`Native`] wraps one blocking [`eventcast::blocking::Eventcast`]; every call that waits
//! (start, stop, emit under backpressure, stats) releases the GIL. Received events and
//! loss reports pass through a [`queue::Queue`] bounded in bytes: the instance's dispatcher
//! thread appends, the package's delivery thread takes them in batches
//! ([`Native::next_batch`], GIL released while it waits) and calls the Python callbacks
//! in order. Arguments cross as Python values, converted here ([`convert`]).
//!
//! Errors are raised as `RuntimeError`/`ValueError`/`TypeError` whose message starts with
//! `[CODE] `; the package turns them into `eventcast.Error` subclasses.

mod convert;
mod queue;
mod strings;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};

use crate::queue::{Item, Queue};

const DEFAULT_QUEUE_BYTES: usize = 8 << 20;

/// Every keyword option, as named in the Rust builder.
const OPTIONS: [&str; 32] = [
    "port",
    "group",
    "address",
    "interface",
    "loopback",
    "ttl",
    "max_payload_size",
    "message_ttl",
    "max_event_size",
    "recv_buffer_size",
    "passphrase",
    "key",
    "key_id",
    "delivery",
    "start_at",
    "peers",
    "multicast",
    "nats",
    "nats_subject",
    "nats_token",
    "nats_creds",
    "console",
    "console_port",
    "console_host",
    "console_token",
    "log",
    "longs",
    "queue_bytes",
    "on_error",
    "stream_capacity",
    "pace_rate",
    "retransmit_events",
];

fn to_py(err: eventcast::Error) -> PyErr {
    let message = format!("[{}] {err}", err.code());
    match err {
        eventcast::Error::InvalidOption { .. }
        | eventcast::Error::InvalidName { .. }
        | eventcast::Error::InvalidPattern { .. }
        | eventcast::Error::EventTooLarge { .. }
        | eventcast::Error::ArgumentsTooDeep { .. } => PyValueError::new_err(message),
        _ => PyRuntimeError::new_err(message),
    }
}

fn option_error(name: &str, value: &Bound<'_, PyAny>, allowed: &str) -> PyErr {
    let shown = value.repr().map(|r| r.to_string()).unwrap_or_default();
    PyValueError::new_err(format!("[EC_INVALID_OPTION] invalid {name} {shown}: {allowed}"))
}

/// One eventcast instance (see the crate docs).
#[pyclass(module = "eventcast._native")]
struct Native {
    ec: eventcast::blocking::Eventcast,
    queue: Arc<Queue>,
    longs: convert::Longs,
    strings: Mutex<strings::Strings>,
}

#[pymethods]
impl Native {
    /// Builds an instance from keyword options already checked by the package.
    #[new]
    #[pyo3(signature = (**options))]
    fn new(options: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut b = eventcast::blocking::Eventcast::builder();
        let mut queue_bytes = DEFAULT_QUEUE_BYTES;
        let mut longs = convert::Longs::Int;
        if let Some(options) = options {
            for (k, v) in options.iter() {
                let key: String = k.extract()?;
                if v.is_none() {
                    continue;
                }
                let text =
                    || -> PyResult<String> { v.extract::<String>().map_err(|_| option_error(&key, &v, "a str")) };
                let number = || -> PyResult<u64> {
                    v.extract::<u64>().map_err(|_| option_error(&key, &v, "a non-negative int"))
                };
                let seconds = || -> PyResult<Duration> {
                    let s: f64 = v.extract().map_err(|_| option_error(&key, &v, "seconds, a number"))?;
                    if !(s.is_finite() && s > 0.0 && s < 1e9) {
                        return Err(option_error(&key, &v, "seconds, a positive number"));
                    }
                    Ok(Duration::from_secs_f64(s))
                };
                b = match key.as_str() {
                    "port" => {
                        b.port(u16::try_from(number()?).map_err(|_| option_error(&key, &v, "a port, 1 to 65535"))?)
                    }
                    "group" => b.group(&text()?),
                    "address" => b.address(&text()?),
                    "interface" => b.interface(&text()?),
                    "loopback" => b.loopback(v.extract().map_err(|_| option_error(&key, &v, "True or False"))?),
                    "ttl" => b.ttl(u32::try_from(number()?).map_err(|_| option_error(&key, &v, "0 to 255"))?),
                    "max_payload_size" => b.max_payload_size(number()? as usize),
                    "message_ttl" => b.message_ttl(seconds()?),
                    "max_event_size" => b.max_event_size(number()? as usize),
                    "recv_buffer_size" => b.recv_buffer_size(number()? as usize),
                    "stream_capacity" => b.stream_capacity(number()? as usize),
                    "pace_rate" => b.pace_rate(number()?),
                    "retransmit_events" => {
                        let d = eventcast::Options::default();
                        b.retransmit_buffer(number()? as usize, d.retransmit_max_bytes)
                    }
                    "passphrase" => b.passphrase(&text()?),
                    "key" => {
                        let bytes: Vec<u8> =
                            v.extract().map_err(|_| option_error(&key, &v, "bytes of a 16- or 32-byte AES key"))?;
                        b.key(&bytes)
                    }
                    "key_id" => b.key_id(u8::try_from(number()?).map_err(|_| option_error(&key, &v, "0 to 255"))?),
                    "delivery" => b.delivery(match text()?.as_str() {
                        "reliable" => eventcast::DeliveryMode::Reliable,
                        "unordered" => eventcast::DeliveryMode::Unordered,
                        "best-effort" | "best_effort" => eventcast::DeliveryMode::BestEffort,
                        _ => return Err(option_error(&key, &v, "'reliable', 'unordered' or 'best-effort'")),
                    }),
                    "start_at" => b.start_at(match text()?.as_str() {
                        "live" => eventcast::StartAt::Live,
                        "oldest" => eventcast::StartAt::Oldest,
                        _ => return Err(option_error(&key, &v, "'live' or 'oldest'")),
                    }),
                    "peers" => {
                        let peers: Vec<String> =
                            v.extract().map_err(|_| option_error(&key, &v, "a list of 'HOST:PORT' strings"))?;
                        peers.iter().fold(b, |b, p| b.peer(p))
                    }
                    "multicast" => b.multicast(v.extract().map_err(|_| option_error(&key, &v, "True or False"))?),
                    "nats" => b.nats(&text()?),
                    "nats_subject" => b.nats_subject(&text()?),
                    "nats_token" => b.nats_token(&text()?),
                    "nats_creds" => b.nats_creds(text()?),
                    "console" => b.repl(v.extract().map_err(|_| option_error(&key, &v, "True or False"))?),
                    "console_port" => {
                        b.repl_port(u16::try_from(number()?).map_err(|_| option_error(&key, &v, "0 to 65535"))?)
                    }
                    "console_host" => b.repl_host(&text()?),
                    "console_token" => b.repl_token(&text()?),
                    "log" => b.log(v.extract().map_err(|_| option_error(&key, &v, "True or False"))?),
                    "longs" => {
                        longs = match text()?.as_str() {
                            "int" => convert::Longs::Int,
                            "Int64" => convert::Longs::Int64,
                            _ => return Err(option_error(&key, &v, "'int' or 'Int64' (the bson package's)")),
                        };
                        b
                    }
                    "queue_bytes" => {
                        queue_bytes = number()? as usize;
                        b
                    }
                    other => {
                        return Err(PyTypeError::new_err(format!(
                            "[EC_INVALID_OPTION] unknown option '{other}'; the options are: {}",
                            OPTIONS.join(", ")
                        )));
                    }
                };
            }
        }
        let ec = b.build().map_err(to_py)?;
        let queue = Arc::new(Queue::new(queue_bytes.max(1024)));
        let events = queue.clone();
        ec.on_any(move |ev| events.push(Item::Event(ev.clone())));
        let losses = queue.clone();
        ec.on_loss(move |loss| losses.push(Item::Loss(*loss)));
        Ok(Native { ec, queue, longs, strings: Mutex::default() })
    }

    /// Starts; returns the socket's local address.
    fn start(&self, py: Python<'_>) -> PyResult<Option<String>> {
        py.detach(|| self.ec.start()).map_err(to_py)?;
        Ok(self.ec.local_addr().map(|a| a.to_string()))
    }

    /// Stops (waits for it; the GIL is released meanwhile).
    fn stop(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.ec.stop()).map_err(to_py)
    }

    /// Whether it runs.
    fn is_running(&self) -> bool {
        self.ec.is_running()
    }

    /// The console's address, when it serves one.
    fn console_address(&self) -> Option<String> {
        self.ec.console_addr().map(|a| a.to_string())
    }

    /// Sends `name` with the arguments in `args` (a tuple), waiting for room if needed (the
    /// GIL released). With `local`, this instance's own callbacks get the event too (the
    /// package says whether any would): it goes straight into the delivery queue, with no
    /// wait for another thread.
    fn emit(&self, py: Python<'_>, name: &str, args: &Bound<'_, PyTuple>, local: bool) -> PyResult<()> {
        let mut doc = bson::Document::new();
        for (i, a) in args.iter().enumerate() {
            doc.insert(i.to_string(), convert::to_bson(&a)?);
        }
        let bytes = doc.to_vec().map_err(|e| PyValueError::new_err(format!("[EC_ENCODING] {e}")))?;
        let name = name.to_owned();
        let ec = self.ec.as_async();
        let mode = ec.options().delivery;
        py.detach(|| {
            loop {
                match ec.try_send_raw(&name, &bytes, mode) {
                    // no room now: the GIL stays released while we wait for some
                    Err(eventcast::Error::Backpressure) => std::thread::sleep(Duration::from_micros(200)),
                    other => return other,
                }
            }
        })
        .map_err(to_py)?;
        if local {
            let values: Vec<bson::Bson> = doc.into_iter().map(|(_, v)| v).collect();
            if let Ok(ev) = eventcast::Event::local(&name, &values) {
                self.queue.push_local(ev);
            }
        }
        Ok(())
    }

    /// Up to `max` received items, waiting at most `timeout` seconds for the first (GIL
    /// released): `(name, args, sender, source, seq, size)` for an event (the fields of
    /// `eventcast.Event`, in order, then its encoded size in bytes), `(sender, first,
    /// last)` for a loss report.
    fn next_batch<'py>(&self, py: Python<'py>, max: usize, timeout: f64) -> PyResult<Bound<'py, PyList>> {
        let queue = self.queue.clone();
        let timeout = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        let items = py.detach(move || queue.take(max.max(1), timeout));
        let mut strings = self.strings.lock().unwrap_or_else(|p| p.into_inner());
        let out = PyList::empty(py);
        for item in items {
            match item {
                Item::Event(ev) => {
                    // An event whose arguments do not become Python values (a regex Python
                    // cannot compile, a date beyond year 9999, ...) is handed over with the
                    // exception as its arguments: reported and counted, and the rest of
                    // the batch goes on.
                    let args = match self.args(py, &ev) {
                        Ok(list) => list,
                        Err(e) => PyValueError::new_err(format!(
                            "[EC_UNDECODABLE] arguments of event {:?} from {} cannot become Python values: {e}",
                            ev.name(),
                            ev.sender()
                        ))
                        .into_value(py)
                        .into_bound(py)
                        .into_any(),
                    };
                    let name = strings.name(py, ev.name());
                    let sender = strings.sender(py, ev.sender());
                    let source = ev.from().map(|a| strings.source(py, a));
                    out.append((name, args, sender, source, ev.seq(), ev.encoded_len()))?;
                }
                Item::Loss(loss) => out.append((strings.sender(py, loss.sender), loss.first, loss.last))?,
            }
        }
        Ok(out)
    }

    /// Whether received items wait.
    fn pending(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Every counter, as a JSON string.
    fn stats_json(&self, py: Python<'_>) -> PyResult<String> {
        let stats = py.detach(|| self.ec.stats());
        let mut value = serde_json::to_value(&stats).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("queue_full_waits".into(), self.queue.full_waits().into());
            map.insert("local_dropped".into(), self.queue.local_dropped().into());
            let resets = self.strings.lock().unwrap_or_else(|p| p.into_inner()).resets;
            map.insert("string_cache_resets".into(), resets.into());
        }
        Ok(value.to_string())
    }

    /// Stops delivering for good (the object is going away).
    fn close(&self) {
        self.queue.close();
    }
}

impl Native {
    /// The arguments of `ev` as a Python list.
    fn args<'py>(&self, py: Python<'py>, ev: &eventcast::Event) -> PyResult<Bound<'py, PyAny>> {
        let values = ev.args_bson().map_err(|e| PyValueError::new_err(e.to_string()))?;
        let list = PyList::empty(py);
        for v in &values {
            list.append(convert::to_python(py, v, self.longs)?)?;
        }
        Ok(list.into_any())
    }
}

/// Whether `name` matches `pattern`, as the core decides it.
#[pyfunction]
fn pattern_matches(pattern: &str, name: &str) -> PyResult<bool> {
    Ok(eventcast::Pattern::new(pattern).map_err(to_py)?.matches(name))
}

/// Checks a pattern; raises with what is wrong.
#[pyfunction]
fn check_pattern(pattern: &str) -> PyResult<()> {
    eventcast::Pattern::new(pattern).map(|_| ()).map_err(to_py)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Native>()?;
    m.add_function(wrap_pyfunction!(pattern_matches, m)?)?;
    m.add_function(wrap_pyfunction!(check_pattern, m)?)?;
    Ok(())
}
