//! The daemon on a device of the test's own, in memory, with no pty and no
//! AT: the device interface is all the daemon needs (issue #10 §3). It
//! sends a message, receives one, and matches a status report to what it
//! sent.

use simgate::config::Config;
use simgate::daemon::{self, DaemonEvent, DaemonOptions, DeviceContext};
use simgate::device::{
    Capabilities, Control, Device, DeviceError, DeviceEvent, DeviceInfo, DeviceState, FailureKind,
    Listed, Location, Radio,
};
use simgate::instance::InstanceError;
use simgate::pdu::{self, Address, EncodedPdu, SmsSubmit, Status, StatusReport, Timestamp};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// What the scripted device has seen and holds.
#[derive(Debug, Default)]
struct Memory {
    /// SMS-SUBMITs it "sent", with their references.
    sent: Vec<(SmsSubmit, u8)>,
    /// Its storage: index → PDU (SMSC field, then TPDU).
    stored: BTreeMap<u32, Vec<u8>>,
    next_index: u32,
    next_reference: u8,
    deleted: Vec<u32>,
}

/// A device that keeps everything in memory and answers at once.
#[derive(Debug, Clone)]
struct Scripted {
    memory: Arc<Mutex<Memory>>,
    state: watch::Receiver<DeviceState>,
    events: mpsc::Sender<DeviceEvent>,
}

impl Scripted {
    fn new() -> (
        Self,
        mpsc::Receiver<DeviceEvent>,
        watch::Sender<DeviceState>,
    ) {
        let (state_tx, state) = watch::channel(DeviceState::Connecting {
            attempt: 0,
            last_error: None,
        });
        let (events, receiver) = mpsc::channel(16);
        let memory = Arc::new(Mutex::new(Memory {
            next_reference: 40,
            ..Memory::default()
        }));
        (
            Self {
                memory,
                state,
                events,
            },
            receiver,
            state_tx,
        )
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        self.memory.lock().unwrap()
    }

    /// The network delivers `tpdu`: stored, and announced.
    async fn arrive(&self, tpdu: &[u8]) {
        let mut pdu = vec![0x00]; // no SMSC field
        pdu.extend_from_slice(tpdu);
        {
            let mut memory = self.memory();
            memory.next_index += 1;
            let index = memory.next_index;
            memory.stored.insert(index, pdu);
        }
        self.events
            .send(DeviceEvent::Stored {
                storage: "MEM".to_owned(),
            })
            .await
            .unwrap();
    }
}

impl Device for Scripted {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            storage: true,
            calls: false,
            reference_counter: true,
        }
    }

    fn watch(&self) -> watch::Receiver<DeviceState> {
        self.state.clone()
    }

    async fn send(&self, pdu: &EncodedPdu) -> Result<u8, DeviceError> {
        let (_, tpdu) = pdu::split_smsc(pdu.bytes()).map_err(|e| DeviceError {
            kind: FailureKind::Permanent,
            message: e.to_string(),
        })?;
        let submit = SmsSubmit::decode(tpdu).map_err(|e| DeviceError {
            kind: FailureKind::Permanent,
            message: e.to_string(),
        })?;
        let mut memory = self.memory();
        let reference = memory.next_reference;
        memory.next_reference = reference.wrapping_add(1);
        memory.sent.push((submit, reference));
        Ok(reference)
    }

    async fn last_reference(&self) -> Result<Option<u8>, DeviceError> {
        Ok(Some(self.memory().next_reference.wrapping_sub(1)))
    }

    fn storages(&self) -> Vec<String> {
        vec!["MEM".to_owned()]
    }

    async fn read_storage(&self, storage: &str) -> Result<Vec<Listed>, DeviceError> {
        Ok(self
            .memory()
            .stored
            .iter()
            .map(|(index, pdu)| Listed::Message {
                location: Location {
                    storage: storage.to_owned(),
                    index: *index,
                },
                pdu: pdu.clone(),
            })
            .collect())
    }

    async fn storage_usage(&self) -> Result<Option<(u32, u32)>, DeviceError> {
        Ok(Some((self.memory().stored.len() as u32, 100)))
    }

    async fn delete(&self, location: &Location) -> Result<(), DeviceError> {
        let mut memory = self.memory();
        memory.stored.remove(&location.index);
        memory.deleted.push(location.index);
        Ok(())
    }

    async fn acknowledge(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn hang_up(&self) -> Result<(), DeviceError> {
        Ok(())
    }

    async fn radio(&self) -> Radio {
        Radio {
            signal_dbm: Some(-71),
            registered: Some(true),
        }
    }

    async fn control(&self, _request: Control) {}

    async fn reload(&self, _config: &Config) {}

    async fn shutdown(&self) {}
}

