//! What simgate remembers about SIMs and modems across restarts: what the
//! SIM did with a PIN (keyed by the SIM and a hash of the PIN, never the
//! PIN itself), and facts learnt about a modem (such as whether its SIM's
//! last-used TP-MR follows the messages it sends).

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};

/// What became of the configured PIN on one SIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinOutcome {
    /// simgate was entering it when it stopped: the outcome is unknown.
    Entering,
    /// The SIM accepted it.
    Accepted,
    /// The SIM rejected it: never enter it again.
    Rejected,
}

impl PinOutcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Entering => "entering",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "entering" => Self::Entering,
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            _ => return None,
        })
    }
}

impl Store {
    /// What happened the last time the PIN with hash `pin_hash` was entered
    /// on SIM `sim`.
    pub fn pin_outcome(&self, sim: &str, pin_hash: &str) -> Result<Option<PinOutcome>, StoreError> {
        let text: Option<String> = self
            .connection
            .query_row(
                "SELECT outcome FROM pin_attempt WHERE sim = ?1 AND pin_hash = ?2",
                params![sim, pin_hash],
                |row| row.get(0),
            )
            .optional()?;
        Ok(text.as_deref().and_then(PinOutcome::parse))
    }

    /// Records (durably) what happened to the PIN on that SIM.
    pub fn record_pin(
        &mut self,
        sim: &str,
        pin_hash: &str,
        outcome: PinOutcome,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.connection.execute(
            "INSERT INTO pin_attempt (sim, pin_hash, outcome, at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (sim, pin_hash) DO UPDATE SET outcome = ?3, at_ms = ?4",
            params![sim, pin_hash, outcome.as_str(), now_ms],
        )?;
        Ok(())
    }

    /// A fact learnt about `modem` (its IMEI), if recorded.
    pub fn modem_fact(&self, modem: &str, fact: &str) -> Result<Option<String>, StoreError> {
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
    pub fn set_modem_fact(
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

    #[test]
    fn pin_outcomes_and_facts_are_remembered() {
        let mut store = Store::in_memory().unwrap();
        assert_eq!(store.pin_outcome("8949", "h1").unwrap(), None);
        store
            .record_pin("8949", "h1", PinOutcome::Entering, 1)
            .unwrap();
        store
            .record_pin("8949", "h1", PinOutcome::Rejected, 2)
            .unwrap();
        assert_eq!(
            store.pin_outcome("8949", "h1").unwrap(),
            Some(PinOutcome::Rejected)
        );
        assert_eq!(store.pin_outcome("8949", "h2").unwrap(), None);
        assert_eq!(store.pin_outcome("other", "h1").unwrap(), None);
        store.set_modem_fact("3561", "tp-mr", "follows").unwrap();
        assert_eq!(
            store.modem_fact("3561", "tp-mr").unwrap().as_deref(),
            Some("follows")
        );
    }
}
