//! Running the user's hooks (RunOnReceive, RunOnSent, RunOnFailure,
//! RunOnIncomingCall) as gammu-smsd does, without its shell injection.
//!
//! The configured command line still goes through `/bin/sh -c`, so configs
//! with arguments or pipes keep working, but the untrusted values (file
//! names, numbers, text) never enter the shell string: they follow as
//! positional parameters (`"$@"`, as gammu 1.43.3 does) and as environment
//! variables. Standard input is `/dev/null`; output is logged line by
//! line, within limits ([`output`]): long lines are cut, a run logs at most
//! so many lines and bytes, and the pipes are drained to the end so a hook
//! never blocks on them; what was dropped is logged once.
//! Each hook runs in a process group of its own: a hook that outlives its
//! timeout is killed with everything it started (the shell, the script and
//! their children), and the log says so.
//!
//! Hooks run one at a time, in the order they were asked for, as
//! gammu-smsd runs them ([`HookQueue`]): a hook written for gammu may use a
//! fixed temporary file or one database, or look at "the newest inbox
//! file". Unlike gammu's, they run in a task of their own, so sending and
//! receiving do not wait for them, until [`WAITING_MAX`] wait their turn:
//! then no more messages are sent until one starts (gammu's pace, but only
//! then). At a stop the hooks still queued may start for [`STOP_DEADLINE`];
//! those that did not are logged as not run (a RunOnReceive not started
//! by then is on record and runs at the next start).

mod output;

use crate::redact::Scrub;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use output::{Limits, Line, Output, Stream};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Bytes read from a hook's pipe at a time.
const READ_CHUNK: usize = 8192;

/// How long the output may stay open after the hook's process group was
/// killed. Only a process that left the group (`setsid`) can hold it
/// longer; reading then stops, and that process meets a closed pipe.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// Which hook, for logs (gammu's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HookKind {
    /// RunOnReceive.
    Receive,
    /// RunOnSent.
    Sent,
    /// RunOnFailure.
    Failure,
    /// RunOnIncomingCall.
    IncomingCall,
    /// run_on_budget_warning.
    BudgetWarning,
}

impl HookKind {
    fn word(self) -> &'static str {
        match self {
            Self::Receive => "receive",
            Self::Sent => "sent",
            Self::Failure => "failure",
            Self::IncomingCall => "incoming call",
            Self::BudgetWarning => "budget warning",
        }
    }
}

/// One hook invocation.
#[derive(Debug, Clone)]
pub(crate) struct Hook {
    /// Which hook.
    pub kind: HookKind,
    /// The configured command line, run by `/bin/sh -c`.
    pub command: String,
    /// Values passed as positional parameters.
    pub args: Vec<String>,
    /// Variables added to the inherited environment.
    pub env: BTreeMap<String, String>,
    /// How long it may run before it is killed.
    pub timeout: Duration,
}

/// How a hook ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HookOutcome {
    /// Exited with this status (0 is success).
    Exited(i32),
    /// Killed by a signal.
    Signalled,
    /// Ran past its timeout and was killed.
    TimedOut,
    /// Could not be started.
    NotStarted(String),
}

impl Hook {
    /// The argv for `/bin/sh`: the configured line with `"$@"` appended, then
    /// `sh` as `$0` and the arguments as `$1`...
    pub(crate) fn argv(&self) -> Vec<String> {
        let mut argv = vec![
            "-c".to_owned(),
            format!("{} \"$@\"", self.command),
            "sh".to_owned(),
        ];
        argv.extend(self.args.iter().cloned());
        argv
    }

    /// Starts the hook's process now (so it runs even if simgate dies the
    /// next moment) and returns a future that waits for it, or its timeout,
    /// logging its output. A hook is not killed when simgate stops, as
    /// gammu-smsd's are not; only its timeout kills it.
    fn start(self) -> impl std::future::Future<Output = HookOutcome> + Send + 'static {
        tracing::info!(hook = self.kind.word(), command = %self.command, args = self.args.len(), "starting hook");
        let started = Command::new("/bin/sh")
            .args(self.argv())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A group of its own (pgid = the shell's pid), so the timeout
            // reaches what the shell started, and a Ctrl-C meant for a
            // foreground simgate does not.
            .process_group(0)
            .spawn();
        async move {
            let mut child = match started {
                Ok(child) => child,
                Err(error) => {
                    tracing::error!(hook = self.kind.word(), %error, "cannot start hook");
                    return HookOutcome::NotStarted(error.to_string());
                }
            };
            self.wait(&mut child).await
        }
    }

