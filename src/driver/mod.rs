//! The tokio driver: owns the socket, feeds the protocol core, dispatches to listeners.

pub(crate) mod socket;
pub(crate) mod task;
