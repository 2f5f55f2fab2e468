//! Huawei HiLink sticks (E3372h, E3531 and their kin in HiLink mode): no
//! AT port, a small router with a web interface at `http://192.168.8.1`.
//!
//! - `xml`: the flat XML documents the interface speaks, pure.
//! - `api`: its requests, answers, error codes, login hash and signal
//!   figures, pure.
//! - `client`: one HTTP conversation with a stick: session, tokens,
//!   login, busy waits.
//! - `probe`: `simgate modem probe --device http://…`.
//!
//! The [`crate::device::Device`] built on it is `crate::device::hilink`;
//! the emulator the tests run it against is `crate::emulator::hilink`.

pub mod api;
pub mod client;
pub mod probe;
pub mod xml;
