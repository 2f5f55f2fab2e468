//! The AT channel: one task owns the modem's byte stream, writes one command
//! at a time, feeds what comes back to the [`Digester`], answers the caller
//! with the command's [`Response`], writes the PDU after the `> ` prompt, and
//! forwards unsolicited result codes.
//!
//! Time comes only from tokio's clock, so tests can pause it. A command that
//! gets no final result within its timeout is abandoned: the digester forgets
//! it, and if the modem was waiting for a PDU it gets ESC. Whether the PDU had
//! already been written is reported, because then the message may have gone
//! out.

use crate::at::{Command, Digester, Event, Response, Urc};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How many unsolicited result codes may wait for the reader before new
/// ones are dropped (messages stay stored on the SIM and are found by the
/// next listing).
const URC_QUEUE: usize = 256;

/// Why a command got no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChannelError {
    /// No final result code in time.
    #[error("no answer to {command} within {timeout:?}{}", if *.after_body { " (after the PDU was written)" } else { "" })]
    Timeout {
        /// The command, PINs redacted.
        command: String,
        /// The timeout that ran out.
        timeout: Duration,
        /// Whether the PDU had been written after the prompt: the message
        /// may have been sent.
        after_body: bool,
    },
    /// The port closed (unplugged, or the task ended).
    #[error("the modem port closed: {reason}{}", if *.after_body { " (after the PDU was written)" } else { "" })]
    Closed {
        /// What happened.
        reason: String,
        /// Whether a PDU had been written for the command in flight: the
        /// message may have been sent.
        after_body: bool,
    },
}

impl ChannelError {
    /// Whether a message may have gone out although no answer said so.
    pub(crate) fn is_ambiguous(&self) -> bool {
        match self {
            Self::Timeout { after_body, .. } | Self::Closed { after_body, .. } => *after_body,
        }
    }
}

fn closed(reason: impl Into<String>, after_body: bool) -> ChannelError {
    ChannelError::Closed {
        reason: reason.into(),
        after_body,
    }
}

/// What follows the `> ` prompt of a command like `AT+CMGS`, and how long
/// the prompt may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    /// The bytes to write after the prompt (the PDU and Ctrl-Z).
    pub bytes: Vec<u8>,
    /// How long to wait for the prompt: modems prompt within a second or
    /// two, so a modem that hangs before it is found out long before the
    /// command's own timeout, and nothing has been written.
    pub prompt_within: Duration,
}

/// A command's response, and whether its body went out before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    /// The response.
    pub response: Response,
    /// Whether the body was written after a prompt (a response without
    /// it means the modem refused before taking anything).
    pub body_written: bool,
}

impl std::ops::Deref for Answer {
    type Target = Response;

    fn deref(&self) -> &Response {
        &self.response
    }
}

type Reply = oneshot::Sender<Result<Answer, ChannelError>>;

struct Request {
    command: Command,
    body: Option<Body>,
    timeout: Duration,
    reply: Reply,
}

struct Pending {
    command: Command,
    body: Option<Body>,
    body_written: bool,
    timeout: Duration,
    deadline: Instant,
    reply: Reply,
}

/// The handle commands are sent through; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct AtClient {
    requests: mpsc::Sender<Request>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Request({})", self.command)
    }
}

impl AtClient {
    /// Sends `command` and waits for its response. `body` is written after
    /// the `> ` prompt (commands like AT+CMGS); `timeout` runs from the
    /// command, or from the prompt when there is a body.
    pub(crate) async fn execute(
        &self,
        command: Command,
        body: Option<Body>,
        timeout: Duration,
    ) -> Result<Answer, ChannelError> {
        let (reply, answer) = oneshot::channel();
        let ended = || closed("the AT channel task has ended", false);
        self.requests
            .send(Request {
                command,
                body,
                timeout,
                reply,
            })
            .await
            .map_err(|_| ended())?;
        answer.await.map_err(|_| ended())?
    }

    /// Whether the channel task has ended (the port closed).
    #[cfg(test)]
    pub(crate) fn is_closed(&self) -> bool {
        self.requests.is_closed()
    }

    /// Whether both handles talk to the same channel task.
    #[cfg(test)]
    pub(crate) fn same_channel(&self, other: &Self) -> bool {
        self.requests.same_channel(&other.requests)
    }
}

