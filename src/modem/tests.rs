//! The modem driver against the emulator on a real pseudo-terminal, for
//! every vendor profile, and against the same emulator on an in-memory
//! stream with paused tokio time wherever a timeout is the subject.

use crate::at::{MessageStatus, Urc};
use crate::emulator::{Emulator, EmulatorConfig, EmulatorEvent, Fault, Profile, Times};
use crate::modem::channel::{self, ChannelError};
use crate::modem::error::FailureKind;
use crate::modem::pin::SimProblem;
use crate::modem::session::{InitSettings, PinGuard};
use crate::modem::supervisor::{self, ModemState};
use crate::modem::{port, Modem, ModemConfig, ModemError, Pin, PortSettings, Timeouts};
use crate::pdu::{
    plan_text, Address, EncodingPolicy, SmsDeliver, SmsSubmit, SubmitOptions, Timestamp,
};
use std::time::Duration;
use tokio::sync::mpsc;

const PROFILES: [Profile; 6] = Profile::ALL;

fn timeouts() -> Timeouts {
    Timeouts {
        command: Duration::from_secs(5),
        send: Duration::from_secs(10),
        prompt: Duration::from_secs(5),
        sync: Duration::from_secs(1),
    }
}

/// A session on the emulator's stable path, as a user would configure it.
async fn open(emulator: &Emulator) -> (Modem, mpsc::Receiver<Urc>) {
    let path = emulator.path();
    let stream = port::open(&path, PortSettings::default())
        .unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
    let (client, urcs, _task) = channel::spawn(stream);
    (Modem::new(client, timeouts()), urcs)
}

fn submits(text: &str, to: &str) -> Vec<crate::pdu::EncodedPdu> {
    let plan = plan_text(text, EncodingPolicy::Auto).unwrap();
    let mut options = SubmitOptions::new(Address::parse_number(to).unwrap());
    options.concat_reference = 7;
    SmsSubmit::from_plan(&plan, &options)
        .iter()
        .map(|s| s.encode(None).unwrap())
        .collect()
}

fn deliver(from: &str, text: &str) -> Vec<u8> {
    let plan = plan_text(text, EncodingPolicy::Auto).unwrap();
    let stamp = Timestamp {
        year: 2026,
        month: 11,
        day: 25,
        hour: 20,
        minute: 1,
        second: 59,
        tz_quarters: 4,
    };
    let from = Address::parse_number(from).unwrap();
    SmsDeliver::from_plan(&plan, &from, stamp, 0)[0]
        .encode()
        .unwrap()
}

fn cpin_entries(emulator: &Emulator) -> usize {
    emulator
        .commands()
        .iter()
        .filter(|c| c.to_ascii_uppercase().starts_with("AT+CPIN="))
        .count()
}

