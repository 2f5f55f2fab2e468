//! ZTE web sticks (the MF823 family and its kin): no AT port, a small
//! router whose web page at `http://192.168.0.1` drives the `goform` API.
//!
//! - `api`: its requests, answers, message bodies, time stamps, login
//!   encodings and signal figures, pure.
//! - `client`: one HTTP conversation with a stick: the `Referer`, the
//!   session cookie, the login and its lockout.
//! - `probe`: `simgate modem probe --device http://… --transport zte`.
//!
//! The [`crate::device::Device`] built on it is `crate::device::zte`; the
//! emulator the tests run it against is `crate::emulator::zte`.

pub mod api;
pub mod client;
pub mod probe;
