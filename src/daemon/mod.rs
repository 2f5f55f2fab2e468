//! The daemon (work in progress).
pub mod hooks;
