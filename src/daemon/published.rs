//! What the daemon publishes for readers in the same process (the HTTP
//! API): a [`Snapshot`] of the radio and of counters, in a `watch` the loop
//! updates in place (a lock and a wake-up, never a wait), and every
//! message that ended, on a `broadcast` (a reader that falls behind is told
//! so and asks the store instead). Nothing here ever blocks the loop: with
//! no reader, publishing costs a lock.

use super::DaemonEvent;
use crate::device::{DeviceState, Radio};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// Upper bounds of the send latency histogram, in seconds.
pub(crate) const LATENCY_BUCKETS: [f64; 10] =
    [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// How many ended messages a slow reader may fall behind by (the ring is
/// allocated at start, HTTP or not, so it stays small: a reader that
/// falls behind asks the store).
const FINISHED_BACKLOG: usize = 256;

/// Counters and the latest readings, since this daemon started.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    /// The latest radio reading (`None`: none yet in this session).
    pub radio: Option<Radio>,
    /// Times a device session ended after being ready (a reset, a
    /// reconnect, an unplug).
    pub modem_resets: u64,
    /// Times a message was held back by a rate limit.
    pub rate_limit_waits: u64,
    /// Send latency (from the file taken in to the last part accepted):
    /// counts per bucket of [`LATENCY_BUCKETS`] (not cumulative), then
    /// those above the last.
    pub latency_counts: [u64; LATENCY_BUCKETS.len() + 1],
    /// The sum of all send latencies, in seconds.
    pub latency_sum: f64,
    /// `[send] enabled`, as the daemon runs with it now (a reload may
    /// change it).
    pub send_enabled: bool,
}

impl Snapshot {
    /// Counts one send latency.
    pub(crate) fn observe_latency(&mut self, latency: Duration) {
        let seconds = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.latency_counts[bucket] += 1;
        self.latency_sum += seconds;
    }
}

/// How a message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The network took every part; its file is in sent/.
    Sent,
    /// It failed (or may have gone out and nothing can tell); its file is
    /// in error/.
    Failed,
    /// Its file was deleted or replaced before it went out.
    Cancelled,
}

/// A message that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finished {
    /// Its outbox file name.
    pub file: String,
    /// How.
    pub ending: Ending,
}

/// The daemon's side: what it updates.
#[derive(Debug, Clone)]
pub(crate) struct Publisher {
    snapshot: watch::Sender<Snapshot>,
    finished: broadcast::Sender<Finished>,
}

/// A reader's side: the latest snapshot, the devices' states, and the
/// messages that end from now on.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    /// The counters and readings (the first modem's).
    pub snapshot: watch::Receiver<Snapshot>,
    /// Every modem's state by its name, the first modem's first (one entry
    /// with one modem; never empty).
    pub modems: Vec<ModemState>,
    finished: broadcast::Sender<Finished>,
}

/// One modem's state, as its device reports it, and its name.
#[derive(Debug, Clone)]
pub(crate) struct ModemState {
    /// Its name (`[modem] name`, or what the daemon calls it).
    pub name: String,
    /// Its device's state.
    pub state: watch::Receiver<DeviceState>,
}

impl Published {
    /// The first modem's state, as its device reports it.
    pub(crate) fn device(&self) -> &watch::Receiver<DeviceState> {
        &self.modems[0].state
    }

    /// Messages that end from now on (subscribe before queuing one).
    pub(crate) fn finished(&self) -> broadcast::Receiver<Finished> {
        self.finished.subscribe()
    }
}

impl Publisher {
    pub(crate) fn new() -> Self {
        Self {
            snapshot: watch::Sender::new(Snapshot::default()),
            finished: broadcast::Sender::new(FINISHED_BACKLOG),
        }
    }

    /// The reader's side, with every modem's state, the first modem's
    /// first.
    ///
    /// # Panics
    /// With no modem: a daemon has one at least.
    pub(crate) fn reader(&self, modems: Vec<ModemState>) -> Published {
        assert!(!modems.is_empty(), "a daemon has a modem at least");
        Published {
            snapshot: self.snapshot.subscribe(),
            modems,
            finished: self.finished.clone(),
        }
    }

    /// Notes an event the daemon reports: an ended message is broadcast.
    pub(crate) fn note(&self, event: &DaemonEvent) {
        let (file, ending) = match event {
            DaemonEvent::Sent { file, .. } => (file, Ending::Sent),
            DaemonEvent::Failed { file, .. } => (file, Ending::Failed),
            DaemonEvent::Cancelled { file, .. } => (file, Ending::Cancelled),
            _ => return,
        };
        // No reader is not an error.
        let _ = self.finished.send(Finished {
            file: file.clone(),
            ending,
        });
    }

    /// The latest radio reading of this session.
    pub(crate) fn radio(&self) -> Option<Radio> {
        self.snapshot.borrow().radio.clone()
    }

    /// Changes the snapshot in place.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        self.snapshot.send_modify(change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_in_the_first_bucket_that_holds_them() {
        let mut snapshot = Snapshot::default();
        snapshot.observe_latency(Duration::from_millis(100));
        snapshot.observe_latency(Duration::from_millis(101));
        snapshot.observe_latency(Duration::from_secs(1000));
        assert_eq!(snapshot.latency_counts[0], 1);
        assert_eq!(snapshot.latency_counts[1], 1);
        assert_eq!(snapshot.latency_counts[LATENCY_BUCKETS.len()], 1);
        assert!((snapshot.latency_sum - 1000.201).abs() < 1e-9);
    }

    #[tokio::test]
    async fn ended_messages_reach_every_reader_and_nothing_else_does() {
        let publisher = Publisher::new();
        let (_device, state) = watch::channel(DeviceState::Stopped);
        let reader = publisher.reader(vec![ModemState {
            name: "modem".into(),
            state,
        }]);
        let mut finished = reader.finished();
        publisher.note(&DaemonEvent::Queued { file: "a".into() });
        publisher.note(&DaemonEvent::Failed {
            file: "b".into(),
            reason: "no".into(),
        });
        assert_eq!(
            finished.recv().await.unwrap(),
            Finished {
                file: "b".into(),
                ending: Ending::Failed
            }
        );
        publisher.update(|s| s.modem_resets += 1);
        assert_eq!(reader.snapshot.borrow().modem_resets, 1);
    }
}
