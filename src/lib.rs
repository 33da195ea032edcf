//! eventcast (crate doc written below)
pub mod proto;
