//! The sans-IO protocol core: wire format, packing, segmentation, reassembly, loss recovery
//! (NACKs, repairs, heartbeats), ordering and duplicate suppression as plain state machines.
//!
//! Nothing here opens a socket, reads a clock or spawns a task. [`Endpoint`] is driven by
//! `handle_datagram(now, from, bytes)` and `handle_timeout(now)`, and drained through
//! `poll_transmit()` and `poll_event()`; `poll_timeout()` says when time next matters. The
//! crate's tokio driver is one user; the seeded simulator ([`sim`]) is another.

pub mod crypto;
pub mod endpoint;
pub mod flow;
#[doc(hidden)]
pub mod fuzz_entry;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzz_traffic;
mod idhash;
pub mod payload;
pub mod reassembly;
pub mod receiver;
pub mod replay;
pub mod sender;
pub mod seq;
pub mod stats;
pub mod window;
pub mod wire;
mod work;

#[cfg(test)]
mod delivery_tests;
#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod nack_tests;
pub mod sim;
#[cfg(test)]
mod sim_tests;

pub use endpoint::{Delivery, Endpoint, EndpointConfig, Loss, Sealing, Transmit};
pub use receiver::{ReceiverConfig, StartAt, Taken};
pub use sender::{DeliveryMode, SendError, SenderConfig};
pub use stats::{DropCounters, PeerStats, ProtocolStats};
