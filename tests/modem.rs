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

/// Without `--device`, the probe looks at the modems the configuration
/// names (`-c`), each under its name; one held by a running daemon is
/// reported as such and the others are still probed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_without_a_device_probes_the_configured_modems() {
    let first = Emulator::start(EmulatorConfig::new(Profile::QuectelEc25))
        .await
        .unwrap();
    let second = Emulator::start(EmulatorConfig::new(Profile::Sim7600))
        .await
        .unwrap();
    let root = crate::support::fresh_spool("probe-configured");
    let config = crate::support::write_spool_config(
        &root,
        &first.path(),
        &format!(
            "[[modems]]\nname = \"second\"\ndevice = \"{}\"\n",
            second.path().display()
        ),
    );
    let probe = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
            .args(["modem", "probe", "-c"])
            .arg(&config)
            .output()
    };
    let output = probe().await.unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        format!("modem \"modem\": {}", first.path().display()),
        format!("modem \"second\": {}", second.path().display()),
        "model:         EC25".to_owned(),
        "model:         SIMCOM_SIM7600E-H".to_owned(),
        "battery:       100 %, 4.20 V (+CBC status 0)".to_owned(),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in:\n{out}");
    }

    // A port another process holds (a running daemon, say): that modem is
    // reported in use, the other is probed, and the exit status says it.
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(first.path())
        .unwrap();
    let held = nix::fcntl::Flock::lock(held, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, errno)| errno)
        .unwrap();
    let output = probe().await.unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{out}");
    assert!(out.contains("is in use by"), "{out}");
    assert!(out.contains("model:         SIMCOM_SIM7600E-H"), "{out}");
    drop(held);
    let _ = std::fs::remove_dir_all(&root);
}
