//! The PIN is never a gamble (issue #9 §5): a PIN the SIM rejected is never
//! entered again, across SIGHUP and restarts, until the configured PIN
//! changes; a modem that cannot tell the attempts left gets the configured
//! PIN once per SIM and PIN.

use crate::support::{spawn_simgate, Harness};
use simgate::config::SimPin;
use simgate::emulator::{Emulator, EmulatorConfig, EmulatorEvent, Profile};
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast;

fn pin_entries(emulator: &Emulator) -> usize {
    emulator
        .commands()
        .iter()
        .filter(|c| c.to_ascii_uppercase().starts_with("AT+CPIN="))
        .count()
}

/// Waits until the modem saw `count` more `AT+CCID` commands: each one is
/// simgate identifying the SIM right before it decides about the PIN.
async fn decisions(events: &mut broadcast::Receiver<EmulatorEvent>, count: usize) {
    let mut seen = 0;
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    while seen < count {
        tokio::select! {
            event = events.recv() => match event {
                Ok(EmulatorEvent::CommandReceived(line)) if line.eq_ignore_ascii_case("AT+CCID") => seen += 1,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(error) => panic!("{error}"),
            },
            () = &mut deadline => panic!("simgate did not look at the SIM {count} times within 30 s"),
        }
    }
}

/// A modem that cannot tell how many attempts remain (plain 27.007) gets
/// the configured PIN, once: the daemon comes up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modem_that_cannot_count_attempts_gets_the_pin_once() {
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.sim_pin = Some("1234".to_owned());
    modem.pin_counters = false;
    let h = Harness::start_on("pin-uncounted", modem, |c| {
        c.modem.pin = Some(SimPin::parse("pin", "1234").unwrap());
    })
    .await;
    assert_eq!(pin_entries(&h.emulator), 1);
    h.stop().await;
}

/// The same modem with a wrong PIN: entered once, rejected, and never again,
/// not after a restart either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncounted_wrong_pin_is_entered_once_across_restarts() {
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.sim_pin = Some("1234".to_owned());
    modem.pin_counters = false;
    let emulator = Emulator::start(modem).await.unwrap();
    let root = std::env::temp_dir().join(format!("simgate-pin-once-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let config = write_config(&root, &emulator.path(), "9999");
    let mut events = emulator.subscribe();
    let log = root.join("simgate.log");
    let mut daemon = spawn_simgate(&config, &log, None);
    decisions(&mut events, 2).await;
    assert_eq!(pin_entries(&emulator), 1);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let mut daemon = spawn_simgate(&config, &log, None);
    decisions(&mut events, 2).await;
    assert_eq!(
        pin_entries(&emulator),
        1,
        "a restart entered the rejected PIN again"
    );
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

fn write_config(root: &Path, device: &Path, pin: &str) -> std::path::PathBuf {
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    let config = root.join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "[modem]\ndevice = \"{}\"\npin = \"{pin}\"\nstatus_interval = \"0s\"\n\n[spool]\n\
             inbox = \"{1}/inbox\"\noutbox = \"{1}/outbox\"\nsent = \"{1}/sent\"\n\
             error = \"{1}/error\"\n\n[database]\npath = \"{1}/simgate.db\"\n\n[log]\n\
             file = \"{1}/simgate.log\"\n",
            device.display(),
            root.display()
        ),
    )
    .unwrap();
    config
}

/// A PIN the SIM rejected is not entered again on SIGHUP (which reloads the
/// configuration and reconnects the modem) nor after a restart; a corrected
/// PIN is entered at the next SIGHUP and the gateway works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_pin_survives_sighup_and_restart_until_it_changes() {
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.sim_pin = Some("1234".to_owned());
    let emulator = Emulator::start(modem).await.unwrap();
    let root = std::env::temp_dir().join(format!("simgate-pin-hup-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let config = write_config(&root, &emulator.path(), "9999");
    let log = root.join("simgate.log");
    let mut events = emulator.subscribe();
    let mut daemon = spawn_simgate(&config, &log, None);
    decisions(&mut events, 1).await;
    decisions(&mut events, 1).await;
    assert_eq!(pin_entries(&emulator), 1);
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    decisions(&mut events, 2).await;
    assert_eq!(pin_entries(&emulator), 1, "SIGHUP cost a PIN attempt");
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let mut daemon = spawn_simgate(&config, &log, None);
    decisions(&mut events, 2).await;
    assert_eq!(pin_entries(&emulator), 1, "a restart cost a PIN attempt");
    // The user corrects the PIN and reloads.
    write_config(&root, &emulator.path(), "1234");
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    let temp = root.join("dropping");
    std::fs::write(&temp, "unlocked").unwrap();
    std::fs::rename(&temp, root.join("outbox/OUT+4917600000301.txt")).unwrap();
    let sent = root.join("sent/OUT+4917600000301.txt");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !sent.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not sent; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pin_entries(&emulator), 2);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}

/// A SIM that locks itself again while the modem stays (a modem that
/// reset inside, its USB port kept): the modem leaves the network, and
/// gammu, which checks the SIM before every receive cycle
/// (`CheckSecurity`), enters the PIN again at its next poll, so a
/// receive-only gateway goes on receiving. simgate checked the SIM at
/// connect, and after a send that failed for the modem's state only: with
/// `Send = no` every read failed from then on and nothing more came in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sim_that_locks_again_is_unlocked_and_receiving_goes_on() {
    use crate::support::delivers;
    use simgate::emulator::{EmulatorError, Fault};
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.sim_pin = Some("1234".to_owned());
    let mut h = Harness::start_on("pin-relocked", modem, |c| {
        c.modem.pin = Some(SimPin::parse("pin", "1234").unwrap());
        c.send.enabled = false;
        c.receive.poll_interval = Duration::from_secs(1);
    })
    .await;
    assert_eq!(pin_entries(&h.emulator), 1);
    h.emulator
        .inject_deliver(&delivers("+4915100000031", "before the lock", 0)[0])
        .unwrap();
    let files = h.received().await;
    assert_eq!(h.inbox(&files[0]), "before the lock");
    let mut events = h.emulator.subscribe();
    h.emulator.inject_fault(Fault::SimPinRequired);
    // The next poll finds the SIM locked and has the PIN entered again.
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(EmulatorEvent::CommandReceived(line))
                    if line.to_ascii_uppercase().starts_with("AT+CPIN=") => break,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(error) => panic!("{error}"),
            },
            () = &mut deadline => panic!("the PIN was not entered again within 30 s"),
        }
    }
    // Registered again, the network delivers what waited.
    let pdu = &delivers("+4915100000032", "after the lock", 0)[0];
    crate::support::until("the modem back on the network", || {
        !matches!(
            h.emulator.inject_deliver(pdu),
            Err(EmulatorError::NotRegistered)
        )
    })
    .await;
    let files = h.received().await;
    assert_eq!(h.inbox(&files[0]), "after the lock");
    assert_eq!(pin_entries(&h.emulator), 2, "the PIN the SIM took, again");
    h.stop().await;
}