/// Starts the channel task on `stream`. Returns the command handle, the
/// stream of unsolicited result codes, and the task, which ends with the
/// reason when the port closes or every [`AtClient`] is dropped.
pub(crate) fn spawn<T>(
    stream: T,
) -> (
    AtClient,
    mpsc::Receiver<Urc>,
    tokio::task::JoinHandle<String>,
)
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (requests, request_rx) = mpsc::channel(16);
    let (urc_tx, urcs) = mpsc::channel(URC_QUEUE);
    let task = tokio::spawn(run(stream, request_rx, urc_tx));
    (AtClient { requests }, urcs, task)
}

async fn run<T>(stream: T, mut requests: mpsc::Receiver<Request>, urcs: mpsc::Sender<Urc>) -> String
where
    T: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut digester = Digester::new();
    let mut pending: Option<Pending> = None;
    let mut buffer = [0u8; 1024];
    let mut held = Held::default();
    let reason = loop {
        let deadline = pending.as_ref().map(|p| p.deadline);
        tokio::select! {
            permit = urcs.reserve(), if !held.messages.is_empty() => {
                let Ok(permit) = permit else { break "the URC reader is gone".to_owned() };
                if let Some(urc) = held.messages.pop_front() {
                    permit.send(urc);
                }
            }
            request = requests.recv(), if pending.is_none() => {
                let Some(request) = request else { break "every client dropped the channel".to_owned() };
                tracing::trace!(command = %request.command, "AT command");
                if let Err(error) = writer.write_all(&request.command.to_bytes()).await {
                    let reason = format!("writing {}: {error}", request.command);
                    let _ = request.reply.send(Err(closed(reason.clone(), false)));
                    break reason;
                }
                digester.command_sent(&request.command);
                let first_wait = match &request.body {
                    Some(body) => body.prompt_within.min(request.timeout),
                    None => request.timeout,
                };
                pending = Some(Pending {
                    deadline: Instant::now() + first_wait,
                    command: request.command,
                    body: request.body,
                    body_written: false,
                    timeout: request.timeout,
                    reply: request.reply,
                });
            }
            read = reader.read(&mut buffer) => {
                let count = match read {
                    Ok(0) => break "end of file on the modem port".to_owned(),
                    Ok(count) => count,
                    Err(error) => break format!("reading the modem port: {error}"),
                };
                for event in digester.feed(&buffer[..count]) {
                    if let Err(reason) = handle(event, &mut pending, &mut writer, &urcs, &mut held).await {
                        if let Some(p) = pending.take() {
                            let _ = p.reply.send(Err(closed(reason.clone(), p.body_written)));
                        }
                        return reason;
                    }
                }
            }
            () = sleep_until(deadline) => {
                if let Some(p) = pending.take() {
                    digester.cancel();
                    if !p.body_written {
                        // The modem may sit at a prompt (ours, or one a killed
                        // process left, where every AT is taken as PDU text):
                        // ESC abandons that message; in command mode it is ignored.
                        let _ = writer.write_all(&crate::at::cancel_body()).await;
                    }
                    let timeout = match &p.body {
                        Some(body) if !p.body_written => body.prompt_within.min(p.timeout),
                        _ => p.timeout,
                    };
                    tracing::warn!(command = %p.command, ?timeout, prompt = !p.body_written && p.body.is_some(), "AT command timed out");
                    let _ = p.reply.send(Err(ChannelError::Timeout {
                        command: p.command.to_string(),
                        timeout,
                        after_body: p.body_written,
                    }));
                }
            }
        }
    };
    if let Some(p) = pending.take() {
        let _ = p.reply.send(Err(closed(reason.clone(), p.body_written)));
    }
    tracing::debug!(%reason, "AT channel closed");
    reason
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Unsolicited result codes that found the queue full.
#[derive(Default)]
struct Held {
    /// Messages and reports routed raw (`+CMT`/`+CDS`): the only copy of
    /// them, kept until the reader takes them.
    messages: VecDeque<Urc>,
    /// Other codes dropped since the queue was last found full, for one
    /// log line per burst.
    dropped: u64,
}

/// How many routed messages wait for a busy reader before more are lost.
const MAX_HELD_MESSAGES: usize = 10_000;

/// Whether `urc` is the only copy of a message (not an announcement of a
/// stored one, which a later read of the storage finds anyway).
fn carries_a_message(urc: &Urc) -> bool {
    match urc {
        Urc::Deliver { .. } | Urc::StatusReport { .. } => true,
        Urc::Malformed { line, .. } => line.starts_with("+CMT") || line.starts_with("+CDS"),
        _ => false,
    }
}

