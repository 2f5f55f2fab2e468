//! `simgate modem probe` against the emulator on a real pseudo-terminal.
//! The modem driver itself is tested inside the crate (`src/modem/tests.rs`).

use simgate::emulator::{Emulator, EmulatorConfig, Fault, Profile, Times};

fn cpin_entries(emulator: &Emulator) -> usize {
    emulator
        .commands()
        .iter()
        .filter(|c| c.to_ascii_uppercase().starts_with("AT+CPIN="))
        .count()
}

/// `simgate modem probe` on the emulator prints the facts a user needs.
#[tokio::test]
async fn probe_prints_the_facts() {
    let mut config = EmulatorConfig::new(Profile::QuectelEc25);
    config.sim_pin = Some("4711".to_owned());
    let emulator = Emulator::start(config).await.unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["modem", "probe", "--device"])
        .arg(emulator.path())
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "answers AT:    yes",
        "manufacturer:  Quectel",
        "model:         EC25",
        "SIM:           PIN required, 3 attempt(s) left",
        "signal:        -73 dBm (64%)",
        "PDU mode:      supported",
        "hint: the SIM is locked with a PIN (3 attempt(s) left)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    assert!(out.contains("IMEI:          8"), "{out}");
    // The probe never enters a PIN.
    assert_eq!(cpin_entries(&emulator), 0);

    // An unlocked, registered modem: registration, operator and storage too.
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Sim7600))
        .await
        .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["modem", "probe", "--device"])
        .arg(emulator.path())
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "SIM:           ready",
        "registration:  registered, home network, 4G (LTE)",
        "operator:      Telekom.de",
        "storage:       SM 0/30",
        "looks good",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

/// A port that does not answer gets the multi-port hint.
#[tokio::test]
async fn probe_explains_a_silent_port() {
    let emulator = Emulator::start(EmulatorConfig::new(Profile::HuaweiE3372))
        .await
        .unwrap();
    emulator.inject_fault(Fault::NoAnswer {
        command_prefix: "AT".to_owned(),
        times: Times::Always,
    });
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["modem", "probe", "--device"])
        .arg(emulator.path())
        .output()
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(out.contains("answers AT:    no"), "{out}");
    assert!(out.contains("multi-port modems have one AT port"), "{out}");
}