    /// Runs the hook to completion (or its timeout), logging its output.
    #[cfg(test)]
    pub(crate) async fn run(self) -> HookOutcome {
        self.start().await
    }

    async fn wait(&self, child: &mut tokio::process::Child) -> HookOutcome {
        let kind = self.kind.word();
        let deadline = tokio::time::Instant::now() + self.timeout;
        // The shell's pid is its group's id; it stays reserved until the
        // shell is reaped, and as long as any member of the group lives.
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let mut output = tokio::spawn(log_output(stdout, stderr, kind, Limits::DEFAULT));
        let outcome = match tokio::time::timeout_at(deadline, child.wait()).await {
            Ok(Ok(status)) => match status.code() {
                Some(code) => HookOutcome::Exited(code),
                None => HookOutcome::Signalled,
            },
            Ok(Err(error)) => HookOutcome::NotStarted(error.to_string()),
            Err(_) => {
                // Kill the group before reaping the shell, so its id cannot
                // have been reused.
                if !kill_group(group, kind) {
                    let _ = child.start_kill();
                }
                let _ = child.wait().await;
                HookOutcome::TimedOut
            }
        };
        // The output ends when every process holding the pipes has ended:
        // processes the shell left running in the background count as part
        // of the hook, and fall under its timeout too.
        if tokio::time::timeout_at(deadline, &mut output)
            .await
            .is_err()
        {
            if outcome != HookOutcome::TimedOut {
                tracing::error!(
                    hook = kind,
                    timeout = ?self.timeout,
                    "processes the hook started still held its output at its timeout; killed its \
                     process group"
                );
                kill_group(group, kind);
            }
            if tokio::time::timeout(OUTPUT_GRACE, &mut output)
                .await
                .is_err()
            {
                output.abort();
                tracing::warn!(
                    hook = kind,
                    "a process that left the hook's process group still holds its output; \
                     stopped reading it"
                );
            }
        }
        match &outcome {
            HookOutcome::Exited(0) => tracing::info!(hook = kind, "hook finished successfully"),
            HookOutcome::Exited(code) => {
                tracing::error!(hook = kind, code, "hook failed with exit status")
            }
            HookOutcome::Signalled => tracing::error!(hook = kind, "hook killed by a signal"),
            HookOutcome::TimedOut => tracing::error!(
                hook = kind,
                timeout = ?self.timeout,
                "hook ran past its timeout; killed it and every process it started (its \
                 process group)"
            ),
            HookOutcome::NotStarted(_) => {}
        }
        outcome
    }
}

/// The most hooks that wait their turn behind the one running. Once this
/// many wait, no loop sends another message (nor expires one) until one
/// of them starts: sending slows to the hooks' pace, as gammu-smsd's does,
/// but only then, and nothing is dropped. What a turn of a loop already
/// has in hand still queues (the hook of the message just sent, the
/// RunOnReceive of the messages just read, which are on record anyway),
/// so the queue may pass this by a few.
pub(crate) const WAITING_MAX: usize = 64;

/// How long after a stop began the hooks still waiting may start. Those
/// that did not are logged as not run (a RunOnReceive stays on record and
/// runs at the next start); the one running then is not cut short, its
/// own timeout applies. The packaged units' `TimeoutStopSec=180s` leaves
/// the default hook timeout (2 minutes) and the rest of the stop after it.
pub(crate) const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// What runs once a queued hook's process has started (a record that it
/// did).
pub(crate) type AfterStart = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// One hook waiting its turn.
struct Queued {
    hook: Hook,
    after_start: Option<AfterStart>,
}

