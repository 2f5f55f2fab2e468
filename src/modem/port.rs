//! Opening the modem's serial port: tokio-serial, exclusive, raw, locked
//! against a second simgate, with a hint when it fails the way it usually
//! does (in use, permissions, gone).
//!
//! Two locks keep other programs off, both taken by serialport when it
//! opens the port: TIOCEXCL, which keeps ordinary users out but not root
//! (nor ModemManager, which runs with CAP_SYS_ADMIN), and an advisory
//! `flock` on the device node, which every simgate takes, so a second
//! daemon on the same modem is refused whoever it runs as, with the first
//! one's pid (from the lock's descriptor in `/proc`, or `/proc/locks`).

use super::error::ModemError;
use crate::instance::{self, InstanceError, Lock};
use crate::procfs::{self, Access, Inode, Process};
use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use tokio_serial::{SerialPortBuilderExt, SerialStream};

/// Serial line settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortSettings {
    /// Baud rate; USB modems ignore it, UART modules (SIM800) need it right.
    pub baud: u32,
    /// Hardware (RTS/CTS) flow control.
    pub hardware_flow_control: bool,
}

impl Default for PortSettings {
    fn default() -> Self {
        Self {
            baud: 115_200,
            hardware_flow_control: false,
        }
    }
}

/// Opens `path` (a `/dev/serial/by-id/...` link works as well as
/// `/dev/ttyUSB0`) for exclusive use: serialport sets TIOCEXCL and takes
/// the `flock` (see the module documentation).
pub(crate) fn open(path: &Path, settings: PortSettings) -> Result<SerialStream, ModemError> {
    let flow = if settings.hardware_flow_control {
        tokio_serial::FlowControl::Hardware
    } else {
        tokio_serial::FlowControl::None
    };
    let builder = tokio_serial::new(path.to_string_lossy(), settings.baud)
        .flow_control(flow)
        .data_bits(tokio_serial::DataBits::Eight)
        .parity(tokio_serial::Parity::None)
        .stop_bits(tokio_serial::StopBits::One);
    let mut stream = builder.open_native_async().map_err(|error| {
        if error.description.contains("exclusive lock") {
            held(path)
        } else {
            open_error(path, std::io::Error::from(error))
        }
    })?;
    // Exclusive: a second simgate (or a stray gammu) cannot open it too.
    if let Err(error) = stream.set_exclusive(true) {
        tracing::debug!(%error, "cannot make the port exclusive");
    }
    Ok(stream)
}

/// The port is locked by another process: name it.
fn held(path: &Path) -> ModemError {
    let holders = Inode::of(path)
        .map(procfs::flock_holders)
        .unwrap_or_default();
    ModemError::Held {
        what: format!("the modem {}", path.display()),
        holder: instance::describe_holders(holders),
    }
}

/// Takes the `flock` of the device at `path` (opened without becoming its
/// controlling terminal, and without waiting for a carrier), as serialport
/// does when it opens the port.
fn lock(path: &Path) -> Result<Lock, ModemError> {
    let flags = nix::fcntl::OFlag::O_NOCTTY | nix::fcntl::OFlag::O_NONBLOCK;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(flags.bits())
        .open(path)
        .map_err(|error| open_error(path, error))?;
    instance::lock_file(file, path, "the modem").map_err(|error| match error {
        InstanceError::Held { what, holder } => ModemError::Held { what, holder },
        InstanceError::Lock { source, .. } => open_error(path, source),
        other => open_error(path, std::io::Error::other(other.to_string())),
    })
}

/// At start: refuses when another simgate holds the modem at `path`
/// (a missing device is fine: the supervisor waits for it).
pub(crate) fn check_not_held(path: &Path) -> Result<(), InstanceError> {
    match lock(path) {
        Ok(_released) => Ok(()),
        Err(ModemError::Held { what, holder }) => Err(InstanceError::Held { what, holder }),
        Err(ModemError::Open { source, .. }) if source.raw_os_error() == Some(libc_ebusy()) => {
            // TIOCEXCL: someone has it exclusively. A simgate among them
            // means a second daemon: refuse; anything else may let go.
            let holders = holders(path);
            if holders.iter().any(Process::is_simgate) {
                return Err(InstanceError::Held {
                    what: format!("the modem {}", path.display()),
                    holder: instance::describe_holders(holders),
                });
            }
            Ok(())
        }
        Err(_) => Ok(()),
    }
}

fn libc_ebusy() -> i32 {
    nix::errno::Errno::EBUSY as i32
}

/// The processes that have the device at `path` open, as far as `/proc`
/// lets this user see.
pub(crate) fn holders(path: &Path) -> Vec<Process> {
    let Ok(inode) = Inode::of(path) else {
        return Vec::new();
    };
    let scan = procfs::open_holders(&BTreeSet::from([inode]), Access::Any);
    let me = std::process::id();
    scan.holders
        .get(&inode)
        .into_iter()
        .flatten()
        .filter(|pid| **pid != me)
        .map(|pid| Process::new(*pid))
        .collect()
}

fn open_error(path: &Path, source: std::io::Error) -> ModemError {
    ModemError::Open {
        path: path.to_owned(),
        hint: hint(path, &source),
        source,
    }
}

/// Where a path points once symlinks are followed (`/dev/serial/by-id/...`
/// to `/dev/ttyUSB2`), for logs and for following a re-enumerated modem.
pub(crate) fn resolve(path: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(path).ok()
}

fn hint(path: &Path, error: &std::io::Error) -> Option<String> {
    let busy = error.raw_os_error() == Some(libc_ebusy());
    if busy {
        let holders = holders(path);
        if holders.iter().any(|p| p.command == "ModemManager")
            || (holders.is_empty() && modem_manager_running())
        {
            return Some(
                "the port is in use by ModemManager: stop it (systemctl stop ModemManager) or \
                 install simgate's udev rule that tells it to keep off"
                    .to_owned(),
            );
        }
        return Some(if holders.is_empty() {
            "the port is in use by another process (ModemManager, gammu-smsd, a terminal \
             program); `fuser -v DEVICE` shows which"
                .to_owned()
        } else {
            format!(
                "the port is in use by another process: {}",
                instance::describe_holders(holders)
            )
        });
    }
    match error.kind() {
        ErrorKind::PermissionDenied => Some(
            "permission denied: run simgate as a member of the dialout group (usermod -aG dialout USER)"
                .to_owned(),
        ),
        ErrorKind::NotFound => Some(
            "no such device: is the modem plugged in? `ls -l /dev/serial/by-id/` lists the ports it has"
                .to_owned(),
        ),
        _ if matches!(error.raw_os_error(), Some(6 | 19)) => Some(
            "the device went away (unplugged, or re-enumerated under another name)".to_owned(),
        ),
        _ => None,
    }
}

/// Whether a ModemManager process runs (it grabs modem ports on its own).
pub(crate) fn modem_manager_running() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::fs::read_to_string(entry.path().join("comm"))
            .is_ok_and(|comm| comm.trim() == "ModemManager")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_names_the_holder_not_a_missing_modem() {
        let path = Path::new("/dev/null");
        let error = std::io::Error::from_raw_os_error(libc_ebusy());
        let busy = hint(path, &error).unwrap();
        assert!(busy.contains("in use by"), "{busy}");
        assert!(!busy.contains("plugged in"), "{busy}");
        let missing = hint(
            Path::new("/dev/x"),
            &std::io::Error::from(ErrorKind::NotFound),
        );
        assert!(missing.unwrap().contains("plugged in"));
    }
}
