//! When an outbox file is ready to be taken (quirk Q1): pure, every time
//! passed in.
//!
//! A file renamed into the outbox is complete by construction (the way
//! careful producers write: a temporary name, then rename), so it is ready
//! at once. A file written in place (`echo a > f`, `gammu-smsd-inject`, a
//! `touch` followed by appends) is ready once it has not changed for the
//! settle time: measured from the later of its modification and status
//! change times, so a producer that writes in two steps with a pause
//! shorter than the settle time is taken once, complete. A file found by a
//! rescan, whose arrival was not seen, is treated as written in place, and
//! so is a file whose creation alone was seen (linked in with `link(2)`, or
//! created to be filled). Neither of those two has shown a close after
//! writing, so each waits at least [`UNCLOSED_GRACE`] since its last change
//! even when the settle time is zero: gammu-smsd-inject creates the name
//! empty, closes it, and opens it again to write, and for that moment no
//! process holds the empty file. Either way a file is taken only when no
//! process still has it open for writing (one `/proc` scan per batch, by
//! the caller).

use std::time::{Duration, SystemTime};

/// The least a file waits since its last change when no close after
/// writing was seen (created, or found by a scan; see the module
/// documentation).
pub(crate) const UNCLOSED_GRACE: Duration = Duration::from_millis(200);

/// How a candidate came to the daemon's attention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Arrival {
    /// Renamed (moved) into the outbox.
    RenamedIn,
    /// Closed after writing.
    Written,
    /// Created (linked in, or created to be written).
    Created,
    /// Found by a scan of the outbox.
    Found,
}

impl Arrival {
    /// The arrival that says more when two events name one file: a file
    /// renamed in and then written to must settle like a written one.
    pub(crate) fn merge(self, other: Self) -> Self {
        match (self, other) {
            (Self::RenamedIn, Self::RenamedIn) => Self::RenamedIn,
            (Self::Found, Self::Found) => Self::Found,
            // A rescan that finds a file whose creation was seen knows no
            // more: it still waits its grace.
            (Self::Created, Self::Created | Self::Found) | (Self::Found, Self::Created) => {
                Self::Created
            }
            _ => Self::Written,
        }
    }
}

/// Whether a candidate may be taken now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Readiness {
    /// Take it (once no process has it open for writing).
    Ready,
    /// Look again at this time.
    WaitUntil(SystemTime),
}

/// Decides for a file that `arrival` announced and that last `changed` at
/// that time, at `now`, with the configured `settle` time.
pub(crate) fn readiness(
    arrival: Arrival,
    changed: SystemTime,
    now: SystemTime,
    settle: Duration,
) -> Readiness {
    if arrival == Arrival::RenamedIn {
        return Readiness::Ready;
    }
    let settle = match arrival {
        Arrival::Created | Arrival::Found => settle.max(UNCLOSED_GRACE),
        Arrival::Written | Arrival::RenamedIn => settle,
    };
    let settled_at = changed + settle;
    if now >= settled_at {
        Readiness::Ready
    } else {
        Readiness::WaitUntil(settled_at)
    }
}

/// What one look at a candidate found: when it last changed, which file
/// it was (size and modification time with it), and when it was looked at
/// (the daemon's clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Look {
    /// The later of its modification and status change times.
    pub changed: SystemTime,
    /// Device, inode, size and modification time.
    pub file: crate::store::FileId,
    /// When the look was.
    pub at: SystemTime,
}

