//! What simgate remembers about SIMs and modems across restarts: what the
//! SIM did with a PIN (keyed by the SIM and a hash of the PIN, never the
//! PIN itself), and facts learnt about a modem (such as whether its SIM's
//! last-used TP-MR follows the messages it sends).

use super::{Store, StoreError};
use crate::daemon::clock::Clock;
use crate::modem::{PinMemory, PinOutcome};
use rusqlite::{params, OptionalExtension};

fn outcome_word(outcome: PinOutcome) -> &'static str {
    match outcome {
        PinOutcome::Entering => "entering",
        PinOutcome::Accepted => "accepted",
        PinOutcome::Rejected => "rejected",
    }
}

fn parse_outcome(text: &str) -> Option<PinOutcome> {
    Some(match text {
        "entering" => PinOutcome::Entering,
        "accepted" => PinOutcome::Accepted,
        "rejected" => PinOutcome::Rejected,
        _ => return None,
    })
}

/// The daemon's [`PinMemory`]: the `pin_attempt` table, through a
/// connection of its own (the modem supervisor asks it while the daemon's
/// store is busy elsewhere; SQLite's WAL lets both work).
#[derive(Debug)]
pub(crate) struct PinRecords {
    connection: std::sync::Mutex<rusqlite::Connection>,
    /// Dates each outcome: the daemon's clock.
    clock: std::sync::Arc<dyn Clock>,
}

impl PinRecords {
    /// Opens the records of the database at `path` (opened and migrated by
    /// [`Store::open`] first), dated by `clock`.
    pub(crate) fn open(
        path: &std::path::Path,
        clock: std::sync::Arc<dyn Clock>,
    ) -> Result<Self, StoreError> {
        let connection = rusqlite::Connection::open(path)?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(Self {
            connection: std::sync::Mutex::new(connection),
            clock,
        })
    }
}

impl PinMemory for PinRecords {
    fn recall(&self, sim: &str, pin_hash: &str) -> Option<PinOutcome> {
        let connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        let text: Option<String> = connection
            .query_row(
                "SELECT outcome FROM pin_attempt WHERE sim = ?1 AND pin_hash = ?2",
                params![sim, pin_hash],
                |row| row.get(0),
            )
            .optional()
            .unwrap_or_else(|error| {
                tracing::error!(error = %crate::redact::Scrub(&error), "cannot read what the SIM did with the PIN before; assuming it was entered");
                Some("entering".to_owned())
            });
        text.as_deref().and_then(parse_outcome)
    }

    fn record(&self, sim: &str, pin_hash: &str, outcome: PinOutcome) {
        let now = self.clock.now_ms();
        let connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = connection.execute(
            "INSERT INTO pin_attempt (sim, pin_hash, outcome, at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sim, pin_hash) DO UPDATE SET outcome = ?3, at_ms = ?4",
            params![sim, pin_hash, outcome_word(outcome), now],
        ) {
            tracing::error!(error = %crate::redact::Scrub(&error), "cannot record what the SIM did with the PIN");
        }
    }
}

impl Store {
    /// A fact learnt about `modem` (its IMEI), if recorded.
    pub(crate) fn modem_fact(&self, modem: &str, fact: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .connection
            .query_row(
                "SELECT value FROM modem_fact WHERE modem = ?1 AND fact = ?2",
                params![modem, fact],
                |row| row.get(0),
            )
            .optional()?)
    }

    /// Records a fact about `modem`.
    pub(crate) fn set_modem_fact(
        &mut self,
        modem: &str,
        fact: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO modem_fact (modem, fact, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (modem, fact) DO UPDATE SET value = ?3",
            params![modem, fact, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::clock::SystemClock;

    #[test]
    fn pin_outcomes_and_facts_are_remembered() {
        let dir = std::env::temp_dir().join(format!("simgate-store-pins-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        let mut store = Store::open(&path).unwrap();
        let pins = PinRecords::open(&path, std::sync::Arc::new(SystemClock)).unwrap();
        assert_eq!(pins.recall("8949", "h1"), None);
        pins.record("8949", "h1", PinOutcome::Entering);
        pins.record("8949", "h1", PinOutcome::Rejected);
        assert_eq!(pins.recall("8949", "h1"), Some(PinOutcome::Rejected));
        assert_eq!(pins.recall("8949", "h2"), None);
        assert_eq!(pins.recall("other", "h1"), None);
        store.set_modem_fact("3561", "tp-mr", "follows").unwrap();
        assert_eq!(
            store.modem_fact("3561", "tp-mr").unwrap().as_deref(),
            Some("follows")
        );
        drop((store, pins));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
