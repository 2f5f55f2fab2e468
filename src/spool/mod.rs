//! The gammu-compatible spool directories (spec `gammu-smsd-files.md` §2-§5):
//! which outbox files to send and in what order, what they contain, how the
//! sent `.smsbackup` file records its message references, and the names of
//! inbox files.
//!
//! - [`name`]: the file-name grammars (outbox names as gammu 1.42 accepts
//!   them, the names `gammu-smsd-inject` produces, inbox names). Pure.
//! - [`outbox`]: outbox file contents (`.txt` and `.smsbackup`) to an
//!   [`OutgoingMessage`], and the `MessageReference` rewrite. Pure.
//! - [`inbox`]: the inbox files gammu 1.42 writes for a received message
//!   (`standard`, `unicode`, `detail`) and the `RunOnReceive` environment.
//!   Pure.
//! - [`settle`]: when an outbox file is ready to be taken. Pure.
//! - [`fs`]: the thin, synchronous file-system layer: claiming, size-checked
//!   reading, moving to `sent/`/`error/`, atomic writes.
//!
//! Everything except [`fs`] is text or bytes in, values out, so it is unit
//! tested beside the code, including against golden files written by the real
//! `gammu-smsd-inject` (`tests/fixtures/inject/`).

pub mod fs;
pub mod inbox;
pub mod name;
pub mod outbox;
pub mod settle;

pub use inbox::{
    choose_serial, inbox_files, probe_name, receive_environment, report_log_line, report_word,
    InboxFile, ReceivedPart, Storage,
};
pub use name::{
    classify_outbox_name, classify_outbox_os_name, compare_names, inbox_name, inject_name,
    sanitize_for_name, Flags, InboxExtension, NameError, OutboxKind, OutboxName,
};
pub use outbox::{
    decode_txt, parse_outbox, parse_smsbackup, parse_txt, record_message_references, ContentError,
    OutgoingBody, OutgoingMessage, PreparedPart, RewriteError, SubmitError, TextCharset,
    Utf8Fallback, MAX_OUTBOX_FILE_BYTES,
};
