//! State per instance and one daemon per instance (issue #9 §1), as users
//! meet it: `simgate run` processes on unchanged gammu-smsdrc files, on a
//! machine where simgate's state directory does not exist yet.

use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

/// A gammu-style spool in a temporary folder, with a gammu-smsdrc for the
/// modem at `device`.
struct Site {
    root: PathBuf,
    config: PathBuf,
}

impl Site {
    fn new(tag: &str, device: &Path) -> Self {
        let root = std::env::temp_dir().join(format!("simgate-site-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["inbox", "outbox", "sent", "error"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        let config = root.join("gammu-smsdrc");
        let site = Site { root, config };
        site.write_config(device, &site.root);
        site
    }

    /// A gammu-smsdrc as gammu users write it, with the spool under `spool`.
    fn write_config(&self, device: &Path, spool: &Path) {
        std::fs::write(
            &self.config,
            format!(
                "[gammu]\ndevice = {}\nconnection = at115200\n\n[smsd]\nservice = files\n\
                 logfile = {}\nCommTimeout = 1\ninboxpath = {2}/inbox/\noutboxpath = {2}/outbox/\n\
                 sentsmspath = {2}/sent/\nerrorsmspath = {2}/error/\n",
                device.display(),
                self.root.join("simgate.log").display(),
                spool.display()
            ),
        )
        .unwrap();
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn drop_file(&self, name: &str, text: &str) {
        let temp = self.root.join("dropping");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, self.dir("outbox").join(name)).unwrap();
    }

    /// `simgate run -c <gammu-smsdrc>` with `STATE_DIRECTORY=state`.
    fn start(&self, state: &Path) -> Child {
        Command::new(env!("CARGO_BIN_EXE_simgate"))
            .arg("run")
            .arg("-c")
            .arg(&self.config)
            .env("STATE_DIRECTORY", state)
            .env_remove("NOTIFY_SOCKET")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    }

    /// `simgate check-config -c <gammu-smsdrc>`'s `# state:` line.
    fn state_line(&self, state: &Path) -> String {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
            .arg("check-config")
            .arg("-c")
            .arg(&self.config)
            .env("STATE_DIRECTORY", state)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("# state: ").map(str::to_owned))
            .expect("check-config names the state")
    }

    /// Waits until `name` is in sent/.
    async fn sent(&self, name: &str) {
        let path = self.dir("sent").join(name);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while !path.exists() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} not sent within 30 s; see {}",
                self.dir("simgate.log").display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Waits for a second daemon to give up, returning what it said.
async fn refused(child: Child) -> String {
    let output = tokio::time::timeout(Duration::from_secs(15), child.wait_with_output())
        .await
        .expect("a second daemon stops by itself within seconds")
        .unwrap();
    assert!(
        !output.status.success(),
        "a second daemon exits with an error"
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn alive(child: &mut Child) -> bool {
    child.try_wait().unwrap().is_none()
}

/// Two gammu-smsdrc files, two modems, two spools, the same machine: each
/// gets its own state without a new setting, created where systemd (here
/// `STATE_DIRECTORY`, missing at first) says; `check-config` names it; a
/// second daemon on either configuration is refused, naming the state and
/// the first daemon's pid, and the first goes on undisturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_configurations_run_side_by_side_and_a_second_daemon_is_refused() {
    let modem_a = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let modem_b = Emulator::start(EmulatorConfig::new(Profile::QuectelEc25))
        .await
        .unwrap();
    let a = Site::new("a", &modem_a.path());
    let b = Site::new("b", &modem_b.path());
    let state = a.dir("state/not/there/yet");
    assert!(!state.exists());
    let (state_a, state_b) = (a.state_line(&state), b.state_line(&state));
    assert_ne!(state_a, state_b, "two configurations, two databases");
    assert!(state_a.contains("gammu-smsdrc-") && state_a.contains("created at the first start"));

    let mut daemon_a = a.start(&state);
    let mut daemon_b = b.start(&state);
    a.drop_file("OUT+4917600000201.txt", "through modem a");
    b.drop_file("OUT+4917600000202.txt", "through modem b");
    a.sent("OUT+4917600000201.txt").await;
    b.sent("OUT+4917600000202.txt").await;
    assert_eq!(modem_a.sent().len(), 1);
    assert_eq!(modem_b.sent().len(), 1);
    let databases: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".db"))
        .collect();
    assert_eq!(databases.len(), 2, "{databases:?}");

    // The same configuration again.
    let message = refused(a.start(&state)).await;
    let pid_a = daemon_a.id().unwrap();
    assert!(message.contains("the state"), "{message}");
    assert!(
        message.contains(&format!("simgate (pid {pid_a})")),
        "{message}"
    );
    assert!(alive(&mut daemon_a));
    a.drop_file("OUT+4917600000203.txt", "still sending");
    a.sent("OUT+4917600000203.txt").await;

    // Another configuration on a's outbox (and b's modem): the outbox is
    // held.
    let c = Site::new("c", &modem_b.path());
    c.write_config(&modem_b.path(), &a.root);
    let message = refused(c.start(&state)).await;
    assert!(
        message.contains("outbox") && message.contains(&format!("pid {pid_a}")),
        "{message}"
    );

    // Another configuration on its own spool, but b's modem: the modem is
    // held.
    let d = Site::new("d", &modem_b.path());
    let message = refused(d.start(&state)).await;
    let pid_b = daemon_b.id().unwrap();
    assert!(
        message.contains("modem") && message.contains(&format!("pid {pid_b}")),
        "{message}"
    );
    assert!(alive(&mut daemon_a) && alive(&mut daemon_b));
    b.drop_file("OUT+4917600000204.txt", "b goes on too");
    b.sent("OUT+4917600000204.txt").await;
    assert_eq!(modem_b.sent().len(), 2);
    assert_eq!(modem_a.sent().len(), 2);

    daemon_a.start_kill().unwrap();
    daemon_b.start_kill().unwrap();
    let _ = daemon_a.wait().await;
    let _ = daemon_b.wait().await;
    for site in [&a, &b, &c, &d] {
        let _ = std::fs::remove_dir_all(&site.root);
    }
}

/// A state directory simgate cannot create stops it at once with one line
/// that names the path and the fix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_directory_that_cannot_be_made_is_one_clear_line() {
    let modem = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let site = Site::new("no-state", &modem.path());
    std::fs::write(site.dir("a-file"), "").unwrap();
    let child = site.start(&site.dir("a-file/state"));
    let message = refused(child).await;
    let line = message.trim();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.contains(&site.dir("a-file/state").display().to_string()),
        "{line}"
    );
    assert!(line.contains("STATE_DIRECTORY"), "{line}");
    let _ = std::fs::remove_dir_all(&site.root);
}
