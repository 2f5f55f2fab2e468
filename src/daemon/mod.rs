//! The long-running service.

pub mod hooks;
pub mod logging;
pub mod retry;
pub mod systemd;
pub mod watcher;
