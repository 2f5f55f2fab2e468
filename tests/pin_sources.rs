//! Where the SIM PIN comes from (issue #11 §2): a systemd credential
//! (`LoadCredential=pin:...`, read from `$CREDENTIALS_DIRECTORY/pin`) wins
//! over `pin_file` and over the configuration; a PIN in a file others can
//! read is a warning in `check-config`; and the daemon unlocks a SIM with
//! the PIN from a credential alone.

use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn site(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("simgate-pin-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["inbox", "outbox", "sent", "error", "credentials"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    root
}

fn write(path: &Path, text: &str, mode: u32) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn check_config(config: &Path, credentials: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_simgate"));
    command
        .args(["check-config", "--show-pin", "-c"])
        .arg(config)
        .env("STATE_DIRECTORY", config.parent().unwrap().join("state"));
    match credentials {
        Some(dir) => command.env("CREDENTIALS_DIRECTORY", dir),
        None => command.env_remove("CREDENTIALS_DIRECTORY"),
    };
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn gammu_config(root: &Path, device: &str, pin: Option<&str>) -> String {
    format!(
        "[gammu]\nport = {device}\nconnection = at\n\n[smsd]\nservice = files\n{}\
         inboxpath = {1}/inbox/\noutboxpath = {1}/outbox/\nsentsmspath = {1}/sent/\n\
         errorsmspath = {1}/error/\n",
        pin.map(|p| format!("PIN = {p}\n")).unwrap_or_default(),
        root.display()
    )
}

#[test]
fn a_pin_others_can_read_is_a_warning_and_a_credential_wins() {
    let root = site("sources");
    let config = root.join("gammu-smsdrc");
    write(
        &config,
        &gammu_config(&root, "/dev/ttyUSB0", Some("1234")),
        0o644,
    );
    let text = stdout(&check_config(&config, None));
    assert!(
        text.contains(&format!(
            "# warning: [smsd] PIN: the SIM PIN sits in {}, which every user can read (mode 0644)",
            config.display()
        )),
        "{text}"
    );
    assert!(text.contains("pin = \"1234\""), "{text}");

    // Only root and the group: no warning.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let text = stdout(&check_config(&config, None));
    assert!(!text.contains("every user can read"), "{text}");

    // A credential: its PIN is the one, and a note says the file's is not.
    write(&root.join("credentials/pin"), "4321\n", 0o400);
    let text = stdout(&check_config(&config, Some(&root.join("credentials"))));
    assert!(text.contains("pin = \"4321\""), "{text}");
    assert!(
        text.contains("# note: [smsd] PIN: the PIN comes from the systemd credential `pin`; `[smsd] PIN` in the configuration is not used"),
        "{text}"
    );
    // A credentials folder without `pin`: the configuration's PIN.
    std::fs::remove_file(root.join("credentials/pin")).unwrap();
    let text = stdout(&check_config(&config, Some(&root.join("credentials"))));
    assert!(text.contains("pin = \"1234\""), "{text}");

    // simgate's TOML with pin_file: read, and checked for its mode.
    let pin_file = root.join("pin");
    write(&pin_file, "5678\n", 0o644);
    let toml = root.join("simgate.toml");
    write(
        &toml,
        &format!(
            "[modem]\ndevice = \"/dev/ttyUSB0\"\npin_file = \"{}\"\n[spool]\ninbox = \"{1}/inbox\"\n\
             outbox = \"{1}/outbox\"\nsent = \"{1}/sent\"\nerror = \"{1}/error\"\n",
            pin_file.display(),
            root.display()
        ),
        0o644,
    );
    let text = stdout(&check_config(&toml, None));
    assert!(
        text.contains("# warning: modem.pin_file: the SIM PIN sits in")
            && text.contains("(mode 0644)"),
        "{text}"
    );
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let text = stdout(&check_config(&toml, None));
    assert!(!text.contains("# warning"), "{text}");
    // What the file holds is checked like any PIN, and never shown.
    write(&pin_file, "12a4\n", 0o600);
    let output = check_config(&toml, None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("modem.pin_file") && !stderr.contains("12a4"),
        "{stderr}"
    );
    std::fs::remove_file(&pin_file).unwrap();
    let output = check_config(&toml, None);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(&pin_file.display().to_string()),
        "a missing pin_file is an error naming it"
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The daemon unlocks a SIM with the PIN of a credential, the
/// configuration holding none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_unlocks_the_sim_with_the_credential() {
    let mut modem = EmulatorConfig::new(Profile::Generic);
    modem.sim_pin = Some("2468".to_owned());
    let emulator = Emulator::start(modem).await.unwrap();
    let root = site("credential-daemon");
    let config = root.join("gammu-smsdrc");
    let text = format!(
        "{}logfile = {}\n",
        gammu_config(&root, &emulator.path().display().to_string(), None),
        root.join("simgate.log").display()
    );
    write(&config, &text, 0o644);
    write(&root.join("credentials/pin"), "2468\n", 0o400);
    let mut daemon = tokio::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("run")
        .arg("-c")
        .arg(&config)
        .env("CREDENTIALS_DIRECTORY", root.join("credentials"))
        .env("STATE_DIRECTORY", root.join("state"))
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let temp = root.join("dropping");
    std::fs::write(&temp, "unlocked by a credential").unwrap();
    std::fs::rename(&temp, root.join("outbox/OUT+4917600000401.txt")).unwrap();
    let sent = root.join("sent/OUT+4917600000401.txt");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !sent.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not sent; see {}",
            root.join("simgate.log").display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let entered: Vec<String> = emulator
        .commands()
        .into_iter()
        .filter(|c| c.to_ascii_uppercase().starts_with("AT+CPIN="))
        .collect();
    assert_eq!(entered.len(), 1, "{entered:?}");
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
