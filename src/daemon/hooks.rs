//! Running the user's hooks (RunOnReceive, RunOnSent, RunOnFailure,
//! RunOnIncomingCall) as gammu-smsd does, without its shell injection.
//!
//! The configured command line still goes through `/bin/sh -c`, so configs
//! with arguments or pipes keep working, but the untrusted values (file
//! names, numbers, text) never enter the shell string: they follow as
//! positional parameters (`"$@"`, as gammu 1.43.3 does) and as environment
//! variables. Standard input is `/dev/null`; output is logged line by line;
//! a hook that outlives its timeout is killed. Hooks run in their own task,
//! so they never block sending or receiving.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Which hook, for logs (gammu's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    /// RunOnReceive.
    Receive,
    /// RunOnSent.
    Sent,
    /// RunOnFailure.
    Failure,
    /// RunOnIncomingCall.
    IncomingCall,
}

impl HookKind {
    fn word(self) -> &'static str {
        match self {
            Self::Receive => "receive",
            Self::Sent => "sent",
            Self::Failure => "failure",
            Self::IncomingCall => "incoming call",
        }
    }
}

/// One hook invocation.
#[derive(Debug, Clone)]
pub struct Hook {
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
pub enum HookOutcome {
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
    pub fn argv(&self) -> Vec<String> {
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
    pub async fn run(self) -> HookOutcome {
        self.start().await
    }

    async fn wait(&self, child: &mut tokio::process::Child) -> HookOutcome {
        let kind = self.kind.word();
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(log_lines(BufReader::new(stdout), kind, false)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(log_lines(BufReader::new(stderr), kind, true)));
        }
        let outcome = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) => match status.code() {
                Some(code) => HookOutcome::Exited(code),
                None => HookOutcome::Signalled,
            },
            Ok(Err(error)) => HookOutcome::NotStarted(error.to_string()),
            Err(_) => {
                let _ = child.kill().await;
                HookOutcome::TimedOut
            }
        };
        for reader in readers {
            let _ = reader.await;
        }
        match &outcome {
            HookOutcome::Exited(0) => tracing::info!(hook = kind, "hook finished successfully"),
            HookOutcome::Exited(code) => {
                tracing::error!(hook = kind, code, "hook failed with exit status")
            }
            HookOutcome::Signalled => tracing::error!(hook = kind, "hook killed by a signal"),
            HookOutcome::TimedOut => {
                tracing::error!(hook = kind, timeout = ?self.timeout, "hook ran past its timeout and was killed")
            }
            HookOutcome::NotStarted(_) => {}
        }
        outcome
    }

    /// Starts the hook's process before returning, and waits for it in its
    /// own task; the caller goes on at once.
    pub fn spawn(self) -> tokio::task::JoinHandle<HookOutcome> {
        tokio::spawn(self.start())
    }
}

async fn log_lines<R: tokio::io::AsyncBufRead + Unpin>(
    reader: R,
    hook: &'static str,
    stderr: bool,
) {
    let mut lines = reader.lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if stderr {
            tracing::warn!(hook, %line, "hook stderr");
        } else {
            tracing::info!(hook, %line, "hook output");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[tokio::test(start_paused = true)]
    async fn a_hook_past_its_timeout_is_killed() {
        let mut h = hook("exec sleep 600", &[]);
        h.timeout = Duration::from_secs(5);
        assert_eq!(h.run().await, HookOutcome::TimedOut);
    }
}