impl Queued {
    /// Logs that this hook will not run (its file or number scrubbed).
    fn not_run(&self, why: &str) {
        let kind = self.hook.kind.word();
        let args = Scrub(self.hook.args.join(" "));
        if self.hook.kind == HookKind::Receive && self.after_start.is_some() {
            // Its start was never recorded: the next start runs it.
            tracing::warn!(hook = kind, args = %args, "hook not run: {why}; on record, it runs at the next start");
        } else {
            tracing::error!(hook = kind, args = %args, "hook not run: {why}");
        }
    }
}

/// How many hooks wait their turn, shared by the queue's handles and its
/// runner.
struct Waiting {
    count: tokio::sync::watch::Sender<usize>,
    /// The bound was reached (and said) since the queue last emptied.
    full: std::sync::atomic::AtomicBool,
}

impl Waiting {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            count: tokio::sync::watch::channel(0).0,
            full: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn add(&self) {
        let mut reached = false;
        self.count.send_modify(|count| {
            *count += 1;
            reached = *count == WAITING_MAX;
        });
        if reached && !self.full.swap(true, Relaxed) {
            tracing::warn!(
                waiting = WAITING_MAX,
                "the hooks are slower than the messages: {WAITING_MAX} wait their turn; sending waits for room"
            );
        }
    }

    /// One left the queue; how many still wait.
    fn take(&self) -> usize {
        let mut left = 0;
        self.count.send_modify(|count| {
            *count = count.saturating_sub(1);
            left = *count;
        });
        if left == 0 && self.full.swap(false, Relaxed) {
            tracing::info!("the hooks caught up with the messages");
        }
        left
    }
}

/// The daemon's hooks, run one at a time in the order they were queued, by
/// a task of their own ([`HookRunner`]). Cheap to clone: every modem's
/// loop queues into the one runner. At most [`WAITING_MAX`] wait, as long
/// as the loops ask [`HookQueue::has_room`] before taking more work.
#[derive(Clone)]
pub(crate) struct HookQueue {
    sender: tokio::sync::mpsc::UnboundedSender<Queued>,
    waiting: Arc<Waiting>,
}

/// The task that runs the queued hooks; [`HookRunner::finish`] waits for
/// the queue to empty once every [`HookQueue`] is gone, or for
/// [`STOP_DEADLINE`].
pub(crate) struct HookRunner {
    task: tokio::task::JoinHandle<()>,
    /// When the hooks still waiting may no longer start (set at the stop).
    stop_at: tokio::sync::watch::Sender<Option<tokio::time::Instant>>,
}

/// What a loop awaits while the queue is full: room for one more.
pub(crate) struct Room(tokio::sync::watch::Receiver<usize>);

impl Room {
    /// Completes once fewer than [`WAITING_MAX`] hooks wait.
    pub(crate) async fn wait(&mut self) {
        if self.0.wait_for(|count| *count < WAITING_MAX).await.is_err() {
            // The count is kept by the queue itself: never here.
            std::future::pending::<()>().await;
        }
    }
}

impl HookQueue {
    /// A queue whose runner is gone: what a loop holds once the stop took
    /// its queue (every hook asked of it is logged as not run).
    pub(crate) fn closed() -> Self {
        Self {
            sender: tokio::sync::mpsc::unbounded_channel().0,
            waiting: Waiting::new(),
        }
    }

    /// A queue and the task that runs it (on the current runtime).
    pub(crate) fn start() -> (Self, HookRunner) {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel::<Queued>();
        let waiting = Waiting::new();
        let (stop_at, stop_seen) = tokio::sync::watch::channel(None);
        let task = tokio::spawn(run_queue(receiver, Arc::clone(&waiting), stop_seen));
        (Self { sender, waiting }, HookRunner { task, stop_at })
    }

    /// Queues `hook`; it runs after those queued before it.
    pub(crate) fn run(&self, hook: Hook) {
        self.queue(hook, None);
    }

    /// Queues `hook`, and `after_start` to run once its process started.
    pub(crate) fn run_then(&self, hook: Hook, after_start: AfterStart) {
        self.queue(hook, Some(after_start));
    }

