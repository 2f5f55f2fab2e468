//! The schema, as ordered migrations applied through `PRAGMA user_version`.
//! A migration is never edited once released; a change is a new one.

/// Migration `n` takes the database from version `n` to `n + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: outgoing messages and their parts.
    "CREATE TABLE outgoing (
        id              INTEGER PRIMARY KEY,
        claim_key       TEXT NOT NULL UNIQUE,
        file_name       TEXT NOT NULL,
        recipient       TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('queued','sending','sent','failed','ambiguous')),
        parts_total     INTEGER NOT NULL CHECK (parts_total BETWEEN 1 AND 255),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        last_error      TEXT,
        created_ms      INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL,
        finished_ms     INTEGER
    );
    CREATE INDEX outgoing_due ON outgoing (state, next_attempt_ms);
    CREATE TABLE outgoing_part (
        message_id      INTEGER NOT NULL REFERENCES outgoing (id) ON DELETE CASCADE,
        part            INTEGER NOT NULL CHECK (part >= 1),
        state           TEXT NOT NULL CHECK (state IN ('pending','sending','sent','ambiguous')),
        message_ref     INTEGER,
        sent_ms         INTEGER,
        report_status   INTEGER,
        report_outcome  TEXT,
        discharge_time  TEXT,
        PRIMARY KEY (message_id, part)
    );
    CREATE INDEX outgoing_part_ref ON outgoing_part (message_ref, state);",
    // 2: received messages: each part as stored on the SIM (keyed on its
    // content, so a restart never writes an inbox file twice), the messages
    // assembled from them, and PDUs that did not decode.
    "CREATE TABLE incoming (
        id              INTEGER PRIMARY KEY,
        state           TEXT NOT NULL CHECK (state IN ('writing','written')),
        complete        INTEGER NOT NULL,
        files           TEXT NOT NULL,
        created_ms      INTEGER NOT NULL
    );
    CREATE TABLE incoming_part (
        id              INTEGER PRIMARY KEY,
        content_key     TEXT NOT NULL UNIQUE,
        pdu             BLOB NOT NULL,
        sender          TEXT NOT NULL,
        concat_ref      INTEGER,
        concat_total    INTEGER,
        concat_seq      INTEGER,
        received_ms     INTEGER NOT NULL,
        message_id      INTEGER REFERENCES incoming (id)
    );
    CREATE INDEX incoming_part_open ON incoming_part (sender, concat_ref, concat_total)
        WHERE message_id IS NULL;
    CREATE TABLE undecodable (
        id              INTEGER PRIMARY KEY,
        content_key     TEXT NOT NULL UNIQUE,
        pdu_hex         TEXT NOT NULL,
        reason          TEXT NOT NULL,
        received_ms     INTEGER NOT NULL
    );
    CREATE TABLE call (
        id              INTEGER PRIMARY KEY,
        caller          TEXT NOT NULL,
        hung_up         INTEGER NOT NULL,
        at_ms           INTEGER NOT NULL
    );
    CREATE TABLE status_report (
        id              INTEGER PRIMARY KEY,
        content_key     TEXT NOT NULL UNIQUE,
        message_ref     INTEGER NOT NULL,
        recipient       TEXT NOT NULL,
        status          INTEGER NOT NULL,
        discharge_time  TEXT NOT NULL,
        message_id      INTEGER,
        part            INTEGER,
        received_ms     INTEGER NOT NULL
    );",
    // 3: whether a received message's RunOnReceive hook is still to be
    // started, so a simgate killed between writing the files and starting
    // the hook starts it after the restart.
    "ALTER TABLE incoming ADD COLUMN hook TEXT NOT NULL DEFAULT 'none'
        CHECK (hook IN ('none', 'pending', 'started'));",
    // 4: an outbox file stays in outbox/ while its message waits, so a
    // message is keyed on its file name while it is active (`name:<name>`)
    // and remembers which file it is (device, inode, size, modification
    // time) to tell a replaced file from its own; new states `resolving`
    // (a part may have gone out: the modem's TP-MR counter will tell) and
    // `cancelled` (its file was deleted from outbox/ before it was sent);
    // `file_pending` when a finished file could not be moved yet; each
    // part's `mr_before`, the TP-MR the modem had used last before it; what
    // the SIM did with a PIN (so a rejected PIN is never entered twice);
    // facts learnt about a modem (whether its SIM keeps the TP-MR counter).
    // SQLite cannot change a CHECK constraint, so `outgoing` is rebuilt
    // (foreign keys are off while migrations run).
    "CREATE TABLE outgoing_v4 (
        id              INTEGER PRIMARY KEY,
        claim_key       TEXT NOT NULL UNIQUE,
        file_name       TEXT NOT NULL,
        file_id         TEXT NOT NULL DEFAULT '',
        recipient       TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN
                            ('queued','sending','resolving','sent','failed','ambiguous','cancelled')),
        parts_total     INTEGER NOT NULL CHECK (parts_total BETWEEN 1 AND 255),
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        last_error      TEXT,
        created_ms      INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL,
        finished_ms     INTEGER,
        file_pending    INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO outgoing_v4 (id, claim_key, file_name, recipient, state, parts_total, attempts,
                             next_attempt_ms, last_error, created_ms, updated_ms, finished_ms)
        SELECT id, CASE WHEN claim_key LIKE 'claim:%' THEN 'name:' || substr(claim_key, 7)
                        ELSE claim_key END,
               file_name, recipient, state, parts_total, attempts, next_attempt_ms, last_error,
               created_ms, updated_ms, finished_ms
        FROM outgoing;
    DROP TABLE outgoing;
    ALTER TABLE outgoing_v4 RENAME TO outgoing;
    CREATE INDEX outgoing_due ON outgoing (state, next_attempt_ms);
    ALTER TABLE outgoing_part ADD COLUMN mr_before INTEGER;
    CREATE TABLE pin_attempt (
        sim             TEXT NOT NULL,
        pin_hash        TEXT NOT NULL,
        outcome         TEXT NOT NULL CHECK (outcome IN ('entering','accepted','rejected')),
        at_ms           INTEGER NOT NULL,
        PRIMARY KEY (sim, pin_hash)
    );
    CREATE INDEX incoming_unwritten ON incoming (id) WHERE state = 'writing';
    CREATE TABLE modem_fact (
        modem           TEXT NOT NULL,
        fact            TEXT NOT NULL,
        value           TEXT NOT NULL,
        PRIMARY KEY (modem, fact)
    );",
    // 5: what rate limits count: each message once, from the start of its
    // first attempt (kept while limits are set; a day is all they read).
    "CREATE TABLE send_usage (
        message_id      INTEGER PRIMARY KEY,
        destination     TEXT NOT NULL,
        parts           INTEGER NOT NULL,
        at_ms           INTEGER NOT NULL
    );
    CREATE INDEX send_usage_at ON send_usage (at_ms);",
    // 6: what the monthly budget counts: each part handed to the device,
    // once (a part known not to have gone out is taken back), and the
    // months whose budget warning was given.
    "CREATE TABLE parts_used (
        message_id      INTEGER NOT NULL,
        part            INTEGER NOT NULL,
        at_ms           INTEGER NOT NULL,
        PRIMARY KEY (message_id, part)
    );
    CREATE INDEX parts_used_at ON parts_used (at_ms);
    CREATE TABLE budget_warning (
        month_start_ms  INTEGER PRIMARY KEY,
        at_ms           INTEGER NOT NULL
    );",
    // 7: what the HTTP API queued: one row per
    // request that queued a message (the client it counts against, its
    // Idempotency-Key, the outbox file it wrote), kept so the per-client
    // limit and a retried request survive a restart; and the device's
    // latest status, which the daemon keeps for `simgate status`.
    "CREATE TABLE http_request (
        id              INTEGER PRIMARY KEY,
        client          TEXT NOT NULL,
        idempotency_key TEXT UNIQUE,
        number          TEXT NOT NULL,
        text_hash       TEXT NOT NULL,
        file_name       TEXT NOT NULL,
        created_ms      INTEGER NOT NULL
    );
    CREATE INDEX http_request_client ON http_request (client, created_ms);
    CREATE TABLE device_status (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        state           TEXT NOT NULL,
        detail          TEXT,
        model           TEXT,
        signal_dbm      INTEGER,
        signal_percent  INTEGER,
        registered      INTEGER,
        operator        TEXT,
        pid             INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL
    );",
    // 8: webhooks waiting to be posted: one row per
    // event and URL, kept until the URL answers 2xx or the retry time
    // runs out, so a restart loses none. `event_id` is shared by the rows
    // of one event (it is the id receivers see, so AUTOINCREMENT: an id
    // is never used again once its event is gone).
    "CREATE TABLE webhook_event (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        kind            TEXT NOT NULL,
        body            TEXT NOT NULL,
        created_ms      INTEGER NOT NULL
    );
    CREATE TABLE webhook_delivery (
        event_id        INTEGER NOT NULL REFERENCES webhook_event (id) ON DELETE CASCADE,
        url             TEXT NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_ms         INTEGER NOT NULL,
        last_error      TEXT,
        PRIMARY KEY (event_id, url)
    );
    CREATE INDEX webhook_delivery_due ON webhook_delivery (next_ms);",
    // 9: what a phone acting as the modem says about itself (battery,
    // network, SIMs), as JSON, for `simgate status`.
    "ALTER TABLE device_status ADD COLUMN phone TEXT;",
    // 10: several modems in one daemon: which modem a part was handed to
    // (a part in doubt is settled by that modem only), and each modem's
    // status under its name (row 1 is the first modem).
    // (SQLite cannot drop the CHECK that kept one row: the table is made
    // again.)
    "ALTER TABLE outgoing_part ADD COLUMN modem TEXT;
    CREATE TABLE device_status_by_modem (
        id              INTEGER PRIMARY KEY CHECK (id >= 1),
        state           TEXT NOT NULL,
        detail          TEXT,
        model           TEXT,
        signal_dbm      INTEGER,
        signal_percent  INTEGER,
        registered      INTEGER,
        operator        TEXT,
        pid             INTEGER NOT NULL,
        updated_ms      INTEGER NOT NULL,
        phone           TEXT,
        name            TEXT
    );
    INSERT INTO device_status_by_modem (id, state, detail, model, signal_dbm, signal_percent,
                                        registered, operator, pid, updated_ms, phone)
        SELECT id, state, detail, model, signal_dbm, signal_percent, registered, operator,
               pid, updated_ms, phone FROM device_status;
    DROP TABLE device_status;
    ALTER TABLE device_status_by_modem RENAME TO device_status;",
    // 11: which modem sent what the rate limits count, for each modem's
    // own limits.
    "ALTER TABLE send_usage ADD COLUMN modem TEXT;",
    // 12: what a device keeps noted for simgate status: its storage use
    // and the last fault it met.
    "ALTER TABLE device_status ADD COLUMN storage_used INTEGER;
    ALTER TABLE device_status ADD COLUMN storage_total INTEGER;
    ALTER TABLE device_status ADD COLUMN fault TEXT;
    ALTER TABLE device_status ADD COLUMN fault_ms INTEGER;",
    // 13: the modem a message is bound to, once a part of it went out (or
    // may have) through that modem: its other parts, and a part in doubt
    // handed back, go through that modem only (NULL: any modem); and
    // which parts were in doubt once and handed back to their modem (they
    // keep the message bound until that modem settles them).
    "ALTER TABLE outgoing ADD COLUMN modem TEXT;
    ALTER TABLE outgoing_part ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;",
    // 14: the queue in the order it is sent (file name, then id), for
    // picking the next message due without sorting the whole queue; only
    // queued messages are in it.
    "CREATE INDEX outgoing_queue ON outgoing (file_name, id) WHERE state = 'queued';",
    // 15: the parts by their reference (for matching status reports) hold
    // only the parts that have one: an entry is written once, when the
    // part went out, instead of moving at each change of its state (two
    // index pages fewer in the WAL a message).
    "DROP INDEX outgoing_part_ref;
    CREATE INDEX outgoing_part_ref ON outgoing_part (message_ref) WHERE message_ref IS NOT NULL;",
    // 16: the database's identity: 16 random bytes made once, mixed into
    // the name each message is handed to a device under (a phone app's
    // message id, a web stick's journal key), so that another database's
    // message (a fresh database after a reset, a second daemon) is never
    // taken for a retry of this one's. The rows queued before (up to
    // `legacy_through`) keep the names they had, so a retry of one after
    // the upgrade is still known as a retry.
    "CREATE TABLE database_identity (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        identity        BLOB NOT NULL CHECK (length(identity) = 16),
        legacy_through  INTEGER NOT NULL
    );
    INSERT INTO database_identity (id, identity, legacy_through)
        SELECT 1, randomblob(16), COALESCE(MAX(id), 0) FROM outgoing;",
    // 17: the assembled parts of concatenated messages by sender and
    // reference: where a part the network repeats finds its original at
    // every concatenated message completed. Without it that lookup read
    // the whole table, which keeps every part ever received.
    "CREATE INDEX incoming_part_assembled ON incoming_part (sender, concat_ref, concat_total)
        WHERE message_id IS NOT NULL AND concat_ref IS NOT NULL;",
    // 18: a modem that takes nothing for a while though it is ready (at
    // its own rate limit, or held back after failing sends), until when
    // and why, for `simgate status`.
    "ALTER TABLE device_status ADD COLUMN paused_until_ms INTEGER;
    ALTER TABLE device_status ADD COLUMN paused_reason TEXT;",
    // 19: why the daemon (process `pid`) has no inotify watch on the
    // outbox though the folder is there (an inotify limit reached), since
    // when; no row, or `reason` NULL, while it is watched. For `simgate
    // status`: the daemon then looks at the outbox every second instead.
    "CREATE TABLE outbox_watch (
        id              INTEGER PRIMARY KEY CHECK (id = 1),
        reason          TEXT,
        since_ms        INTEGER NOT NULL,
        pid             INTEGER NOT NULL
    );",
];