/// The next daemon event `wanted` picks.
async fn next(
    events: &mut mpsc::UnboundedReceiver<DaemonEvent>,
    wanted: fn(&DaemonEvent) -> bool,
) -> DaemonEvent {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let event = events.recv().await.expect("the daemon runs");
            if wanted(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the event within 30 s")
}

fn stamp(second: u8) -> Timestamp {
    Timestamp {
        year: 2026,
        month: 12,
        day: 3,
        hour: 12,
        minute: 0,
        second,
        tz_quarters: 4,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_of_its_own_sends_receives_and_matches_a_report() {
    let root = std::env::temp_dir().join(format!("simgate-scripted-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let mut config = Config::new("/nonexistent/not-a-serial-port");
    config.spool.inbox = root.join("inbox");
    config.spool.outbox = root.join("outbox");
    config.spool.sent = Some(root.join("sent"));
    config.spool.error = Some(root.join("error"));
    config.database.path = Some(root.join("simgate.db"));
    let (device, device_events, state) = Scripted::new();
    let handle = device.clone();
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = DaemonOptions {
        events: Some(events_tx),
        ..DaemonOptions::new(config)
    };
    let daemon = tokio::spawn(daemon::run_on(
        options,
        move |_context: DeviceContext| async move { Ok::<_, InstanceError>((device, device_events)) },
        async {
            let _ = stopped.await;
        },
    ));
    state.send_replace(DeviceState::Ready(DeviceInfo {
        model: "Scripted".to_owned(),
        imei: Some("000000000000001".to_owned()),
    }));
    next(&mut events, |e| matches!(e, DaemonEvent::ModemReady { .. })).await;

    // A send.
    std::fs::write(root.join("dropping"), "through no modem at all").unwrap();
    std::fs::rename(
        root.join("dropping"),
        root.join("outbox/OUT+4917600000901.txtd"),
    )
    .unwrap();
    let sent = next(&mut events, |e| matches!(e, DaemonEvent::Sent { .. })).await;
    let DaemonEvent::Sent { references, .. } = sent else {
        unreachable!()
    };
    {
        let memory = handle.memory();
        assert_eq!(memory.sent.len(), 1);
        let (submit, reference) = &memory.sent[0];
        assert_eq!(submit.destination.to_display(), "+4917600000901");
        assert_eq!(
            submit.user_data.body.text(),
            Some("through no modem at all")
        );
        assert!(submit.status_report_request);
        assert_eq!(references, [*reference]);
    }
    assert!(root.join("sent/OUT+4917600000901.txtd").exists());

    // A receive.
    let plan =
        pdu::plan_text("hello from the scripted network", pdu::EncodingPolicy::Auto).unwrap();
    let from = Address::parse_number("+4915100000902").unwrap();
    let deliver = pdu::SmsDeliver::from_plan(&plan, &from, stamp(1), 0)
        .remove(0)
        .encode()
        .unwrap();
    handle.arrive(&deliver).await;
    let DaemonEvent::Received { files } =
        next(&mut events, |e| matches!(e, DaemonEvent::Received { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(
        std::fs::read_to_string(root.join("inbox").join(&files[0])).unwrap(),
        "hello from the scripted network"
    );
    assert!(handle.memory().stored.is_empty(), "deleted once written");

    // A status report for what was sent.
    let report = StatusReport {
        more_messages: false,
        loop_prevention: false,
        for_command: false,
        message_reference: references[0],
        recipient: Address::parse_number("+4917600000901").unwrap(),
        timestamp: stamp(2).into(),
        discharge_time: stamp(3).into(),
        status: Status(0),
        protocol_identifier: None,
        dcs: None,
        user_data: None,
    }
    .encode()
    .unwrap();
    handle.arrive(&report).await;
    let DaemonEvent::Received { files } =
        next(&mut events, |e| matches!(e, DaemonEvent::Received { .. })).await
    else {
        unreachable!()
    };
    assert_eq!(
        std::fs::read_to_string(root.join("inbox").join(&files[0])).unwrap(),
        "Delivered"
    );
    let db = rusqlite::Connection::open(root.join("simgate.db")).unwrap();
    let outcome: String = db
        .query_row(
            "SELECT report_outcome FROM outgoing_part WHERE message_ref = ?1",
            [references[0]],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(outcome, "delivered");
    assert_eq!(handle.memory().deleted, [1, 2]);

    let _ = stop.send(());
    daemon.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