    /// Whether fewer than [`WAITING_MAX`] hooks wait: a loop takes no work
    /// that asks for hooks (a message to send) without room.
    pub(crate) fn has_room(&self) -> bool {
        *self.waiting.count.borrow() < WAITING_MAX
    }

    /// What to await for room when [`Self::has_room`] says there is none.
    pub(crate) fn room(&self) -> Room {
        Room(self.waiting.count.subscribe())
    }

    fn queue(&self, hook: Hook, after_start: Option<AfterStart>) {
        self.waiting.add();
        if let Err(refused) = self.sender.send(Queued { hook, after_start }) {
            self.waiting.take();
            // Only after the runner stopped, which is after every loop.
            refused
                .0
                .not_run("asked for after the hooks' runner stopped");
        }
    }
}

/// The runner: each hook in turn, until the queue is closed and empty, or
/// until the stop's deadline; what waits then is logged as not run.
async fn run_queue(
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<Queued>,
    waiting: Arc<Waiting>,
    mut stop_at: tokio::sync::watch::Receiver<Option<tokio::time::Instant>>,
) {
    loop {
        let next = tokio::select! {
            biased;
            () = deadline(&mut stop_at) => break,
            next = receiver.recv() => next,
        };
        let Some(Queued { hook, after_start }) = next else {
            return;
        };
        let left = waiting.take();
        if left > 0 {
            tracing::debug!(
                hook = hook.kind.word(),
                waiting = left,
                "hooks waiting their turn"
            );
        }
        let running = hook.start();
        if let Some(after_start) = after_start {
            after_start.await;
        }
        tokio::pin!(running);
        // The deadline gives up what waits even while a hook runs; the
        // hook itself runs on to its end or its own timeout.
        tokio::select! {
            biased;
            _ = &mut running => continue,
            () = deadline(&mut stop_at) => {}
        }
        give_up(&mut receiver, &waiting);
        running.await;
        return;
    }
    give_up(&mut receiver, &waiting);
}

/// Completes at the stop's deadline (never before a stop).
async fn deadline(stop_at: &mut tokio::sync::watch::Receiver<Option<tokio::time::Instant>>) {
    loop {
        let at = *stop_at.borrow_and_update();
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
            return;
        }
        if stop_at.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// The stop's deadline passed: every hook still waiting is logged, and
/// none is taken any more.
fn give_up(receiver: &mut tokio::sync::mpsc::UnboundedReceiver<Queued>, waiting: &Waiting) {
    receiver.close();
    let mut given_up = 0;
    while let Ok(queued) = receiver.try_recv() {
        waiting.take();
        queued.not_run(&format!(
            "the stop's {}-second deadline for the hooks waiting passed first",
            STOP_DEADLINE.as_secs()
        ));
        given_up += 1;
    }
    if given_up > 0 {
        tracing::error!(given_up, "hooks not run at the stop (listed above)");
    }
}

impl HookRunner {
    /// The stop began: the hooks still waiting may start for
    /// [`STOP_DEADLINE`] from now (from the first call).
    pub(crate) fn stop_began(&self) {
        let at = tokio::time::Instant::now() + STOP_DEADLINE;
        self.stop_at.send_if_modified(|stop_at| {
            let first = stop_at.is_none();
            if first {
                *stop_at = Some(at);
            }
            first
        });
    }

    /// Waits for the hooks still queued to run, once every queue handle is
    /// dropped (each loop's, at the stop), until [`STOP_DEADLINE`] after
    /// the stop began ([`Self::stop_began`], now if not yet called); the
    /// hook running then is waited for to its end or its own timeout.
    pub(crate) async fn finish(self) {
        self.stop_began();
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the hooks' runner ended abnormally");
        }
    }
}

/// SIGKILL to the hook's process group; whether the signal was sent. A
/// group with no member left is not an error.
fn kill_group(group: Option<Pid>, hook: &'static str) -> bool {
    let Some(group) = group else {
        return false;
    };
    match killpg(group, Signal::SIGKILL) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => true,
        Err(error) => {
            tracing::error!(hook, pgid = group.as_raw(), %error, "cannot kill the hook's process group");
            false
        }
    }
}

