//! The pseudo-terminal side: opening a pty pair in raw mode, an async
//! byte port over its master (`AsyncFd`, non-blocking), the emulator's own
//! temporary directory, and the stable `by-id` symlink, replaced
//! atomically (new link, then rename).
//!
//! The emulator keeps a slave fd open for the life of the port: on Linux a
//! master whose slave is closed by everyone reads EIO at once (which would
//! spin), and keeping it open means the host can open and close the path
//! freely. Dropping the port closes both fds; the host's own slave fd then
//! reads EOF/EIO and writes fail with EIO, like an unplugged USB serial port.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An open pty: the master as an async byte stream, plus the slave fd the
/// emulator holds.
#[derive(Debug)]
pub(super) struct Pty {
    master: AsyncFd<OwnedFd>,
    _slave: OwnedFd,
    path: PathBuf,
}

fn make_raw(fd: &OwnedFd) -> io::Result<()> {
    let mut t = tcgetattr(fd)?;
    cfmakeraw(&mut t);
    tcsetattr(fd, SetArg::TCSANOW, &t)?;
    Ok(())
}

impl Pty {
    /// Opens a pty in raw mode whose slave path differs from `avoid`.
    pub(super) fn open(avoid: Option<&Path>) -> io::Result<Pty> {
        // Holding a pty that got the number to avoid forces a new one.
        let mut held = Vec::new();
        for _ in 0..4 {
            let pair = nix::pty::openpty(None, None)?;
            let path = nix::unistd::ttyname(&pair.slave)?;
            if avoid == Some(path.as_path()) {
                held.push(pair);
                continue;
            }
            make_raw(&pair.slave)?;
            make_raw(&pair.master)?;
            let flags = OFlag::from_bits_truncate(fcntl(&pair.master, FcntlArg::F_GETFL)?);
            fcntl(&pair.master, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
            // `AsyncFd::new` is deprecated because it cannot check that
            // an arbitrary `AsRawFd` type owns its fd; an `OwnedFd` does,
            // and the replacement (`register`) is `unsafe`, which this
            // crate forbids.
            #[allow(deprecated)]
            let master = AsyncFd::new(pair.master)?;
            return Ok(Pty {
                master,
                _slave: pair.slave,
                path,
            });
        }
        Err(io::Error::other("no new pty number available"))
    }

    /// The slave path `/dev/pts/N`.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

impl AsyncRead for Pty {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.master.poll_read_ready(cx))?;
            let dst = buf.initialize_unfilled();
            match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), dst).map_err(io::Error::from)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // EIO: no slave open anywhere; report end of file.
                Ok(Err(e)) if e.raw_os_error() == Some(Errno::EIO as i32) => {
                    return Poll::Ready(Ok(()))
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for Pty {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.master.poll_write_ready(cx))?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), buf).map_err(io::Error::from))
            {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A fresh directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new() -> io::Result<TempDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for _ in 0..100 {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let dir = base.join(format!(
                "simgate-emulator-{}-{nanos:x}-{n}",
                std::process::id()
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(TempDir(dir)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other("could not create a temporary directory"))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Points `link` at `target` atomically: a temporary link renamed over it.
pub(super) fn point_link(link: &Path, target: &Path) -> io::Result<()> {
    let name = link
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = link.with_file_name(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}
