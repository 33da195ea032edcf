//! The tokio driver: owns the socket, feeds the protocol core, dispatches to listeners.

#[doc(hidden)]
pub mod batch;
pub(crate) mod echo_filter;
pub(crate) mod emit_ring;
pub(crate) mod gso;
pub(crate) mod socket;
pub(crate) mod task;
