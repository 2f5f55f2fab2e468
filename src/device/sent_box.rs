//! Settling a web stick's send in doubt from its sent box: HiLink and ZTE
//! sticks answer a send request and then work on it, so when the answer or
//! the status was lost, the stick is asked until it is no longer sending,
//! and its sent box then says whether the message went out. Each stick
//! supplies its own two questions; the waiting, the retries and what the
//! answers mean are here, once.

use super::{DeviceError, FailureKind};
use crate::redact::Scrub;
use std::fmt::Display;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// How long to wait before asking again after a question failed.
const ASK_AGAIN: Duration = Duration::from_secs(1);

/// Asks, until `send_timeout` has passed, whether the stick is `still_sending`
/// (asked again after `poll` while it is) and then whether its sent box
/// shows the message: `Ok` when it does (it went out), an ambiguous
/// failure naming `reason` when it does not or the stick could not be
/// asked in time.
pub(crate) async fn settle<E, Sending, Shown>(
    reason: &str,
    send_timeout: Duration,
    poll: Duration,
    mut still_sending: impl FnMut() -> Sending,
    mut in_sent_box: impl FnMut() -> Shown,
) -> Result<(), DeviceError>
where
    E: Display,
    Sending: Future<Output = Result<bool, E>>,
    Shown: Future<Output = Result<bool, E>>,
{
    tracing::warn!(reason = %Scrub(reason), "a send is in doubt; asking the stick's sent box");
    let deadline = Instant::now() + send_timeout;
    let mut last_error = reason.to_owned();
    while Instant::now() < deadline {
        match still_sending().await {
            Ok(true) => {
                tokio::time::sleep(poll).await;
                continue;
            }
            Ok(false) => {}
            Err(error) => {
                last_error = error.to_string();
                tokio::time::sleep(ASK_AGAIN).await;
                continue;
            }
        }
        match in_sent_box().await {
            Ok(true) => {
                tracing::info!("settled: the stick's sent box shows the message; it went out");
                return Ok(());
            }
            Ok(false) => {
                return Err(ambiguous(format!(
                    "{reason}; the stick's sent box does not show the message, so it may or may not have gone out"
                )))
            }
            Err(error) => {
                last_error = error.to_string();
                tokio::time::sleep(ASK_AGAIN).await;
            }
        }
    }
    Err(ambiguous(format!(
        "{reason}; the stick could not be asked whether it went out ({last_error})"
    )))
}

fn ambiguous(message: String) -> DeviceError {
    DeviceError {
        kind: FailureKind::Ambiguous,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_sent_box_settles_once_the_stick_is_done() {
        let asked = std::cell::Cell::new(0);
        let settled = settle(
            "lost",
            Duration::from_secs(10),
            Duration::from_millis(250),
            || {
                asked.set(asked.get() + 1);
                // Sending twice, a failed question, then done.
                let answer = match asked.get() {
                    1 | 2 => Ok(true),
                    3 => Err("refused"),
                    _ => Ok(false),
                };
                std::future::ready(answer)
            },
            || std::future::ready(Ok::<_, &str>(true)),
        )
        .await;
        assert!(settled.is_ok());
        assert_eq!(asked.get(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn not_in_the_sent_box_or_never_answered_is_ambiguous() {
        let absent = settle(
            "lost",
            Duration::from_secs(10),
            Duration::from_millis(250),
            || std::future::ready(Ok::<_, &str>(false)),
            || std::future::ready(Ok::<_, &str>(false)),
        )
        .await
        .unwrap_err();
        assert_eq!(absent.kind, FailureKind::Ambiguous);
        assert!(
            absent.message.contains("does not show the message"),
            "{absent:?}"
        );
        let silent = settle(
            "lost",
            Duration::from_secs(3),
            Duration::from_millis(250),
            || std::future::ready(Err::<bool, _>("connection refused")),
            || std::future::ready(Ok::<_, &str>(true)),
        )
        .await
        .unwrap_err();
        assert_eq!(silent.kind, FailureKind::Ambiguous);
        assert!(silent.message.contains("connection refused"), "{silent:?}");
    }
}
