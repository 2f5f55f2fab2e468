//! The device as the daemon sees it, recorded in the database for
//! `simgate status` (a separate process): its state, model and radio,
//! written when they change (not on every poll: an SD card lives longer).

use super::event_loop::Daemon;
use super::state::Core;
use super::DaemonError;
use crate::device::{Device, DeviceState, Radio};
use crate::store::{DeviceRecord, Durability};

/// The record of `state` and `radio` for daemon `pid` at `now_ms`.
pub(super) fn device_record(
    state: &DeviceState,
    radio: &Radio,
    pid: u32,
    now_ms: i64,
) -> DeviceRecord {
    let mut record = DeviceRecord {
        pid,
        updated_ms: now_ms,
        ..DeviceRecord::default()
    };
    match state {
        DeviceState::Ready(info) => {
            record.state = "ready".to_owned();
            record.model = Some(info.model.clone()).filter(|m| !m.is_empty());
            record.imei = info.imei.clone();
            record.signal_dbm = radio.signal_dbm;
            record.registered = radio.registered;
        }
        DeviceState::Connecting { last_error, .. } => {
            record.state = "connecting".to_owned();
            record.detail = last_error.clone();
        }
        DeviceState::Suspended => record.state = "released".to_owned(),
        DeviceState::Stopped => record.state = "stopped".to_owned(),
    }
    record
}

/// Whether `new` says something `old` did not (the time aside).
pub(super) fn changed(old: Option<&DeviceRecord>, new: &DeviceRecord) -> bool {
    old.is_none_or(|old| {
        DeviceRecord {
            updated_ms: new.updated_ms,
            ..old.clone()
        } != *new
    })
}

impl Core {
    /// Records `record` unless it says what the last one said; a database
    /// error is only logged (the status is for people).
    pub(super) fn record_device(&mut self, record: DeviceRecord) {
        if !changed(self.device_recorded.as_ref(), &record) {
            return;
        }
        let written = self.store.batch(Durability::WithNextCommit, |store| {
            store.record_device(&record)
        });
        match written {
            Ok(()) => self.device_recorded = Some(record),
            Err(error) => {
                tracing::warn!(error = %crate::redact::Scrub(&error), "cannot record the device's status for simgate status");
            }
        }
    }
}

impl<D: Device> Daemon<D> {
    /// Records the device's state and the radio last read.
    pub(super) async fn record_device(&mut self) -> Result<(), DaemonError> {
        let record = device_record(
            &self.device.watch().borrow(),
            &self.last_radio,
            std::process::id(),
            self.clock.now_ms(),
        );
        self.core(move |core| core.record_device(record)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceInfo;

    #[test]
    fn a_ready_device_is_recorded_with_its_radio_and_a_connecting_one_with_why() {
        let radio = Radio {
            signal_dbm: Some(-71),
            registered: Some(true),
        };
        let ready = DeviceState::Ready(DeviceInfo {
            model: "Emulated".to_owned(),
            imei: Some("35".to_owned()),
        });
        let record = device_record(&ready, &radio, 7, 1000);
        assert_eq!(
            (
                record.state.as_str(),
                record.model.as_deref(),
                record.signal_dbm
            ),
            ("ready", Some("Emulated"), Some(-71))
        );
        let connecting = DeviceState::Connecting {
            attempt: 2,
            last_error: Some("no such device".to_owned()),
        };
        let record = device_record(&connecting, &radio, 7, 1000);
        assert_eq!(record.state, "connecting");
        assert_eq!(record.detail.as_deref(), Some("no such device"));
        assert_eq!(record.signal_dbm, None, "no radio without a device");
    }

    #[test]
    fn only_a_change_is_written() {
        let state = DeviceState::Suspended;
        let first = device_record(&state, &Radio::default(), 7, 1000);
        assert!(changed(None, &first));
        let later = device_record(&state, &Radio::default(), 7, 9000);
        assert!(!changed(Some(&first), &later));
        let stopped = device_record(&DeviceState::Stopped, &Radio::default(), 7, 9000);
        assert!(changed(Some(&first), &stopped));
    }
}
