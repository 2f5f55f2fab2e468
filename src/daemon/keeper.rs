//! The owner of what blocks: the daemon's SQLite store and its spool file
//! operations (reads, renames, fsyncs) are kept here, and every use of
//! them runs on tokio's blocking pool (`spawn_blocking`), never on the
//! event loop: a burst of files being taken in, or a commit waiting for its
//! fsync, does not keep the loop from a `+CMTI`, a signal or the watchdog.
//!
//! A job is a closure over the state ([`Keeper::call`]). The daemon's loop
//! hands over one job at a time and awaits it, so jobs run in the order
//! they were handed over, each to its end (its commits included) before
//! the next. A commit that is synced as a group ([`Keeper::call_synced`])
//! is waited for after the state is free again: the fsync does not hold
//! up the other modems' jobs. The blocking pool also keeps tokio's paused test clock from
//! jumping ahead while a job runs, so tests with paused time stay exact.

use crate::store::{StoreError, Ticket};
use std::sync::{Arc, Mutex, PoisonError};

/// The handle the event loop holds.
pub(super) struct Keeper<S> {
    state: Arc<Mutex<S>>,
}

impl<S> Clone for Keeper<S> {
    /// Another handle on the same state (another modem's loop): jobs from
    /// every handle run one at a time.
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<S: Send + 'static> Keeper<S> {
    /// Keeps `state`.
    pub(super) fn new(state: S) -> Self {
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Runs `job` on the blocking pool and waits (asynchronously) for its
    /// answer. A job that panicked panics here too: the state may be half
    /// changed, and the daemon stops rather than go on with it.
    pub(super) async fn call<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut S) -> R + Send + 'static,
    ) -> R {
        let state = Arc::clone(&self.state);
        let joined = tokio::task::spawn_blocking(move || {
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            job(&mut state)
        })
        .await;
        match joined {
            Ok(answer) => answer,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a keeper job was cancelled: {error}"),
        }
    }

    /// Runs `job` as [`Keeper::call`] does, then, with the state free for
    /// the next job (another modem's), waits on the same thread until the
    /// commit the job made is on disk ([`Ticket::wait`]): what the answer
    /// announces may be acted on when it comes. A failed sync is the
    /// answer's error.
    pub(super) async fn call_synced<R: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        job: impl FnOnce(&mut S) -> Result<(R, Ticket), E> + Send + 'static,
    ) -> Result<R, E> {
        let state = Arc::clone(&self.state);
        let joined = tokio::task::spawn_blocking(move || {
            let done = {
                let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
                job(&mut state)
            };
            let (answer, ticket) = done?;
            ticket.wait().map_err(StoreError::Sync)?;
            Ok(answer)
        })
        .await;
        match joined {
            Ok(answer) => answer,
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(error) => panic!("a keeper job was cancelled: {error}"),
        }
    }

    /// Ends the keeping: the state is dropped on the blocking pool (closing
    /// a database may checkpoint it).
    pub(super) async fn close(self) {
        let state = self.state;
        let _ = tokio::task::spawn_blocking(move || drop(state)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn jobs_run_in_order_off_the_event_loop() {
        let keeper = Keeper::new(Vec::<u32>::new());
        let here = std::thread::current().id();
        for n in 0..3 {
            let there = keeper
                .call(move |state: &mut Vec<u32>| {
                    state.push(n);
                    std::thread::current().id()
                })
                .await;
            assert_ne!(there, here, "the job ran on the event loop's thread");
        }
        assert_eq!(keeper.call(|state| state.clone()).await, [0, 1, 2]);
        keeper.close().await;
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn paused_time_does_not_jump_while_a_job_runs() {
        let keeper = Keeper::new(());
        let before = tokio::time::Instant::now();
        // A timer is pending; a runtime with nothing to do would jump to it.
        let timer = tokio::time::sleep(std::time::Duration::from_secs(3600));
        tokio::pin!(timer);
        let job = keeper.call(|()| std::thread::sleep(std::time::Duration::from_millis(50)));
        tokio::select! {
            () = job => {}
            () = &mut timer => panic!("the paused clock jumped while a job ran"),
        }
        assert!(tokio::time::Instant::now() - before < std::time::Duration::from_secs(1));
    }
}
