//! # eventcast — one event emitter across a LAN
//!
//! A program calls [`Eventcast::emit`]`("name", args)`; every program on the network that
//! registered [`Eventcast::on`]`("name", …)` gets the call with its arguments. Arguments are
//! anything `serde` can serialize and travel as BSON, so dates, binary, regular expressions
//! and the other BSON types arrive as they left.
//!
//! ```no_run
//! # async fn f() -> eventcast::Result<()> {
//! use eventcast::Eventcast;
//! let ec = Eventcast::builder().interface("127.0.0.1").build()?;
//! ec.on("sensor.*", |ev| {
//!     let (room, celsius): (String, f64) = ev.args().unwrap();
//!     println!("{} from {}: {room} {celsius}", ev.name(), ev.sender());
//! })?;
//! ec.start().await?;
//! ec.emit("sensor.temp", &("kitchen", 21.5)).await?;
//! # Ok(()) }
//! ```
//!
//! ## How the pieces fit
//!
//! - `eventcast-proto` — the **sans-IO protocol core**, its own crate with no async runtime
//!   (Cargo enforces the boundary). The wire format (`docs/PROTOCOL.md`),
//!   packing of small events into shared datagrams, segmentation and reassembly of large
//!   ones, duplicate suppression, loss recovery, flow control and encryption. It is a state
//!   machine fed with `handle_datagram(now, …)` and drained with `poll_transmit()` /
//!   `poll_event()`; it never touches a socket or a clock, so the tests drive it through a
//!   seeded lossy network in simulated time.
//! - `driver` — a **thin tokio task** per running instance: it owns the UDP socket
//!   (set up with socket2; batched `sendmmsg`/`recvmmsg`), moves datagrams between socket and
//!   core, runs the core's timers,
//!   and hands received events to the listeners.
//! - [`Eventcast`] — the **public handle**: builder and options ([`Builder`], [`Options`]),
//!   lifecycle (`start`, `stop`, [`State`]), `emit`, and the Node-style listener API
//!   (`on`, `once`, `off`, `on_any`, patterns such as `sensor.*`, and
//!   [`subscribe`](Eventcast::subscribe) for an async [`EventStream`]).
//! - [`blocking`] — the same instance for programs without an async runtime.
//! - `console` — the **TCP console** (the original's REPL), served by an instance whose
//!   options set `repl`: `telnet`/`nc`-friendly commands over the same public handle
//!   (emit, on/off, stats, peers, config, log levels, key rotation, start/stop).
//! - [`Stats`] — every counter, also as Prometheus text ([`Stats::to_prometheus`]).
//! - The `eventcast` binary (crate `eventcast-cli`: `listen`, `emit`, `demo`, `console`,
//!   `stats`, `bench`) is a thin client of this library; the library pulls in none of its
//!   crates (no clap, no line editor, no log subscriber).
//!
//! The library logs through `tracing` with one target per component ([`LOG_COMPONENTS`]:
//! `eventcast`, `eventcast::net`, `eventcast::repl`), whose levels each instance sets and
//! changes at run time ([`Eventcast::set_log_level`]); it never installs a subscriber.

#![warn(missing_docs)]
// Every example in the docs compiles without a warning, as a newcomer would paste it.
#![doc(test(attr(deny(warnings), allow(dead_code))))]

pub mod blocking;
mod builder;
#[doc(hidden)]
pub mod console;
#[doc(hidden)]
pub mod driver;
mod emitter;
mod error;
mod event;
mod eventcast;
mod gateway;
mod interface;
mod logging;
mod options;
/// The protocol core (crate `eventcast-proto`), used inside the library under this name.
pub(crate) use eventcast_proto as proto;
mod stats;
mod transport;

pub use bson;
pub use builder::Builder;
pub use emitter::{EventStream, ListenerId, LossStream, Pattern, Subscription};
pub use error::{Error, Result};
pub use event::{Event, Loss, SenderId, arg_from_text, oversized_json_integer};
pub use eventcast::{Eventcast, State};
/// The async stream trait that [`Subscription`] implements (from `futures-core`).
pub use futures_core::Stream;
pub use gateway::{Gateway, GatewayMonitor, GatewayOptions, GatewayStats};
pub use interface::Interface;
pub use logging::LOG_COMPONENTS;
pub use options::{
    AUTO_PAYLOAD_SIZE, ConsoleToken, DEFAULT_GROUP, DEFAULT_GROUP_V6, DEFAULT_PORT, Encryption, Options,
};
pub use proto::{DeliveryMode, DropCounters, PeerStats, ProtocolStats, StartAt};
pub use stats::Stats;
pub use transport::{NatsOptions, TransportOptions};

/// Bytes as the BSON arguments of an event: checked and, when accepted, read every way a
/// listener can (values, serde, JSON), which must not recurse past the depth limit or panic.
/// The `args` fuzz target and the corpus test call it.
#[doc(hidden)]
pub fn fuzz_args(data: &[u8]) {
    let mut p = Vec::new();
    if proto::payload::encode("fuzz", data, &mut p).is_err() || proto::payload::PayloadView::parse(&p).is_err() {
        return;
    }
    let Ok(ev) = Event::from_payload(p, SenderId(0), None, 0) else { return };
    let _ = ev.args_bson();
    let _ = ev.args::<Vec<bson::Bson>>();
    let _ = ev.arg::<bson::Bson>(0);
    let _ = ev.to_json();
}

/// The README's Rust examples, compiled by `cargo test --doc` so the quickstart a newcomer
/// pastes is known to build.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