/// Reads both pipes to their end, logging what fits the limits, then
/// logs once what did not.
async fn log_output(
    mut stdout: Option<impl AsyncRead + Unpin>,
    mut stderr: Option<impl AsyncRead + Unpin>,
    hook: &'static str,
    limits: Limits,
) {
    let mut output = Output::new(limits);
    let mut log = |line: Line| log_line(hook, &line);
    let (mut out_buffer, mut err_buffer) = ([0u8; READ_CHUNK], [0u8; READ_CHUNK]);
    while stdout.is_some() || stderr.is_some() {
        // `read` is cancel-safe: the losing branch has read nothing.
        tokio::select! {
            read = read_some(&mut stdout, &mut out_buffer) => match read {
                Ok(n) if n > 0 => output.feed(Stream::Stdout, &out_buffer[..n], &mut log),
                _ => stdout = None,
            },
            read = read_some(&mut stderr, &mut err_buffer) => match read {
                Ok(n) if n > 0 => output.feed(Stream::Stderr, &err_buffer[..n], &mut log),
                _ => stderr = None,
            },
        }
    }
    let dropped = output.finish(&mut log);
    if dropped.bytes > 0 {
        tracing::warn!(
            hook,
            dropped_bytes = dropped.bytes,
            dropped_lines = dropped.lines,
            "hook output past the log's limits was dropped (lines cut at {} bytes; at most {} \
             lines and {} bytes a run)",
            limits.line,
            limits.lines,
            limits.bytes
        );
    }
}

/// Reads from `reader`; never ready once it is gone.
async fn read_some(
    reader: &mut Option<impl AsyncRead + Unpin>,
    buffer: &mut [u8],
) -> std::io::Result<usize> {
    match reader {
        Some(reader) => reader.read(buffer).await,
        None => std::future::pending().await,
    }
}

