//! The gammu-compatible spool directories (spec `gammu-smsd-files.md` §2-§5):
//! which outbox files to send and in what order, what they contain, how the
//! sent `.smsbackup` file records its message references, and the names of
//! inbox files.
//!
//! - `name`: the file-name grammars (outbox names as gammu 1.42 accepts
//!   them, the names `gammu-smsd-inject` produces, inbox names). Pure.
//! - `outbox`: outbox file contents (`.txt` and `.smsbackup`) to an
//!   `OutgoingMessage`, and the `MessageReference` rewrite. Pure.
//! - `inbox`: the inbox files gammu 1.42 writes for a received message
//!   (`standard`, `unicode`, `detail`) and the `RunOnReceive` environment.
//!   Pure.
//! - `settle`: when an outbox file is ready to be taken. Pure.
//! - [`fs`]: the thin, synchronous file-system layer: claiming, size-checked
//!   reading, moving to `sent/`/`error/`, atomic writes.
//!
//! Everything except [`fs`] is text or bytes in, values out, so it is unit
//! tested beside the code, including against golden files written by the real
//! `gammu-smsd-inject` (`tests/fixtures/inject/`).

pub mod fs;
pub(crate) mod inbox;
pub(crate) mod name;
pub(crate) mod outbox;
pub(crate) mod settle;

pub(crate) use name::{
    classify_outbox_name, classify_outbox_os_name, inject_name, Flags, NameError, OutboxKind,
    OutboxName,
};
pub(crate) use outbox::{
    parse_outbox, record_message_references, ContentError, OutgoingBody, OutgoingMessage,
    SubmitError, Utf8Fallback,
};