/// Init, send one and several parts, receive and delete, status: every profile.
#[tokio::test]
async fn every_profile_inits_sends_receives_and_reports() {
    for profile in PROFILES {
        let emulator = Emulator::start(EmulatorConfig::new(profile)).await.unwrap();
        let (modem, mut urcs) = open(&emulator).await;
        let report = modem
            .init(&InitSettings::default(), &mut PinGuard::default())
            .await
            .unwrap_or_else(|e| panic!("{profile:?}: {e}"));
        assert_eq!(
            report.identity.manufacturer.as_deref(),
            Some(profile.manufacturer()),
            "{profile:?}"
        );
        assert!(report.identity.imei.is_some(), "{profile:?}");
        assert!(!report.pin_entered);

        // One part, then a three-part message.
        let single = submits("Hello from simgate €", "+4917612345678");
        let mr = modem.send_pdu(&single[0]).await.unwrap();
        let long = submits(&"Long message text. ".repeat(20), "+4917612345678");
        assert_eq!(long.len(), 3);
        let mut refs = vec![mr];
        for part in &long {
            refs.push(modem.send_pdu(part).await.unwrap());
        }
        let sent = emulator.sent();
        assert_eq!(sent.len(), 4, "{profile:?}");
        assert_eq!(
            sent.iter().map(|s| s.message_reference).collect::<Vec<_>>(),
            refs
        );
        assert_eq!(
            sent[0].submit.user_data.body.text(),
            Some("Hello from simgate €")
        );
        assert_eq!(sent[0].submit.destination.to_display(), "+4917612345678");
        let joined: String = sent[1..]
            .iter()
            .map(|s| s.submit.user_data.body.text().unwrap())
            .collect();
        assert_eq!(joined, "Long message text. ".repeat(20));

        // Receive: announced with +CMTI, listed, read, deleted.
        let index = emulator
            .inject_deliver(&deliver("+4915199999999", "Reply ✓"))
            .unwrap()
            .unwrap();
        let urc = urcs.recv().await.unwrap();
        assert!(
            matches!(&urc, Urc::NewMessage(at) if at.index == index),
            "{profile:?}: {urc:?}"
        );
        let listed = modem.list(MessageStatus::All).await.unwrap();
        assert_eq!(listed.len(), 1, "{profile:?}");
        let message = modem.read(index).await.unwrap();
        let (_, tpdu) = crate::pdu::split_smsc(&message.pdu).unwrap();
        let decoded = SmsDeliver::decode(tpdu).unwrap();
        assert_eq!(decoded.user_data.body.text(), Some("Reply ✓"));
        modem.delete(index).await.unwrap();
        assert!(emulator.stored().is_empty(), "{profile:?}");

        let status = modem.status().await;
        assert!(status.signal.and_then(|s| s.dbm()).is_some(), "{profile:?}");
        assert!(
            status
                .registration
                .is_some_and(|r| r.status.is_registered()),
            "{profile:?}"
        );
        assert_eq!(
            status.operator.as_deref(),
            Some("Telekom.de"),
            "{profile:?}"
        );
        assert!(!status.storage.is_empty(), "{profile:?}");
        emulator.stop().await;
    }
}

#[tokio::test]
async fn the_pin_is_entered_once_when_the_sim_asks() {
    for profile in PROFILES {
        let mut config = EmulatorConfig::new(profile);
        config.sim_pin = Some("4711".to_owned());
        let emulator = Emulator::start(config).await.unwrap();
        let (modem, _urcs) = open(&emulator).await;
        let settings = InitSettings {
            pin: Some(Pin::new("4711")),
            smsc: None,
            skip_sim_check: false,
        };
        let report = modem
            .init(&settings, &mut PinGuard::default())
            .await
            .unwrap_or_else(|e| panic!("{profile:?}: {e}"));
        assert!(report.pin_entered);
        assert_eq!(cpin_entries(&emulator), 1, "{profile:?}");
        // Already unlocked: a second init enters nothing.
        modem
            .init(&settings, &mut PinGuard::default())
            .await
            .unwrap();
        assert_eq!(cpin_entries(&emulator), 1, "{profile:?}");
        emulator.stop().await;
    }
}

/// A wrong PIN is tried once, never again, and the error says what to do.
#[tokio::test]
async fn a_rejected_pin_is_never_sent_twice() {
    for profile in PROFILES {
        let mut config = EmulatorConfig::new(profile);
        config.sim_pin = Some("4711".to_owned());
        let emulator = Emulator::start(config).await.unwrap();
        let (modem, _urcs) = open(&emulator).await;
        let settings = InitSettings {
            pin: Some(Pin::new("0000")),
            smsc: None,
            skip_sim_check: false,
        };
        let mut guard = PinGuard::default();
        for _ in 0..3 {
            let error = modem.init(&settings, &mut guard).await.unwrap_err();
            assert!(
                matches!(error, ModemError::Sim(SimProblem::PinRejected(_))),
                "{profile:?}: {error}"
            );
            assert!(error.to_string().contains("will not try it again"));
        }
        assert!(guard.rejected());
        assert_eq!(
            cpin_entries(&emulator),
            1,
            "{profile:?}: {:?}",
            emulator.commands()
        );
        emulator.stop().await;
    }
}

