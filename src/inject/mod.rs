//! `simgate inject`: `gammu-smsd-inject`'s command line for TEXT and EMS
//! messages, writing the outbox files gammu-smsd-inject writes for the
//! files backend (same names, same bytes), so scripts written for gammu
//! keep working.
//!
//! - `args`: the message arguments as gammu reads them. Pure.
//! - `pack`: the parts gammu cuts the message into. Pure.
//! - `render`: the bytes of the `.smsbackup` or `.txt` files. Pure.
//!
//! This module is the thin shell: standard input, the clock, the
//! configuration, and the files, written with [`crate::queue::write_new`]
//! (hidden file, sync, rename without replacing) as `simgate send`
//! writes its own. Differences from gammu-smsd-inject, all on purpose:
//! the files appear whole (gammu creates the name empty and fills it
//! later); in the `.txt` formats a flash or report request is kept as the
//! `f`/`d` flag of the name (gammu drops it, quirk Q24); text is UTF-8
//! whatever the locale; `-smscnumber` and `-validity` are accepted and,
//! as with gammu, have no effect on the files (a note says so).

pub(crate) mod args;
pub(crate) mod pack;
pub(crate) mod render;

use crate::config::FileFormat;
use crate::spool::{self, Flags, OutboxKind};
use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

/// Why `simgate inject` wrote nothing; [`InjectError::exit_code`] is
/// gammu-smsd-inject's exit status for the same failure.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InjectError {
    /// The message arguments are refused.
    #[error("{0}")]
    Arguments(#[from] args::ArgsError),
    /// The message cannot be made.
    #[error("Failed to create message: {0}")]
    Create(String),
    /// The configuration cannot be read.
    #[error("Failed to read config: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// The outbox file cannot be written.
    #[error("Failed to inject message: {0}")]
    Write(#[from] crate::queue::QueueError),
    /// Standard input or output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl InjectError {
    /// gammu-smsd-inject's exit status: 255 for refused arguments, 1 for
    /// a message that cannot be made, 2 for the configuration (and a
    /// number option that is no number), 3 for the write.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Arguments(args::ArgsError::Usage(_)) => 255,
            Self::Arguments(args::ArgsError::NotANumber(_)) | Self::Config(_) => 2,
            Self::Create(_) | Self::Io(_) => 1,
            Self::Write(_) => 3,
        }
    }
}

/// The longest text gammu's buffer holds.
const MAX_TEXT_UNITS: usize = 4999;

/// The most bytes gammu reads from standard input.
const STDIN_LIMIT: usize = 5000;

/// Runs `simgate inject -c CONFIG MESSAGE...`: prints what
/// gammu-smsd-inject prints on `out` (`Written message with ID <path>`),
/// notes on `notes`.
pub(crate) fn run(
    config_path: &std::path::Path,
    message: &[OsString],
    out: &mut dyn Write,
    notes: &mut dyn Write,
) -> Result<PathBuf, InjectError> {
    let request = args::parse(message)?;
    for line in &request.printed {
        writeln!(out, "{line}")?;
    }
    let (now, utc_offset_seconds) = crate::queue::local_now();
    let clock = pack::Clock {
        hour: now.hour,
        minute: now.minute,
        second: now.second,
    };
    let (parts, flash) = match &request.body {
        args::Body::Text {
            text,
            unicode,
            flash,
            mode,
            replace,
        } => {
            let mut units = match text {
                Some(units) => units.clone(),
                None => read_stdin(out)?,
            };
            args::trim_newline(&mut units);
            if units.len() > MAX_TEXT_UNITS {
                return Err(InjectError::Create(format!(
                    "the text is longer than {MAX_TEXT_UNITS} UTF-16 units \
                     (gammu-smsd-inject's buffer)"
                )));
            }
            let class = if *flash { 0 } else { -1 };
            let parts = pack::pack_text(&units, *unicode, *mode, class, *replace, clock);
            (parts, *flash)
        }
        args::Body::Ems {
            texts,
            unicode,
            bits16,
        } => (pack::pack_ems(texts, *unicode, *bits16, clock), false),
    };
    let parts = parts.map_err(|e| InjectError::Create(e.to_string()))?;
    if let Some(limit) = request.max_parts {
        if parts.len() as i64 > limit {
            return Err(InjectError::Create(format!(
                "There are {} SMS messages packed and the limit is {limit}",
                parts.len()
            )));
        }
    }
    for (option, given) in [
        ("-smscnumber", &request.smsc),
        ("-validity", &request.validity),
    ] {
        if given.is_some() {
            writeln!(
                notes,
                "simgate inject: note: outbox files cannot carry {option} (nor do \
                 gammu-smsd-inject's); the daemon's own setting applies"
            )?;
        }
    }
    let config = crate::config::load_without_secrets(config_path)?.config;
    let outbox = &config.spool.outbox;
    let weekday = crate::calendar::weekday_from_sunday(&now).unwrap_or(0);
    let written = render::Written {
        time: now,
        utc_offset_seconds,
        weekday,
    };
    let envelope = render::Envelope {
        number: request.recipient.encode_utf16().collect(),
        report: request.report,
        reply_via_same_smsc: request.reply,
    };
    let name_error = |e: spool::NameError| {
        InjectError::Write(crate::queue::QueueError::Write {
            path: outbox.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    };
    let last = match config.spool.outbox_format {
        FileFormat::Detail => {
            let kind = OutboxKind::SmsBackup;
            spool::inject_name(&now, &request.recipient, 0, kind, Flags::default())
                .map_err(name_error)?;
            let content = render::smsbackup(&parts, &envelope, &written);
            crate::queue::write_new(outbox, &content, |n| {
                spool::inject_name(&now, &request.recipient, n, kind, Flags::default())
                    .unwrap_or_default()
            })?
        }
        format => {
            let flags = Flags {
                delivery_report: request.report,
                flash,
                wap_bookmark: false,
            };
            let kind = OutboxKind::Txt;
            spool::inject_name(&now, &request.recipient, 0, kind, flags).map_err(name_error)?;
            let mut last = PathBuf::new();
            for part in &parts {
                let content = match format {
                    FileFormat::Unicode => render::unicode_txt(part),
                    _ => render::standard_txt(part),
                };
                last = crate::queue::write_new(outbox, &content, |n| {
                    spool::inject_name(&now, &request.recipient, n, kind, flags).unwrap_or_default()
                })?;
            }
            last
        }
    };
    writeln!(out, "Written message with ID {}", last.display())?;
    Ok(last)
}

/// TEXT from standard input, as gammu reads it (a prompt when it is a
/// terminal; a warning when it is empty).
fn read_stdin(out: &mut dyn Write) -> Result<Vec<u16>, InjectError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        writeln!(out, "Enter the message text and press Ctrl+D:")?;
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(STDIN_LIMIT as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > STDIN_LIMIT {
        return Err(InjectError::Create(format!(
            "the text on standard input is longer than {STDIN_LIMIT} bytes \
             (gammu-smsd-inject would cut it there)"
        )));
    }
    if bytes.is_empty() {
        writeln!(out, "Warning: No chars read, assuming it is okay!")?;
    }
    args::stdin_text(&bytes).map_err(InjectError::Create)
}
