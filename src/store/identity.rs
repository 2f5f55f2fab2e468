//! The database's identity (migration 16): random bytes made once for
//! each database, which the name a message is handed to a device under
//! carries ([`MessageName`]), so that no other database's message shares
//! it.

use super::{Store, StoreError};
use crate::device::MessageName;

/// The name of message row `row` of a database whose identity is
/// `identity` and whose rows up to `legacy_through` were queued before it
/// had one (those keep the names they were handed over under).
pub(crate) fn message_name(identity: [u8; 16], legacy_through: i64, row: i64) -> MessageName {
    MessageName {
        database: (row > legacy_through).then_some(identity),
        row,
    }
}

impl Store {
    /// The name message row `row` is handed to a device under: its row and
    /// this database's identity (see [`message_name`]).
    pub(crate) fn message_name(&self, row: i64) -> Result<MessageName, StoreError> {
        let (identity, legacy_through): (Vec<u8>, i64) = self.connection.query_row(
            "SELECT identity, legacy_through FROM database_identity WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let identity: [u8; 16] = identity.try_into().map_err(|bytes: Vec<u8>| {
            StoreError::Corrupt(format!(
                "the database's identity is {} bytes, not 16",
                bytes.len()
            ))
        })?;
        Ok(message_name(identity, legacy_through, row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_queued_before_the_identity_keep_their_old_names() {
        let identity = [9; 16];
        assert_eq!(message_name(identity, 40, 40).database, None);
        assert_eq!(message_name(identity, 40, 1).database, None);
        assert_eq!(message_name(identity, 40, 41).database, Some(identity));
        assert_eq!(message_name(identity, 0, 1).database, Some(identity));
        assert_eq!(message_name(identity, 40, 41).row, 41);
    }

    #[test]
    fn an_old_database_gets_an_identity_its_queued_rows_do_not_use() {
        let connection = rusqlite::Connection::open_in_memory().unwrap();
        for migration in &super::super::migrations::MIGRATIONS[..15] {
            connection.execute_batch(migration).unwrap();
        }
        connection.pragma_update(None, "user_version", 15).unwrap();
        connection
            .execute_batch(
                "INSERT INTO outgoing (claim_key, file_name, recipient, state, parts_total,
                     next_attempt_ms, created_ms, updated_ms)
                 VALUES ('name:OUT+1.txt', 'OUT+1.txt', '+1', 'resolving', 1, 0, 0, 0),
                        ('name:OUT+2.txt', 'OUT+2.txt', '+2', 'queued', 1, 0, 0, 0);",
            )
            .unwrap();
        let mut store = Store::setup(connection).unwrap();
        // Queued before the upgrade: the names they may have been handed
        // over under already.
        assert_eq!(store.message_name(1).unwrap().database, None);
        assert_eq!(store.message_name(2).unwrap().database, None);
        let id = store
            .enqueue("OUT+3.txt", &super::super::FileId::default(), "+3", 1, 5)
            .unwrap()
            .id;
        assert!(id > 2);
        assert!(store.message_name(id).unwrap().database.is_some());
    }

    #[test]
    fn each_database_has_an_identity_of_its_own_kept_across_opens() {
        let dir = std::env::temp_dir().join(format!("simgate-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let first = Store::open(&dir.join("one.db")).unwrap();
        let second = Store::open(&dir.join("two.db")).unwrap();
        let name = first.message_name(1).unwrap();
        assert!(name.database.is_some(), "a new database names every row");
        assert_ne!(name, second.message_name(1).unwrap());
        drop(first);
        let again = Store::open(&dir.join("one.db")).unwrap();
        assert_eq!(again.message_name(1).unwrap(), name);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
