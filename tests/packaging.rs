//! What the Debian package ships, checked without building it (issue #11
//! §1, §2): the units pass `systemd-analyze verify` and score at most 2.0
//! in `systemd-analyze security`; the template is the unit with an
//! instance; the spool the tmpfiles make is the one the unit may write and
//! the default configuration uses; and the shipped configuration, which
//! names no modem, makes `simgate run` say what to set and exit 0 after
//! telling systemd it is ready. (`packaging/test-deb` installs the real
//! package; `packaging/test-cross` runs the arm builds under qemu.)

use crate::support::{reference, Reference};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn packaging(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("packaging/debian")
        .join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(packaging(file)).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simgate-packaging-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_units_verify_and_score_at_most_2() {
    const CHECK: &str = "packaging::the_units_verify_and_score_at_most_2";
    let Some(analyze) = reference(Reference::SystemdAnalyze, CHECK) else {
        return;
    };
    let dir = scratch("units");
    // The units as installed, but starting this build's binary: verify
    // checks that ExecStart= exists.
    let binary = env!("CARGO_BIN_EXE_simgate");
    for (file, name) in [
        ("simgate.service", "simgate.service"),
        ("simgate@.service", "simgate@modem2.service"),
    ] {
        let text = read(file).replace("/usr/bin/simgate", binary);
        let unit = dir.join(name);
        std::fs::write(&unit, text).unwrap();
        let output = Command::new(&analyze)
            .args(["verify", "--man=no"])
            .arg(&unit)
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && said.trim().is_empty(),
            "{name}: {said}"
        );

        let output = Command::new(&analyze)
            .args(["security", "--offline=true", "--no-pager"])
            .arg(&unit)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        let score: f64 = report
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|rest| rest.split(": ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|score| score.parse().ok())
            .unwrap_or_else(|| panic!("no score in:\n{report}"));
        assert!(score <= 2.0, "{name} scores {score}:\n{report}");
        println!("{name}: systemd-analyze security --offline: {score}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The lines of a unit that carry settings, without comments.
fn settings(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn the_template_is_the_unit_with_its_instance() {
    let unit = read("simgate.service");
    let template = read("simgate@.service");
    let mut expected: Vec<String> = settings(&unit).iter().map(|l| (*l).to_owned()).collect();
    for line in &mut expected {
        *line = match line.as_str() {
            "Description=SMS gateway daemon (simgate)" => {
                "Description=SMS gateway daemon (simgate) for %I".to_owned()
            }
            "ExecStart=/usr/bin/simgate run --config /etc/simgate/simgate.toml" => {
                "ExecStart=/usr/bin/simgate run --config /etc/simgate/%i.toml".to_owned()
            }
            "RuntimeDirectory=simgate" => "RuntimeDirectory=simgate-%i".to_owned(),
            other => other.to_owned(),
        };
    }
    let position = expected
        .iter()
        .position(|l| l.starts_with("Description="))
        .unwrap();
    expected.insert(
        position + 1,
        "ConditionPathExists=/etc/simgate/%i.toml".to_owned(),
    );
    assert_eq!(settings(&template), expected);
}

#[test]
fn the_spool_is_what_the_unit_may_write_and_the_configuration_uses() {
    let tmpfiles = read("simgate.tmpfile");
    let entries: Vec<Vec<&str>> = settings(&tmpfiles)
        .into_iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let defaults = simgate::config::Config::default().spool;
    let used = [
        Some(defaults.outbox),
        Some(defaults.inbox),
        defaults.sent,
        defaults.error,
    ];
    for dir in used.into_iter().flatten() {
        let entry = entries
            .iter()
            .find(|e| Path::new(e[1]) == dir)
            .unwrap_or_else(|| panic!("no tmpfiles entry for {}", dir.display()));
        // setgid, the group may write: the group drops and takes files.
        assert_eq!(entry[..1], ["d"], "{entry:?}");
        assert_eq!(entry[2..5], ["2770", "_simgate", "_simgate"], "{entry:?}");
        assert!(dir.starts_with("/var/spool/simgate"));
    }
    for unit in ["simgate.service", "simgate@.service"] {
        assert!(
            settings(&read(unit)).contains(&"ReadWritePaths=/var/spool/simgate"),
            "{unit}"
        );
    }
}

/// Runs `simgate run -c config` with a notify socket; returns its exit
/// status, stderr and what it told the socket.
fn run_with_notify(config: &Path, dir: &Path) -> (std::process::ExitStatus, String, String) {
    let socket_path = dir.join("notify");
    let socket = std::os::unix::net::UnixDatagram::bind(&socket_path).unwrap();
    socket.set_nonblocking(true).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("run")
        .arg("-c")
        .arg(config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("STATE_DIRECTORY", dir.join("state"))
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let mut notified = String::new();
    let mut buffer = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buffer) {
        notified.push_str(&String::from_utf8_lossy(&buffer[..n]));
        notified.push('\n');
    }
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
        notified,
    )
}

#[test]
fn with_no_modem_configured_simgate_says_what_to_set_and_exits_cleanly() {
    let dir = scratch("unconfigured");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("etc/simgate.toml");
    let (status, stderr, notified) = run_with_notify(&shipped, &dir);
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.starts_with("simgate: no modem configured: set `device` under [modem] in "),
        "{stderr}"
    );
    // READY=1 first (a notify service that exits before it has failed),
    // then the line as the status systemctl shows.
    let line = stderr.trim().trim_start_matches("simgate: ");
    assert_eq!(notified.trim_end(), format!("READY=1\nSTATUS={line}"));

    // Debian's gammu-smsdrc as shipped: `port = /dev/null`.
    let gammu = dir.join("gammu-smsdrc");
    std::fs::write(
        &gammu,
        "[gammu]\n# Please configure this!\nport = /dev/null\nconnection = at\n\n[smsd]\n\
         service = files\nlogfile = syslog\n",
    )
    .unwrap();
    std::fs::remove_file(dir.join("notify")).unwrap();
    let (status, stderr, notified) = run_with_notify(&gammu, &dir);
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("`port = /dev/null`") && stderr.contains("placeholder"),
        "{stderr}"
    );
    assert!(notified.starts_with("READY=1\nSTATUS=no modem configured"));

    // Any other mistake is still an error, and fails the unit.
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "[modem]\ndevice = \"/dev/ttyUSB0\"\nbaud = 0\n").unwrap();
    std::fs::remove_file(dir.join("notify")).unwrap();
    let (status, stderr, notified) = run_with_notify(&broken, &dir);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("baud"), "{stderr}");
    assert_eq!(notified, "", "no READY=1 for a broken configuration");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_manual_and_completions_are_generated_by_the_binary() {
    let dir = scratch("docs");
    let output = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["generate-docs", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(output.status.success());
    for file in [
        "simgate.8",
        "simgate.toml.5",
        "completions/simgate.bash",
        "completions/_simgate",
        "completions/simgate.fish",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert!(text.len() > 1000, "{file}: {} bytes", text.len());
    }
    let page = std::fs::read_to_string(dir.join("simgate.8")).unwrap();
    assert!(page.starts_with(".TH SIMGATE 8 "), "{page}");
    // Hidden from users, also in the manual.
    let help = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&help.stdout).contains("generate-docs"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The values a unit gives `key`, in order (a list setting may be given on
/// several lines; an empty value resets it).
fn values<'a>(text: &'a str, key: &str) -> Vec<&'a str> {
    let mut values = Vec::new();
    for line in settings(text) {
        if let Some(value) = line.strip_prefix(key).and_then(|l| l.strip_prefix('=')) {
            if value.is_empty() {
                values.clear();
            } else {
                values.extend(value.split_whitespace());
            }
        }
    }
    values
}

/// The devices simgate drives over the network (a HiLink or ZTE stick on
/// its USB network, an Android phone on the LAN), its HTTP API on
/// localhost and webhooks to a receiver beside it work under the shipped
/// unit, as they do without it: it may make IP sockets and reach
/// localhost, link-local and private addresses, while the rest of the
/// internet stays denied.
#[test]
fn the_units_let_the_daemon_reach_its_web_sticks_phones_and_local_receivers() {
    for file in ["simgate.service", "simgate@.service"] {
        let unit = read(file);
        assert_ne!(
            values(&unit, "PrivateNetwork"),
            ["yes"],
            "{file}: no network at all"
        );
        let families = values(&unit, "RestrictAddressFamilies");
        for family in ["AF_UNIX", "AF_INET", "AF_INET6"] {
            assert!(
                families.is_empty() || families.contains(&family),
                "{file}: {family} refused ({families:?})"
            );
        }
        let allowed = values(&unit, "IPAddressAllow");
        assert_eq!(values(&unit, "IPAddressDeny"), ["any"], "{file}");
        for needed in [
            "localhost",
            "link-local",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "fc00::/7",
        ] {
            assert!(
                allowed.contains(&needed),
                "{file}: {needed} not allowed ({allowed:?}): a stick at 192.168.8.1 or \
                 192.168.0.1, a phone on the LAN, or the API on localhost cannot be reached"
            );
        }
    }
}