/// With one attempt left, simgate does not risk it; with none, it asks for the PUK.
#[tokio::test]
async fn the_last_attempts_are_left_to_the_user() {
    let mut config = EmulatorConfig::new(Profile::Generic);
    config.sim_pin = Some("4711".to_owned());
    let emulator = Emulator::start(config).await.unwrap();
    let (modem, _urcs) = open(&emulator).await;
    for _ in 0..2 {
        let wrong = crate::at::Command::enter_pin("0000").unwrap();
        let _ = modem.run(wrong).await;
    }
    let settings = InitSettings {
        pin: Some(Pin::new("4711")),
        smsc: None,
        skip_sim_check: false,
    };
    let error = modem
        .init(&settings, &mut PinGuard::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ModemError::Sim(SimProblem::TooFewAttempts(1))),
        "{error}"
    );
    assert_eq!(cpin_entries(&emulator), 2);
    let _ = modem
        .run(crate::at::Command::enter_pin("0000").unwrap())
        .await;
    let error = modem
        .init(&settings, &mut PinGuard::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, ModemError::Sim(SimProblem::PukRequired(_))),
        "{error}"
    );
    assert_eq!(cpin_entries(&emulator), 3);
    emulator.stop().await;
}

#[tokio::test]
async fn send_errors_are_classified() {
    for profile in PROFILES {
        let emulator = Emulator::start(EmulatorConfig::new(profile)).await.unwrap();
        let (modem, _urcs) = open(&emulator).await;
        modem
            .init(&InitSettings::default(), &mut PinGuard::default())
            .await
            .unwrap();
        let pdu = &submits("hi", "+4917612345678")[0];

        // 38 network out of order: transient, once; the retry goes through.
        emulator.inject_fault(Fault::CmsError {
            code: 38,
            times: Times::Once,
            destination: None,
        });
        let error = modem.send_pdu(pdu).await.unwrap_err();
        assert_eq!(error.kind(), FailureKind::Transient, "{error}");
        modem.send_pdu(pdu).await.unwrap();

        // 1 unassigned number, only for one destination: permanent there, others unaffected.
        emulator.inject_fault(Fault::CmsError {
            code: 1,
            times: Times::Always,
            destination: Some("+4911111".to_owned()),
        });
        let error = modem
            .send_pdu(&submits("hi", "+49 11111")[0])
            .await
            .unwrap_err();
        assert_eq!(error.kind(), FailureKind::Permanent, "{error}");
        modem.send_pdu(pdu).await.unwrap();

        // 314 SIM busy: the modem, not the message.
        emulator.clear_faults();
        emulator.inject_fault(Fault::CmsError {
            code: 314,
            times: Times::Once,
            destination: None,
        });
        assert_eq!(
            modem.send_pdu(pdu).await.unwrap_err().kind(),
            FailureKind::Transient
        );
        assert_eq!(emulator.sent().len(), 2, "{profile:?}");
        emulator.stop().await;
    }
}

/// Garbage and vendor noise on the line do not disturb commands.
#[tokio::test]
async fn garbage_and_noise_are_ignored() {
    for profile in PROFILES {
        let emulator = Emulator::start(EmulatorConfig::new(profile)).await.unwrap();
        let (modem, _urcs) = open(&emulator).await;
        modem
            .init(&InitSettings::default(), &mut PinGuard::default())
            .await
            .unwrap();
        emulator.inject_fault(Fault::Noise {
            interval: Duration::from_millis(5),
        });
        emulator.inject_fault(Fault::Garbage(vec![
            0xFF, 0x00, b'\r', 0x80, b'\n', b'^', b'R',
        ]));
        for _ in 0..20 {
            assert!(modem.status().await.signal.is_some(), "{profile:?}");
        }
        modem
            .send_pdu(&submits("still works", "+4917612345678")[0])
            .await
            .unwrap();
        emulator.stop().await;
    }
}

