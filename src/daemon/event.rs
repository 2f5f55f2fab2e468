//! What the daemon reports as it works: one [`DaemonEvent`] per thing
//! that happened, for `simgate demo`, the tests and the benchmarks.

/// What the daemon reports as it works (for `simgate demo` and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonEvent {
    /// The device is ready (a new session).
    ModemReady {
        /// Manufacturer and model.
        model: String,
    },
    /// The device's session ended (unplugged, reset, reconnecting): no
    /// send is begun until the next [`DaemonEvent::ModemReady`].
    ModemLost,
    /// A file was taken in and its message queued.
    Queued {
        /// The file name.
        file: String,
    },
    /// A message went out and its file moved to sent/.
    Sent {
        /// The file name.
        file: String,
        /// TP-MR of each part.
        references: Vec<u8>,
    },
    /// A message arrived and its inbox files were written.
    Received {
        /// The inbox file names, in part order.
        files: Vec<String>,
    },
    /// An incoming call was noticed (and hung up with HangupCalls).
    Call {
        /// The caller, empty when withheld or unknown.
        caller: String,
    },
    /// The receiving storage is still nearly full after a read.
    StorageNearlyFull {
        /// Messages in it.
        used: u32,
        /// Its capacity.
        total: u32,
    },
    /// A message failed and its file moved to error/.
    Failed {
        /// The file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// The month's parts reached the budget's warning threshold (once a
    /// month).
    BudgetWarning {
        /// The month, `YYYY-MM`.
        month: String,
        /// Parts used.
        used: u64,
        /// The monthly budget.
        budget: u32,
    },
    /// A send failed in a way worth another try: the message waits, its
    /// file back in outbox/.
    Waiting {
        /// The file name.
        file: String,
        /// Why.
        reason: String,
    },
    /// The file of a finished message, which could not be moved before,
    /// was moved to sent/ or error/ after all.
    FileMoved {
        /// The file name.
        file: String,
    },
    /// The disk under the state database is full: nothing is sent or
    /// received until there is room (each outbox file waits in the outbox,
    /// each incoming message stays on the device), and the daemon goes on
    /// by itself once there is.
    WaitingForRoom {
        /// The database.
        database: std::path::PathBuf,
        /// What said so.
        reason: String,
    },
    /// A waiting message was cancelled: its file was deleted (or replaced)
    /// in outbox/ before it went out.
    Cancelled {
        /// The file name.
        file: String,
        /// Why.
        reason: String,
    },
}