/// Queues `urc` for the reader; when its queue is full, keeps a routed
/// message for later and drops anything else.
fn forward(urc: Urc, urcs: &mpsc::Sender<Urc>, held: &mut Held) {
    if carries_a_message(&urc) && !held.messages.is_empty() {
        // Behind the ones already waiting, in order.
        held.messages.push_back(urc);
        return;
    }
    match urcs.try_send(urc) {
        Ok(()) => {
            if held.dropped > 0 {
                tracing::info!(
                    dropped = held.dropped,
                    "URC queue drained; storage reads find what was announced meanwhile"
                );
                held.dropped = 0;
            }
        }
        Err(mpsc::error::TrySendError::Full(urc)) if carries_a_message(&urc) => {
            if held.messages.len() < MAX_HELD_MESSAGES {
                held.messages.push_back(urc);
            } else {
                tracing::error!(
                    "a message routed by the modem is lost: {MAX_HELD_MESSAGES} wait already"
                );
            }
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            if held.dropped == 0 {
                tracing::debug!(
                    "URC queue full (the daemon is busy): announcements dropped until it drains"
                );
            }
            held.dropped += 1;
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {}
    }
}

/// Acts on one digester event; an error is a write failure that ends the channel.
async fn handle<W: AsyncWrite + Unpin>(
    event: Event,
    pending: &mut Option<Pending>,
    writer: &mut W,
    urcs: &mpsc::Sender<Urc>,
    held: &mut Held,
) -> Result<(), String> {
    match event {
        Event::Response(response) => match pending.take() {
            Some(p) => {
                tracing::trace!(command = %p.command, result = %response.result, "AT response");
                let _ = p.reply.send(Ok(Answer {
                    response,
                    body_written: p.body_written,
                }));
            }
            None => tracing::debug!(?response, "response with no command pending"),
        },
        Event::Prompt => match pending.as_mut() {
            Some(p) if !p.body_written => {
                if let Some(body) = &p.body {
                    writer
                        .write_all(&body.bytes)
                        .await
                        .map_err(|e| format!("writing the PDU: {e}"))?;
                    p.body_written = true;
                    // The command's own timeout runs from the prompt.
                    p.deadline = Instant::now() + p.timeout;
                } else {
                    // A prompt nobody asked for: abandon it.
                    writer
                        .write_all(&crate::at::cancel_body())
                        .await
                        .map_err(|e| format!("writing ESC: {e}"))?;
                }
            }
            _ => tracing::debug!("unexpected prompt"),
        },
        Event::Unsolicited(urc) => {
            tracing::debug!(?urc, "unsolicited result code");
            forward(urc, urcs, held);
        }
        Event::Noise(line) => tracing::trace!(%line, "modem noise"),
        Event::Garbage(bytes) => tracing::debug!(len = bytes.len(), "garbage from the modem"),
        Event::Overflow => tracing::warn!("overlong line or response from the modem was cut"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, DuplexStream};

    /// Reads from the peer end until `expected` has arrived.
    async fn expect(peer: &mut DuplexStream, expected: &[u8]) {
        let mut got = vec![0u8; expected.len()];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
    }

    const SECOND: Duration = Duration::from_secs(1);

    fn body(bytes: &[u8]) -> Option<Body> {
        Some(Body {
            bytes: crate::at::pdu_body(bytes),
            prompt_within: SECOND,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_and_a_urc_in_its_middle() {
        let (ours, mut peer) = duplex(4096);
        let (client, mut urcs, _task) = spawn(ours);
        let call = tokio::spawn(async move { client.execute(Command::csq(), None, SECOND).await });
        expect(&mut peer, b"AT+CSQ\r").await;
        peer.write_all(b"\r\n+CSQ: 17,99\r\n\r\n+CMTI: \"SM\",3\r\n\r\nOK\r\n")
            .await
            .unwrap();
        let response = call.await.unwrap().unwrap();
        assert_eq!(response.lines, ["+CSQ: 17,99"]);
        assert!(matches!(urcs.recv().await, Some(Urc::NewMessage(_))));
    }

    #[tokio::test]
    async fn routed_messages_survive_a_full_queue_and_announcements_do_not() {
        let (ours, mut peer) = duplex(1 << 16);
        let (client, mut urcs, _task) = spawn(ours);
        // Nobody reads while far more than the queue holds arrives.
        let mut burst = Vec::new();
        for index in 0..URC_QUEUE + 100 {
            burst.extend_from_slice(format!("\r\n+CMTI: \"SM\",{index}\r\n").as_bytes());
        }
        for n in 0..3u8 {
            burst.extend_from_slice(format!("\r\n+CMT: ,1\r\n00{n:02X}\r\n").as_bytes());
        }
        peer.write_all(&burst).await.unwrap();
        // A command round trip: the channel has digested the burst.
        let command = client.clone();
        let call = tokio::spawn(async move { command.execute(Command::at(), None, SECOND).await });
        expect(&mut peer, b"AT\r").await;
        peer.write_all(b"\r\nOK\r\n").await.unwrap();
        call.await.unwrap().unwrap();
        let mut announcements = 0;
        let mut routed = Vec::new();
        while routed.len() < 3 {
            let next = tokio::time::timeout(SECOND, urcs.recv()).await;
            match next.expect("the routed messages were lost").unwrap() {
                Urc::NewMessage(_) => announcements += 1,
                Urc::Deliver { pdu, .. } => routed.push(pdu),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(
            announcements, URC_QUEUE,
            "the queue's worth, the rest dropped"
        );
        assert_eq!(routed, [vec![0, 0], vec![0, 1], vec![0, 2]]);
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_is_reported_and_the_channel_goes_on() {
        let (ours, mut peer) = duplex(4096);
        let (client, _urcs, _task) = spawn(ours);
        let started = Instant::now();
        let error = client
            .execute(Command::csq(), None, SECOND)
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), SECOND);
        assert!(matches!(
            error,
            ChannelError::Timeout {
                after_body: false,
                ..
            }
        ));
        assert!(!error.is_ambiguous());
        // ESC after the silence, in case the modem sits at a stale prompt.
        expect(&mut peer, b"AT+CSQ\r\x1b").await;
        let call = tokio::spawn(async move { client.execute(Command::at(), None, SECOND).await });
        expect(&mut peer, b"AT\r").await;
        peer.write_all(b"\r\nOK\r\n").await.unwrap();
        assert!(call.await.unwrap().unwrap().result.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_pdu_goes_after_the_prompt() {
        let (ours, mut peer) = duplex(4096);
        let (client, _urcs, _task) = spawn(ours);
        let long = Duration::from_secs(60);
        let call = tokio::spawn({
            let client = client.clone();
            async move {
                client
                    .execute(Command::cmgs(1), body(&[0x00, 0x01]), long)
                    .await
            }
        });
        expect(&mut peer, b"AT+CMGS=1\r").await;
        peer.write_all(b"\r\n> ").await.unwrap();
        expect(&mut peer, b"0001\x1a").await;
        // The network may take longer than the prompt wait to answer.
        tokio::time::sleep(SECOND * 5).await;
        peer.write_all(b"\r\n+CMGS: 42\r\n\r\nOK\r\n")
            .await
            .unwrap();
        let answer = call.await.unwrap().unwrap();
        assert_eq!(answer.lines, ["+CMGS: 42"]);
        assert!(answer.body_written);

        // No answer after the PDU: the send is ambiguous.
        let call = tokio::spawn(async move {
            client
                .execute(Command::cmgs(1), body(&[0x00, 0x01]), SECOND)
                .await
        });
        expect(&mut peer, b"AT+CMGS=1\r").await;
        peer.write_all(b"\r\n> ").await.unwrap();
        expect(&mut peer, b"0001\x1a").await;
        let error = call.await.unwrap().unwrap_err();
        assert!(error.is_ambiguous(), "{error:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn no_prompt_means_escape_and_no_pdu() {
        let (ours, mut peer) = duplex(4096);
        let (client, _urcs, _task) = spawn(ours);
        // A modem that hangs before the prompt is found out after the
        // prompt wait, not the command's timeout, and nothing was written.
        let started = Instant::now();
        let error = client
            .execute(Command::cmgs(1), body(&[0x00]), SECOND * 60)
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), SECOND);
        assert!(!error.is_ambiguous());
        expect(&mut peer, b"AT+CMGS=1\r\x1b").await;
        // A refusal without a prompt: nothing was written.
        let call = tokio::spawn(async move {
            client
                .execute(Command::cmgs(1), body(&[0x00]), SECOND)
                .await
        });
        expect(&mut peer, b"AT+CMGS=1\r").await;
        peer.write_all(b"\r\n+CMS ERROR: 304\r\n").await.unwrap();
        let answer = call.await.unwrap().unwrap();
        assert!(!answer.body_written && !answer.result.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_port_ends_the_command_and_the_channel() {
        let (ours, mut peer) = duplex(4096);
        let (client, _urcs, task) = spawn(ours);
        let call = tokio::spawn({
            let client = client.clone();
            async move { client.execute(Command::csq(), None, SECOND).await }
        });
        expect(&mut peer, b"AT+CSQ\r").await;
        drop(peer);
        assert!(matches!(
            call.await.unwrap(),
            Err(ChannelError::Closed {
                after_body: false,
                ..
            })
        ));
        assert!(task.await.unwrap().contains("end of file"));
        assert!(client.is_closed());
    }
}