#[tokio::test]
async fn a_full_sim_and_a_relocked_sim_are_visible() {
    for profile in PROFILES {
        let emulator = Emulator::start(EmulatorConfig::new(profile)).await.unwrap();
        let (modem, _urcs) = open(&emulator).await;
        modem
            .init(&InitSettings::default(), &mut PinGuard::default())
            .await
            .unwrap();
        emulator.inject_fault(Fault::StorageFull);
        assert!(emulator
            .inject_deliver(&deliver("+4915199999999", "lost"))
            .is_err());
        emulator.clear_faults();
        emulator.inject_fault(Fault::SimPinRequired);
        let (status, _) = modem.sim_state().await.unwrap();
        assert_eq!(status, crate::at::PinStatus::SimPin);
        let error = modem
            .init(&InitSettings::default(), &mut PinGuard::default())
            .await
            .unwrap_err();
        assert!(
            matches!(error, ModemError::Sim(SimProblem::PinNotConfigured(_))),
            "{profile:?}: {error}"
        );
        emulator.stop().await;
    }
}

/// A session on an in-memory stream: the same emulator, with paused time.
fn stream_session(profile: Profile) -> (Emulator, Modem) {
    let (ours, theirs) = tokio::io::duplex(4096);
    let emulator = Emulator::on_stream(EmulatorConfig::new(profile), theirs);
    let (client, _urcs, _task) = channel::spawn(ours);
    (emulator, Modem::new(client, Timeouts::default()))
}

/// A command that gets no answer times out after exactly its timeout, and
/// the port is back in sync for the next one.
#[tokio::test(start_paused = true)]
async fn a_hung_command_times_out_and_the_port_resyncs() {
    for profile in PROFILES {
        let (emulator, modem) = stream_session(profile);
        modem
            .init(&InitSettings::default(), &mut PinGuard::default())
            .await
            .unwrap();
        emulator.inject_fault(Fault::NoAnswer {
            command_prefix: "AT+CSQ".to_owned(),
            times: Times::Once,
        });
        let started = tokio::time::Instant::now();
        let error = modem.run(crate::at::Command::csq()).await.unwrap_err();
        assert!(
            matches!(error, ModemError::Channel(ChannelError::Timeout { .. })),
            "{error}"
        );
        assert!(started.elapsed() >= Timeouts::default().command);
        let lines = modem.run(crate::at::Command::csq()).await.unwrap();
        assert!(lines[0].starts_with("+CSQ:"), "{lines:?}");
    }
}

/// No answer after the PDU: the send is ambiguous, and the emulator shows it
/// did go out.
#[tokio::test(start_paused = true)]
async fn no_answer_after_the_pdu_is_ambiguous() {
    for profile in PROFILES {
        let (emulator, modem) = stream_session(profile);
        modem
            .init(&InitSettings::default(), &mut PinGuard::default())
            .await
            .unwrap();
        emulator.inject_fault(Fault::HangAfterPdu { times: Times::Once });
        let error = modem
            .send_pdu(&submits("maybe", "+4917612345678")[0])
            .await
            .unwrap_err();
        assert_eq!(error.kind(), FailureKind::Ambiguous, "{error}");
        assert_eq!(emulator.sent().len(), 1);
        // The modem is usable again afterwards.
        modem
            .send_pdu(&submits("next", "+4917612345678")[0])
            .await
            .unwrap();
    }
}

