//! The modem driver (work in progress).