/// [`readiness`] for a candidate as `look` found it, `previous` the look
/// before (if any). A change time ahead of the clock (the calendar was
/// set back since the file changed: its status change time is the
/// kernel's, which no producer sets) says nothing of how long ago that
/// was: such a file is ready once two looks the settle time apart (at
/// least [`UNCLOSED_GRACE`] where no close was seen) found it unchanged.
pub(crate) fn readiness_looking(
    arrival: Arrival,
    look: Look,
    previous: Option<Look>,
    settle: Duration,
) -> Readiness {
    if look.changed <= look.at || arrival == Arrival::RenamedIn {
        return readiness(arrival, look.changed, look.at, settle);
    }
    let settle = match arrival {
        Arrival::Created | Arrival::Found => settle.max(UNCLOSED_GRACE),
        Arrival::Written | Arrival::RenamedIn => settle,
    };
    if settle.is_zero() {
        return Readiness::Ready;
    }
    match previous {
        Some(before) if before.file == look.file && before.changed == look.changed => {
            let settled_at = before.at + settle;
            if look.at >= settled_at {
                Readiness::Ready
            } else {
                Readiness::WaitUntil(settled_at)
            }
        }
        _ => Readiness::WaitUntil(look.at + settle),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms)
    }

    #[test]
    fn written_files_settle_renamed_ones_do_not_wait() {
        let settle = Duration::from_secs(1);
        assert_eq!(
            readiness(Arrival::RenamedIn, at(0), at(0), settle),
            Readiness::Ready
        );
        // `echo a > f` at 0: look again at 1 s.
        assert_eq!(
            readiness(Arrival::Written, at(0), at(10), settle),
            Readiness::WaitUntil(at(1000))
        );
        // `echo b >> f` at 0.2 s: the file changed, so 1.2 s.
        assert_eq!(
            readiness(Arrival::Written, at(200), at(1000), settle),
            Readiness::WaitUntil(at(1200))
        );
        assert_eq!(
            readiness(Arrival::Written, at(200), at(1200), settle),
            Readiness::Ready
        );
        // An old file found by a rescan is ready at once.
        assert_eq!(
            readiness(Arrival::Found, at(0), at(60_000), settle),
            Readiness::Ready
        );
        // Found as it was made: it waits the grace, even with no settle
        // time (no close after writing was seen).
        assert_eq!(
            readiness(Arrival::Found, at(0), at(0), Duration::ZERO),
            Readiness::WaitUntil(at(0) + UNCLOSED_GRACE)
        );
        assert_eq!(
            readiness(
                Arrival::Found,
                at(0),
                at(0) + UNCLOSED_GRACE,
                Duration::ZERO
            ),
            Readiness::Ready
        );
        // A close after writing was seen: no settle time, no wait.
        assert_eq!(
            readiness(Arrival::Written, at(0), at(0), Duration::ZERO),
            Readiness::Ready
        );
    }

    /// A change time ahead of the clock (the calendar set back since the
    /// file was written: its status change time is the kernel's, which no
    /// producer sets) tells nothing of how long ago it changed. Measured
    /// from it, a file found by a scan after the calendar went back a day
    /// waited a day. Such a file settles by looking: unchanged between
    /// two looks the settle time apart, by the daemon's clock.
    #[test]
    fn a_change_time_ahead_of_the_clock_settles_by_looking_twice() {
        let settle = Duration::from_secs(1);
        let day = Duration::from_secs(86_400);
        let file = crate::store::FileId {
            size: 12,
            ..Default::default()
        };
        let look = |changed, at| Look { changed, file, at };
        let ahead = at(0) + day;
        let first = look(ahead, at(0));
        assert_eq!(
            readiness_looking(Arrival::Found, first, None, settle),
            Readiness::WaitUntil(at(1000))
        );
        // Too soon (the settle time counts from the first look), then the
        // settle time later: unchanged, ready.
        assert_eq!(
            readiness_looking(Arrival::Found, look(ahead, at(500)), Some(first), settle),
            Readiness::WaitUntil(at(1000))
        );
        assert_eq!(
            readiness_looking(Arrival::Found, look(ahead, at(1000)), Some(first), settle),
            Readiness::Ready
        );
        // It changed between the looks: it waits again.
        let grown = Look {
            file: crate::store::FileId { size: 20, ..file },
            ..look(ahead, at(1000))
        };
        assert_eq!(
            readiness_looking(Arrival::Found, grown, Some(first), settle),
            Readiness::WaitUntil(at(2000))
        );
        // The grace holds with no settle time; a rename needs no wait.
        assert_eq!(
            readiness_looking(Arrival::Created, first, None, Duration::ZERO),
            Readiness::WaitUntil(at(0) + UNCLOSED_GRACE)
        );
        assert_eq!(
            readiness_looking(Arrival::RenamedIn, first, None, settle),
            Readiness::Ready
        );
        assert_eq!(
            readiness_looking(Arrival::Written, first, None, Duration::ZERO),
            Readiness::Ready
        );
        // A change time behind the clock: as [`readiness`] decides.
        assert_eq!(
            readiness_looking(Arrival::Found, look(at(0), at(60_000)), None, settle),
            Readiness::Ready
        );
    }

    /// A creation alone (a file linked in, or one a producer such as
    /// gammu-smsd-inject creates empty, closes, and opens again to fill)
    /// waits at least [`UNCLOSED_GRACE`], even with no settle time, so the
    /// producer's close after writing comes first; that close then settles
    /// as configured.
    #[test]
    fn a_creation_alone_waits_a_grace_even_without_a_settle_time() {
        assert_eq!(
            readiness(Arrival::Created, at(0), at(0), Duration::ZERO),
            Readiness::WaitUntil(at(0) + UNCLOSED_GRACE)
        );
        assert_eq!(
            readiness(
                Arrival::Created,
                at(0),
                at(0) + UNCLOSED_GRACE,
                Duration::ZERO
            ),
            Readiness::Ready
        );
        let settle = Duration::from_secs(1);
        assert_eq!(
            readiness(Arrival::Created, at(0), at(10), settle),
            Readiness::WaitUntil(at(1000))
        );
        assert_eq!(Arrival::Created.merge(Arrival::Created), Arrival::Created);
        assert_eq!(Arrival::Created.merge(Arrival::Found), Arrival::Created);
        assert_eq!(Arrival::Found.merge(Arrival::Created), Arrival::Created);
        assert_eq!(Arrival::Created.merge(Arrival::Written), Arrival::Written);
        assert_eq!(Arrival::Written.merge(Arrival::Created), Arrival::Written);
        assert_eq!(Arrival::Created.merge(Arrival::RenamedIn), Arrival::Written);
    }

    #[test]
    fn a_renamed_file_written_to_afterwards_settles() {
        assert_eq!(Arrival::RenamedIn.merge(Arrival::Written), Arrival::Written);
        assert_eq!(Arrival::Written.merge(Arrival::RenamedIn), Arrival::Written);
        assert_eq!(
            Arrival::RenamedIn.merge(Arrival::RenamedIn),
            Arrival::RenamedIn
        );
        assert_eq!(Arrival::Found.merge(Arrival::RenamedIn), Arrival::Written);
    }
}