/// Realistic latency: AT+CMGS answers after seconds, well within its timeout.
#[tokio::test(start_paused = true)]
async fn realistic_latency_is_within_the_send_timeout() {
    for profile in PROFILES {
        let (ours, theirs) = tokio::io::duplex(4096);
        let mut config = EmulatorConfig::new(profile);
        config.realistic_latency = true;
        let emulator = Emulator::on_stream(config, theirs);
        let (client, _urcs, _task) = channel::spawn(ours);
        let modem = Modem::new(client, Timeouts::default());
        modem
            .init(&InitSettings::default(), &mut PinGuard::default())
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        modem
            .send_pdu(&submits("slow network", "+4917612345678")[0])
            .await
            .unwrap();
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(2) && took < Timeouts::default().send,
            "{profile:?}: {took:?}"
        );
        assert_eq!(emulator.sent().len(), 1);
    }
}

/// Unplug and replug: the supervisor finds the modem again through its
/// stable link, and the first command succeeds within 5 s of its return.
#[tokio::test]
async fn an_unplugged_modem_is_found_again() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::HuaweiE3372))
        .await
        .unwrap();
    // Configure the raw tty, as many users do; the by-id link is how it is followed.
    let mut config = ModemConfig::new(emulator.tty_path());
    config.timeouts = timeouts();
    config.by_id_dirs = vec![emulator.path().parent().unwrap().to_owned()];
    let (supervisor, _urcs) = supervisor::spawn(config);
    let (first, _) = supervisor.ready().await.unwrap();
    let old_tty = emulator.tty_path();

    let mut events = emulator.subscribe();
    emulator.unplug(None).await;
    // The session notices the loss.
    let mut state = supervisor.watch();
    while matches!(&*state.borrow_and_update(), ModemState::Ready { .. }) {
        state.changed().await.unwrap();
    }
    // The session went with the port: a send on it fails at once, before
    // anything is written (the caller decides how long to wait; it must
    // not be held until the modem returns).
    let pdu = submits("queued while unplugged", "+4917612345678").remove(0);
    let error = first.send_pdu(&pdu).await.unwrap_err();
    assert_eq!(error.kind(), FailureKind::ModemState, "{error}");
    emulator.replug_now();
    let replugged_at = loop {
        if let EmulatorEvent::Replugged { .. } = events.recv().await.unwrap() {
            break std::time::Instant::now();
        }
    };
    let (second, report) = supervisor.ready().await.unwrap();
    let reconnect = replugged_at.elapsed();
    assert!(
        reconnect < Duration::from_secs(5),
        "reconnect took {reconnect:?}"
    );
    assert!(!second.client().same_channel(first.client()));
    assert_eq!(report.identity.imei, emulator_imei(&emulator));
    let mr = second.send_pdu(&pdu).await.unwrap();
    let sent = emulator.sent();
    assert_eq!(sent.len(), 1, "sent exactly once");
    assert_eq!(sent[0].message_reference, mr);
    eprintln!(
        "replug to ready: {reconnect:?}; tty {} -> {}",
        old_tty.display(),
        emulator.tty_path().display()
    );
    emulator.stop().await;
}

fn emulator_imei(emulator: &Emulator) -> Option<String> {
    let name = emulator.path().file_name()?.to_string_lossy().into_owned();
    name.rsplit('_')
        .next()?
        .split('-')
        .next()
        .map(str::to_owned)
}

