//! The HTTP API's own threads for what blocks: its SQLite connections and
//! the outbox files it writes. They are not tokio's blocking pool, which
//! the daemon's keeper uses: a flood of requests queues here and never
//! ahead of the daemon's own jobs. Each thread has its own connection; a
//! job is a closure over it, answered through a oneshot channel.

use crate::store::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The threads (they end when the last handle is dropped).
#[derive(Debug, Clone)]
pub(crate) struct Worker {
    jobs: mpsc::Sender<Job>,
}

/// The worker is gone (the daemon is stopping).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the HTTP API's worker threads have stopped")]
pub(crate) struct Stopped;

impl Worker {
    /// Starts `threads` threads, each with a connection to `database`.
    pub(crate) fn start(database: &Path, threads: usize) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads {
            let mut connection = crate::store::http::open(database)?;
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("simgate-http-{n}"))
                .spawn(move || loop {
                    let job = {
                        let queue = queue.lock().unwrap_or_else(|e| e.into_inner());
                        queue.recv()
                    };
                    match job {
                        Ok(job) => job(&mut connection),
                        Err(_) => return,
                    }
                })
                .map_err(|error| {
                    StoreError::Corrupt(format!("cannot start an HTTP worker thread: {error}"))
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on a worker thread and waits (asynchronously) for it.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Connection) -> R + Send + 'static,
    ) -> Result<R, Stopped> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Box::new(move |connection| {
                let _ = answer.send(job(connection));
            }))
            .map_err(|_| Stopped)?;
        answered.await.map_err(|_| Stopped)
    }
}