fn log_line(hook: &'static str, line: &Line) {
    let text = &line.text;
    match (line.stream, line.cut) {
        (Stream::Stdout, 0) => tracing::info!(hook, line = %text, "hook output"),
        (Stream::Stdout, cut) => {
            tracing::info!(hook, line = %text, cut_bytes = cut, "hook output (cut)")
        }
        (Stream::Stderr, 0) => tracing::warn!(hook, line = %text, "hook stderr"),
        (Stream::Stderr, cut) => {
            tracing::warn!(hook, line = %text, cut_bytes = cut, "hook stderr (cut)")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The packaged units give a stop time for what a stop may wait for
    /// with the default settings: the hooks' start deadline, then the
    /// running hook's timeout. With `TimeoutStopSec=90s` and the 2-minute
    /// default, systemd's SIGKILL came first.
    #[test]
    fn the_units_stop_time_covers_the_hooks_at_a_stop() {
        let needed = STOP_DEADLINE + crate::config::Config::default().hooks.timeout;
        for unit in [
            include_str!("../../packaging/debian/simgate.service"),
            include_str!("../../packaging/debian/simgate@.service"),
        ] {
            let seconds: u64 = unit
                .lines()
                .find_map(|line| line.strip_prefix("TimeoutStopSec="))
                .and_then(|value| value.strip_suffix('s'))
                .and_then(|value| value.parse().ok())
                .expect("TimeoutStopSec=Ns in the unit");
            assert!(
                Duration::from_secs(seconds) >= needed + Duration::from_secs(15),
                "TimeoutStopSec={seconds}s, a stop may take {needed:?} and the rest"
            );
        }
    }

    fn hook(command: &str, args: &[&str]) -> Hook {
        Hook {
            kind: HookKind::Sent,
            command: command.to_owned(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            env: BTreeMap::new(),
            timeout: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn untrusted_values_stay_single_literal_arguments() {
        let dir = std::env::temp_dir().join(format!("simgate-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("args");
        let canary = dir.join("pwned");
        // The configured command has its own argument; the untrusted file
        // name tries to break out of the shell string.
        let evil = format!(
            "IN_My Bank_$(touch {})_;touch {}.txt",
            canary.display(),
            canary.display()
        );
        let command = format!(
            "printf '%s\\n' configured-arg >{0}; printf '%s\\n' >>{0}",
            out.display()
        );
        let outcome = hook(&command, &[&evil, "*"]).run().await;
        assert_eq!(outcome, HookOutcome::Exited(0));
        let written = std::fs::read_to_string(&out).unwrap();
        assert_eq!(written, format!("configured-arg\n{evil}\n*\n"));
        assert!(!canary.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn environment_stdin_and_exit_status() {
        // The variable arrives verbatim; stdin is /dev/null, so `read` meets
        // end of file at once; the exit status is reported.
        let script =
            "test \"$SMS_1_NUMBER\" = '+49 1;x' || exit 2; if read line; then exit 4; fi; exit 7";
        let mut h = hook(script, &[]);
        h.env
            .insert("SMS_1_NUMBER".to_owned(), "+49 1;x".to_owned());
        assert_eq!(h.run().await, HookOutcome::Exited(7));
        let mut h = hook(script, &[]);
        h.env.insert("SMS_1_NUMBER".to_owned(), "other".to_owned());
        assert_eq!(h.run().await, HookOutcome::Exited(2));
    }

    /// Whether `pid` is a live process (a zombie is dead: it only waits to
    /// be reaped by whoever inherited it).
    fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => false,
            Ok(stat) => {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            }
        }
    }

    /// Polls `condition` until it holds, failing the test after `within`
    /// of real time.
    fn poll_until(what: &str, within: Duration, condition: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + within;
        while !condition() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Real time: a paused clock would jump past the hook's timeout while
    /// the runtime waits for the real processes. The hook's clock starts
    /// when its run is first polled, after its child is known to run.
    #[tokio::test]
    async fn a_timeout_kills_the_hooks_whole_process_group() {
        let dir = std::env::temp_dir().join(format!("simgate-hook-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pids = dir.join("pids");
        // The shell starts a child that keeps the output pipes open, records
        // both pids (atomically, by rename), then waits for the child.
        let mut h = hook(
            &format!(
                "sleep 600 & echo $$ $! >{0}.tmp; mv {0}.tmp {0}; wait",
                pids.display()
            ),
            &[],
        );
        h.timeout = Duration::from_millis(200);
        let logs = crate::daemon::logging::capture::start();
        let running = h.start();
        poll_until(
            "the hook never started its child",
            Duration::from_secs(30),
            || pids.exists(),
        );
        let text = std::fs::read_to_string(&pids).unwrap();
        let (shell, child) = text.trim().split_once(' ').unwrap();
        let (shell, child): (i32, i32) = (shell.parse().unwrap(), child.parse().unwrap());
        assert!(alive(shell) && alive(child));
        // The outer bound only turns a hang into a failure.
        let outcome = tokio::time::timeout(Duration::from_secs(60), running)
            .await
            .expect("the hook's run never ended");
        assert_eq!(outcome, HookOutcome::TimedOut);
        assert!(!alive(shell), "the shell outlived the timeout");
        // SIGKILL is delivered asynchronously: give the kernel a moment.
        poll_until(
            "the hook's child outlived the timeout",
            Duration::from_secs(30),
            || !alive(child),
        );
        assert!(
            logs.text()
                .contains("killed it and every process it started (its process group)"),
            "{}",
            logs.text()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// The shell exits at once, its background child keeps the output
    /// open: at the timeout the child is killed, the exit status stays.
    #[tokio::test]
    async fn background_processes_holding_the_output_die_at_the_timeout() {
        let dir = std::env::temp_dir().join(format!("simgate-hook-bg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pids = dir.join("pids");
        let mut h = hook(
            &format!(
                "sleep 600 & echo $! >{0}.tmp; mv {0}.tmp {0}",
                pids.display()
            ),
            &[],
        );
        h.timeout = Duration::from_millis(200);
        let logs = crate::daemon::logging::capture::start();
        let running = h.start();
        poll_until(
            "the hook never started its child",
            Duration::from_secs(30),
            || pids.exists(),
        );
        let child: i32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let outcome = tokio::time::timeout(Duration::from_secs(60), running)
            .await
            .expect("the hook's run never ended");
        assert_eq!(outcome, HookOutcome::Exited(0));
        poll_until(
            "the background child outlived the timeout",
            Duration::from_secs(30),
            || !alive(child),
        );
        assert!(
            logs.text()
                .contains("still held its output at its timeout; killed its process group"),
            "{}",
            logs.text()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// 1 MB without a newline on stdout, then a line on stderr: the pipes
    /// are drained to the end (a hook left blocked on a full pipe would
    /// run into its timeout), one cut line is logged and the drop once.
    #[tokio::test]
    async fn long_output_is_drained_cut_and_counted_once() {
        let logs = crate::daemon::logging::capture::start();
        let outcome = hook(
            "head -c 1000000 /dev/zero | tr '\\000' x; echo done >&2; true",
            &[],
        )
        .run()
        .await;
        assert_eq!(outcome, HookOutcome::Exited(0));
        let text = logs.text();
        let cut: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("hook output (cut)"))
            .collect();
        assert_eq!(cut.len(), 1, "{text:.2000}");
        assert!(cut[0].contains(&format!("line={} ", "x".repeat(4096))));
        assert!(cut[0].contains("cut_bytes=995904"), "{}", cut[0]);
        assert!(
            text.contains("hook stderr hook=\"sent\" line=done"),
            "{text:.2000}"
        );
        assert_eq!(text.matches("was dropped").count(), 1, "{text:.2000}");
        assert!(
            text.contains("dropped_bytes=995904 dropped_lines=0"),
            "{text:.2000}"
        );
    }

    /// At a stop, the hooks still waiting their turn may start for 30
    /// seconds; those that could not are logged, one line each with its
    /// kind and scrubbed file, and a RunOnReceive among them is not
    /// recorded as started (it runs at the next start). The hook running
    /// at the deadline is not cut short: its own timeout still applies.
    /// The runner ran every hook queued, however long that took.
    #[tokio::test(start_paused = true)]
    async fn a_stop_starts_no_hook_past_its_deadline() {
        let dir = std::env::temp_dir().join(format!("simgate-hook-stop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let ran = dir.join("ran");
        let logs = crate::daemon::logging::capture::start();
        let (queue, runner) = HookQueue::start();
        let mut slow = hook("exec sleep 600", &[]);
        slow.timeout = Duration::from_secs(3600);
        queue.run(slow);
        let echo = format!("echo \"$1\" >> {}", ran.display());
        for n in 0..3 {
            queue.run(hook(&echo, &[&format!("OUT+4917600000{n}.txt")]));
        }
        let mut receive = hook(&echo, &["IN20261125_200100_00_+4915100000000_00.txt"]);
        receive.kind = HookKind::Receive;
        let recorded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let record = std::sync::Arc::clone(&recorded);
        queue.run_then(
            receive,
            Box::pin(async move { record.store(true, std::sync::atomic::Ordering::SeqCst) }),
        );
        drop(queue);
        let began = tokio::time::Instant::now();
        runner.finish().await;
        let text = logs.text();
        let not_run: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("hook not run"))
            .collect();
        assert_eq!(not_run.len(), 4, "{text}");
        assert_eq!(
            not_run
                .iter()
                .filter(|l| l.contains("hook=\"sent\""))
                .count(),
            3,
            "{text}"
        );
        assert!(
            not_run
                .iter()
                .all(|l| !l.contains("4917600000") && !l.contains("4915100000")),
            "{text}"
        );
        assert!(
            not_run
                .iter()
                .any(|l| l.contains("hook=\"receive\"") && l.contains("runs at the next start")),
            "{text}"
        );
        assert!(!ran.exists(), "a hook started past the deadline");
        assert!(!recorded.load(std::sync::atomic::Ordering::SeqCst));
        assert!(
            began.elapsed() >= Duration::from_secs(3600),
            "the running hook was cut short of its timeout"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_hook_past_its_timeout_is_killed() {
        let mut h = hook("exec sleep 600", &[]);
        h.timeout = Duration::from_secs(5);
        assert_eq!(h.run().await, HookOutcome::TimedOut);
    }
}
