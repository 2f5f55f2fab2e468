//! The receiving side of the event loop: what the device announces
//! (stored and routed messages, calls), the storage read
//! ([`super::receive`]), RunOnReceive, the nearly-full warning, and inbox
//! files written again after a failure ([`InboxRetry`]).

use super::event_loop::Daemon;
use super::{decide, hook_env, receive};
use super::{DaemonError, DaemonEvent};
use crate::daemon::logging::Redact;
use crate::device::{Control, Device, DeviceEvent, FailureKind};
use crate::redact::Scrub;
use std::time::Duration;

/// Writing inbox files again after a failure (disk full, folder missing,
/// permissions), with a growing delay, in the order the messages came.
#[derive(Debug, Default)]
pub(super) struct InboxRetry {
    pub(super) next: Option<tokio::time::Instant>,
    pub(super) delay: Duration,
    pub(super) failures: u32,
}

impl InboxRetry {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(60);

    pub(super) fn failed(&mut self, error: &receive::ReceiveError) {
        self.failures += 1;
        if self.failures == 1 || self.failures.is_multiple_of(30) {
            tracing::error!(error = %Scrub(error), failures = self.failures, "cannot write received messages to the inbox; they stay on the device and in the database, and are written as soon as possible");
        }
        self.delay = if self.delay.is_zero() {
            Self::FIRST
        } else {
            (self.delay * 2).min(Self::MAX)
        };
        self.next = Some(tokio::time::Instant::now() + self.delay);
    }

    pub(super) fn succeeded(&mut self) {
        if self.failures > 0 {
            tracing::info!(
                failures = self.failures,
                "received messages written to the inbox after all"
            );
        }
        *self = Self::default();
    }
}

impl<D: Device> Daemon<D> {
    /// Writes the inbox files of received messages that could not be
    /// written before (and after a restart, those being written when
    /// simgate stopped), oldest first; on failure, tries again later.
    pub(super) async fn write_unwritten(&mut self) -> Result<(), DaemonError> {
        let now = self.clock.now_ms();
        let written = self
            .core(move |core| receive::finish_unwritten(&core.config, &mut core.store, now))
            .await?;
        match written {
            Ok(written) => {
                self.inbox_retry.succeeded();
                self.announce_received(written).await;
            }
            Err((written, error)) => {
                self.announce_received(written).await;
                self.inbox_retry.failed(&error);
            }
        }
        Ok(())
    }

    /// Acts on a batch of device events: routed messages and calls one by
    /// one, storage announcements by one read per storage they name,
    /// however many there were.
    pub(super) async fn device_events(
        &mut self,
        batch: Vec<DeviceEvent>,
    ) -> Result<(), DaemonError> {
        let mut storages: Vec<String> = Vec::new();
        for event in batch {
            match event {
                DeviceEvent::Stored { storage } => {
                    if !storages.contains(&storage) {
                        storages.push(storage);
                    }
                }
                DeviceEvent::Routed { pdu } => self.record_routed(Ok(pdu)).await?,
                DeviceEvent::RoutedUnreadable { raw, reason } => {
                    self.record_routed(Err((raw, reason))).await?;
                }
                DeviceEvent::Call { caller } => self.incoming_call(&caller).await?,
            }
        }
        for storage in storages {
            self.read_device(Some(&storage)).await?;
        }
        Ok(())
    }

    /// Reads the storage the device named, or with `None` every storage it
    /// uses, and writes what arrived.
    pub(super) async fn read_device(&mut self, only: Option<&str>) -> Result<(), DaemonError> {
        if !self.config.receive.enabled || !self.ready() {
            return Ok(());
        }
        // Messages whose files could not be written go first, so the
        // inbox gets them in the order they came.
        if self.inbox_retry.next.is_some() {
            self.write_unwritten().await?;
        }
        let storages: Vec<String> = match only {
            Some(storage) if !storage.is_empty() => vec![storage.to_owned()],
            _ => self.device.storages(),
        };
        let mut received = Vec::new();
        let mut recheck = false;
        for storage in &storages {
            let now = self.clock.now_ms();
            let (found, error) =
                receive::read_storage(&self.keeper, &self.device, storage, now).await;
            received.extend(found);
            match error {
                None => self.reads_worked = true,
                // The message stays on the device and in the database; its
                // files are written as soon as they can be.
                Some(error @ receive::ReceiveError::Write(_)) => self.inbox_retry.failed(&error),
                // Reading worked in this session and no longer does for the
                // device's state: a SIM that locked itself again (a modem
                // that reset inside) asks for its PIN, and gammu's
                // CheckSecurity would enter it before the next receive
                // cycle. Only after a read that worked, so a device whose
                // reads never work is not initialised again and again.
                Some(receive::ReceiveError::Device(error))
                    if error.kind == FailureKind::ModemState
                        && self.reads_worked
                        && self.config.modem.check_sim =>
                {
                    tracing::warn!(storage, error = %Scrub(&error), "reading received messages failed for the device's state (a SIM that locked itself again?); initialising it again, which checks the SIM");
                    recheck = true;
                    break;
                }
                Some(error) => {
                    tracing::error!(storage, error = %Scrub(&error), "reading received messages failed");
                }
            }
        }
        if recheck {
            self.reads_worked = false;
            self.announce_received(received).await;
            self.device.control(Control::Reconnect).await;
            self.hold_sends_for_new_session();
            return Ok(());
        }
        // How full it stays after the round.
        if let Ok(Some((used, total))) = self.device.storage_usage().await {
            self.check_storage(used, total);
        }
        self.announce_received(received).await;
        self.status_line().await
    }