/// A modem that keeps hanging is re-initialised, then closed and reopened.
#[tokio::test]
async fn repeated_hangs_lead_to_reinit_then_reopen() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::SierraMc7455))
        .await
        .unwrap();
    let mut config = ModemConfig::new(emulator.path());
    config.timeouts = Timeouts {
        command: Duration::from_millis(300),
        send: Duration::from_secs(5),
        prompt: Duration::from_secs(5),
        sync: Duration::from_millis(300),
    };
    let (supervisor, _urcs) = supervisor::spawn(config);
    let (modem, _) = supervisor.ready().await.unwrap();
    // Initialisation ends with AT+CGSN (the IMEI); count finished ones.
    let inits = |emulator: &Emulator| {
        emulator
            .commands()
            .iter()
            .filter(|c| c.eq_ignore_ascii_case("AT+CGSN"))
            .count()
    };
    assert_eq!(inits(&emulator), 1);

    emulator.inject_fault(Fault::NoAnswer {
        command_prefix: "AT+CSQ".to_owned(),
        times: Times::Always,
    });
    let mut events = emulator.subscribe();
    for _ in 0..2 {
        assert!(modem.run(crate::at::Command::csq()).await.is_err());
    }
    // The second hang in a row triggers a re-initialisation on the same port.
    while inits(&emulator) < 2 {
        events.recv().await.unwrap();
    }
    assert!(!modem.client().is_closed());
    // Hanging again soon after: the port is closed and reopened.
    for _ in 0..2 {
        let _ = modem.run(crate::at::Command::csq()).await;
    }
    let mut state = supervisor.watch();
    loop {
        if let ModemState::Ready { modem: current, .. } = &*state.borrow_and_update() {
            if !current.client().same_channel(modem.client()) {
                break;
            }
        }
        state.changed().await.unwrap();
    }
    assert!(modem.client().is_closed());
    assert_eq!(inits(&emulator), 3);
    supervisor.shutdown().await;
    emulator.stop().await;
}

/// The health check (a bare `AT`) goes to a modem that has been quiet for
/// a whole interval, and not to one that answered something within it: an
/// idle gateway sends what it needs (the radio refresh) and nothing more.
#[tokio::test]
async fn the_health_check_is_skipped_while_the_modem_answers() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let mut config = ModemConfig::new(emulator.path());
    config.health_interval = Duration::from_secs(1);
    let (supervisor, _urcs) = supervisor::spawn(config);
    let (modem, _) = supervisor.ready().await.unwrap();
    let bare_at = |emulator: &Emulator| {
        emulator
            .commands()
            .iter()
            .filter(|c| c.eq_ignore_ascii_case("AT"))
            .count()
    };
    // Busy: a command answered every 100 ms for 3 s (three intervals).
    let before = bare_at(&emulator);
    let busy_until = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < busy_until {
        modem.run(crate::at::Command::csq()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        bare_at(&emulator),
        before,
        "no health check while answering"
    );
    // Quiet: the next one comes within two intervals or so.
    let mut events = emulator.subscribe();
    let check = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let EmulatorEvent::CommandReceived(line) = events.recv().await.unwrap() {
                if line.eq_ignore_ascii_case("AT") {
                    break;
                }
            }
        }
    })
    .await;
    assert!(check.is_ok(), "a quiet modem gets its health check");
    supervisor.shutdown().await;
    emulator.stop().await;
}

/// A reconnect on request (SIGHUP, a send that failed for the modem's
/// state) opens the port again at once: the old session has let go of it
/// first, so the new one does not find it "in use by simgate" (itself) and
/// wait a backoff for nothing.
#[tokio::test]
async fn a_requested_reconnect_finds_the_port_free() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let mut config = ModemConfig::new(emulator.path());
    config.timeouts = timeouts();
    let (supervisor, _urcs) = supervisor::spawn(config);
    let (first, _) = supervisor.ready().await.unwrap();
    let mut state = supervisor.watch();
    state.borrow_and_update();
    supervisor.reconnect().await;
    let mut seen = Vec::new();
    loop {
        state.changed().await.unwrap();
        let now = state.borrow_and_update().clone();
        if let ModemState::Ready { modem, .. } = &now {
            if !modem.client().same_channel(first.client()) {
                break;
            }
        }
        if let ModemState::Connecting {
            last_error: Some(error),
            ..
        } = now
        {
            seen.push(error);
        }
    }
    assert!(seen.is_empty(), "the reconnect failed first: {seen:?}");
    supervisor.shutdown().await;
    emulator.stop().await;
}
