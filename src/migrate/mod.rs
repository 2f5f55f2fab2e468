//! `simgate migrate-from-gammu`: simgate in gammu-smsd's place, on the same
//! gammu-smsdrc and the same spool.
//!
//! Without `--apply` it only looks and prints: the configuration, the spool
//! folders (owners, modes, waiting messages), the modem's node and who has
//! it open, the hooks, gammu-smsd's unit and processes, ModemManager; then
//! the exact steps: stop and disable gammu-smsd, a drop-in for
//! simgate.service that runs simgate on gammu's configuration as the
//! spool's owner with the groups it needs, enable and start simgate.
//! `--apply` takes those steps after recording what was there, and
//! `--undo` puts it all back ([`apply`]).
//!
//! What the switch keeps: waiting outbox files are sent once by simgate
//! (its database starts empty, so every file in the outbox is new to it);
//! inbox files are left alone; hooks run with the same command lines, and
//! the drop-in opens the unit's sandbox for them, since gammu-smsd ran
//! them without one.
//!
//! - `survey`: reads the machine into a [`plan::Survey`];
//! - [`plan`]: pure decisions, the drop-in and the report;
//! - [`apply`]: the changes and the record behind `--undo`.
//!
//! `--root DIR` works on the unit files under DIR, like `systemctl
//! --root`: nothing is stopped or started, only files change (the tests
//! use it; so can an admin preparing an image).

pub(crate) mod apply;
pub(crate) mod plan;
mod survey;

use std::io::Write;
use std::path::{Path, PathBuf};

/// `simgate migrate-from-gammu`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MigrateArgs {
    /// The gammu-smsd configuration to take over.
    #[arg(default_value = "/etc/gammu-smsdrc")]
    pub config: PathBuf,
    /// Take the steps: stop and disable gammu-smsd, write the drop-in,
    /// enable and start simgate. What was there is recorded first.
    #[arg(long, conflicts_with = "undo")]
    pub apply: bool,
    /// Put back what --apply changed (gammu-smsd enabled and running as
    /// before, the drop-in gone).
    #[arg(long)]
    pub undo: bool,
    /// Run simgate as this user instead of the owner of the spool.
    #[arg(long)]
    pub user: Option<String>,
    /// Work on the systemd files under this folder, like `systemctl
    /// --root`: nothing is stopped or started.
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
}

/// Why `migrate-from-gammu` stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MigrateError {
    /// The check found problems (listed in the report).
    #[error("{count} problem(s), listed above, stand in the way; nothing was changed")]
    Problems {
        /// How many.
        count: usize,
    },
    /// `--undo` without an `--apply` before it.
    #[error("nothing to undo: {} does not exist", record.display())]
    NothingToUndo {
        /// Where the record would be.
        record: PathBuf,
    },
    /// The record of `--apply` is unusable.
    #[error("cannot use the record {}: {reason}", path.display())]
    Record {
        /// The record.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file could not be read, written or removed.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        /// What was being done.
        what: String,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed: {reason}")]
    Command {
        /// The command.
        command: String,
        /// Its status and error output.
        reason: String,
    },
    /// Writing the report failed.
    #[error("cannot write the output: {0}")]
    Output(std::io::Error),
}

impl MigrateError {
    fn io(what: &str, path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            what: what.to_owned(),
            path: path.to_owned(),
            source,
        }
    }
}

/// Runs `migrate-from-gammu`: the check and the steps, and with `--apply`
/// the changes; with `--undo`, the way back.
pub(crate) fn run(args: &MigrateArgs, out: &mut dyn Write) -> Result<(), MigrateError> {
    if args.undo {
        return apply::undo(&args.root, out);
    }
    let survey = survey::survey(args);
    let plan = plan::plan(&survey);
    out.write_all(plan::render(&survey, &plan, args.apply).as_bytes())
        .map_err(MigrateError::Output)?;
    let problems = plan.problems();
    if problems > 0 {
        return Err(MigrateError::Problems { count: problems });
    }
    if args.apply {
        apply::apply(&survey, &plan, out)?;
    }
    Ok(())
}