    /// Warns when the receiving storage is still nearly full after reading
    /// (messages the filters leave there, or that cannot be deleted); see
    /// [`decide::storage_warning`].
    pub(super) fn check_storage(&mut self, used: u32, total: u32) {
        let (warn, warned) = decide::storage_warning(used, total, self.storage_warned);
        self.storage_warned = warned;
        if warn {
            tracing::warn!(
                used,
                total,
                "message storage nearly full: new messages will be refused by the device when it is full"
            );
            self.emit(DaemonEvent::StorageNearlyFull { used, total });
        }
    }

    /// A message or report the device routed raw, or one that could not
    /// be read: recorded like a stored one, then acknowledged where the
    /// device waits for that. Not acknowledged when it could not be
    /// recorded, so the network tries again.
    pub(super) async fn record_routed(
        &mut self,
        pdu: Result<Vec<u8>, (String, String)>,
    ) -> Result<(), DaemonError> {
        if !self.config.receive.enabled {
            return Ok(());
        }
        let now = self.clock.now_ms();
        let taken = self
            .core(move |core| match pdu {
                Ok(pdu) => {
                    receive::record_routed(&core.config, &core.filters, &mut core.store, &pdu, now)
                }
                Err((line, reason)) => {
                    let key = format!("line:{line}");
                    receive::keep_undecodable(&mut core.store, &key, &line, &reason, now)
                        .map(|()| Vec::new())
                }
            })
            .await?;
        match taken {
            Ok(received) => {
                self.announce_received(received).await;
                self.status_line().await?;
            }
            Err(error) => {
                tracing::error!(error = %Scrub(&error), "cannot record a routed message; not acknowledged");
                if matches!(error, receive::ReceiveError::Write(_)) {
                    self.inbox_retry.failed(&error);
                }
                self.device.refuse().await;
                return Ok(());
            }
        }
        if let Err(error) = self.device.acknowledge().await {
            tracing::warn!(error = %Scrub(&error), "cannot acknowledge a routed message");
        }
        Ok(())
    }

    /// An incoming call: gammu's HangupCalls and RunOnIncomingCall, once per
    /// call ([`decide::CallGate`]).
    pub(super) async fn incoming_call(&mut self, caller: &str) -> Result<(), DaemonError> {
        let now = self.clock.now_ms();
        if !self.calls.admit(now) {
            return Ok(());
        }
        let hang_up = self.config.hooks.hangup_calls;
        tracing::info!(caller = %Redact(caller), hang_up, "incoming call");
        if hang_up {
            if let Err(error) = self.device.hang_up().await {
                tracing::warn!(error = %Scrub(&error), "cannot hang up the call");
            }
            if let Some(hook) = hook_env::on_incoming_call(&self.config.hooks, caller) {
                self.hook_queue.run(hook);
            }
        }
        let number = caller.to_owned();
        let recorded = self
            .core(move |core| core.store.add_call(&number, hang_up, now))
            .await?;
        if let Err(error) = recorded {
            tracing::error!(error = %Scrub(&error), "cannot record the call");
        }
        self.emit(DaemonEvent::Call {
            caller: caller.to_owned(),
        });
        Ok(())
    }

    /// Runs RunOnReceive and reports each received message.
    pub(super) async fn announce_received(&mut self, received: Vec<receive::Received>) {
        if received.is_empty() {
            return;
        }
        self.run_receive_hooks(&received).await;
        for message in received {
            self.webhook(super::webhooks::received_kind(&message));
            self.emit(DaemonEvent::Received {
                files: message.files,
            });
        }
    }

    /// Queues RunOnReceive for each message; once a hook's process has
    /// started, that is recorded, so a restart does not start it again
    /// (and does start one the stop left queued).
    pub(super) async fn run_receive_hooks(&mut self, messages: &[receive::Received]) {
        for message in messages {
            let hook = hook_env::on_receive(&self.config.hooks, &message.files, &message.parts);
            let Some(hook) = hook else {
                continue;
            };
            match message.id {
                Some(id) => {
                    let keeper = self.keeper.clone();
                    self.hook_queue.run_then(
                        hook,
                        Box::pin(async move {
                            keeper.call(move |core| core.hooks_started(&[id])).await;
                        }),
                    );
                }
                None => self.hook_queue.run(hook),
            }
        }
    }
}
