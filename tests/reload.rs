//! SIGHUP (`systemctl reload simgate`) reads the configuration again: the
//! settings the README does not name as waiting for a restart take effect
//! at once (sending on and off, the timers, the log level, the umask), and
//! those that wait say so in the log.

use crate::support::{delivers, port_for_a_daemon, spawn_simgate, until};
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// `simgate run` on the emulator with a configuration the test rewrites
/// and reloads.
struct Reloading {
    root: PathBuf,
    config: PathBuf,
    emulator: Emulator,
    child: tokio::process::Child,
}

impl Reloading {
    async fn start(name: &str, modem: &str, extra: &str) -> Self {
        Self::start_on(name, EmulatorConfig::new(Profile::Generic), modem, extra).await
    }

    async fn start_on(name: &str, emulator: EmulatorConfig, modem: &str, extra: &str) -> Self {
        let emulator = Emulator::start(emulator).await.unwrap();
        let root = crate::support::fresh_spool(name);
        let config = root.join("simgate.toml");
        let mut this = Self {
            child: tokio::process::Command::new("true").spawn().unwrap(),
            root,
            config,
            emulator,
        };
        this.write(modem, extra);
        this.child = spawn_simgate(&this.config, &this.root.join("stderr.log"), None);
        until("the modem ready", || this.log().contains("modem ready")).await;
        this
    }

    /// The configuration: `modem` in [modem], then `extra` (sections; a
    /// first line `umask = ...` goes in [spool]).
    fn write(&self, modem: &str, extra: &str) {
        let (umask, extra) = match extra.strip_prefix("umask") {
            Some(_) => extra.split_once('\n').unwrap_or((extra, "")),
            None => ("", extra),
        };
        std::fs::write(
            &self.config,
            format!(
                "[modem]\ndevice = \"{}\"\n{modem}\n\n[spool]\n{umask}\n\
                 inbox = \"{1}/inbox\"\noutbox = \"{1}/outbox\"\nsent = \"{1}/sent\"\n\
                 error = \"{1}/error\"\n\n[database]\npath = \"{1}/simgate.db\"\n\n\
                 [log]\nfile = \"{1}/simgate.log\"\n\n{extra}",
                self.emulator.path().display(),
                self.root.display()
            ),
        )
        .unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("simgate.log")).unwrap_or_default()
    }

    /// Rewrites the configuration, sends SIGHUP and waits for the reload
    /// to be logged; the log's length before it.
    async fn reload(&self, modem: &str, extra: &str) -> usize {
        let before = self.log();
        let reloads = before.matches("configuration reloaded").count();
        self.write(modem, extra);
        let pid = nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        until("the reload in the log", || {
            self.log().matches("configuration reloaded").count() > reloads
        })
        .await;
        before.len()
    }

    /// Changes the configuration file with `edit`, sends SIGHUP and waits
    /// for the reload to be logged.
    async fn edit_and_reload(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        std::fs::write(&self.config, edit(text)).unwrap();
        let reloads = self.log().matches("configuration reloaded").count();
        let pid = nix::unistd::Pid::from_raw(self.child.id().unwrap() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        until("the reload in the log", || {
            self.log().matches("configuration reloaded").count() > reloads
        })
        .await;
    }

    /// The commands the modem saw that start with `prefix`.
    fn count(&self, prefix: &str) -> usize {
        self.emulator
            .commands()
            .iter()
            .filter(|c| c.to_ascii_uppercase().starts_with(prefix))
            .count()
    }

    fn drop_file(&self, name: &str, text: &str) {
        let temp = self.root.join("dropping");
        std::fs::write(&temp, text).unwrap();
        std::fs::rename(&temp, self.root.join("outbox").join(name)).unwrap();
    }

    async fn stop(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// `[send] enabled` false → true by SIGHUP: what waited in the outbox and
/// what comes after are sent, each once. Before, the outbox was made only
/// at start, so nothing was ever taken in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_turned_on_by_a_reload_sends_the_outbox() {
    let gw = Reloading::start("reload-send-on", "", "[send]\nenabled = false\n").await;
    gw.drop_file("OUT+4917600000901.txt", "waited for sending");
    gw.reload("", "[send]\nenabled = true\n").await;
    gw.drop_file("OUT+4917600000902.txt", "after the reload");
    until("both messages in sent/", || {
        gw.root.join("sent/OUT+4917600000901.txt").exists()
            && gw.root.join("sent/OUT+4917600000902.txt").exists()
    })
    .await;
    assert_eq!(gw.emulator.sent().len(), 2, "each message sent once");
    gw.stop().await;
}

/// `[send] enabled` true → false by SIGHUP: the HTTP API refuses
/// `POST /sms/send` as it does when sending was off at start, and a file
/// dropped in the outbox stays there. Before, the API kept the value it
/// started with and accepted messages that then waited for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sending_turned_off_by_a_reload_is_refused_by_the_http_api() {
    let port = port_for_a_daemon();
    let http = format!("[http]\nlisten = \"127.0.0.1:{port}\"\n");
    let gw = Reloading::start("reload-send-off", "", &http).await;
    gw.reload("", &format!("{http}[send]\nenabled = false\n"))
        .await;
    let address = format!("127.0.0.1:{port}").parse().unwrap();
    let answer = crate::http_api::post_send(
        address,
        &[],
        &crate::http_api::message("+4917600000903", "refused"),
    )
    .await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert!(!gw.log().contains("takes effect at the next restart"));
    gw.stop().await;
}

/// `status_interval` from never to 1 s by SIGHUP: the signal is read every
/// second from then on. Before, the timers made at start kept running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_re_arms_the_status_interval() {
    let gw = Reloading::start("reload-status", "status_interval = \"0s\"", "").await;
    gw.reload("status_interval = \"1s\"", "").await;
    let after = gw.count("AT+CSQ");
    until("three more signal readings", || {
        gw.count("AT+CSQ") >= after + 3
    })
    .await;
    gw.stop().await;
}

/// `[log] level` info → debug by SIGHUP: debug lines follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_the_log_level() {
    let gw = Reloading::start("reload-level", "", "").await;
    let from = gw.log().len();
    gw.edit_and_reload(|text| text.replace("[log]\n", "[log]\nlevel = \"debug\"\n"))
        .await;
    // The reload reconnects the modem, which logs its commands at debug.
    until("a debug line after the reload", || {
        gw.log()[from..].contains(" DEBUG ")
    })
    .await;
    gw.stop().await;
}

/// A log target other than a file path (stderr, stdout, syslog), or a new
/// facility, cannot be switched to while running: the reload says it waits
/// for a restart, and logging goes on where it went.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_says_a_new_log_target_waits_for_a_restart() {
    let gw = Reloading::start("reload-target", "", "").await;
    // [log] is written by `write` with the file, replaced here.
    let log = format!("file = \"{}/simgate.log\"", gw.root.display());
    gw.edit_and_reload(|text| text.replace(&log, "file = \"syslog\"\nfacility = \"local3\""))
        .await;
    let text = gw.log();
    assert!(
        text.contains("SIGHUP: a changed [log] file takes effect at the next restart"),
        "{text}"
    );
    gw.stop().await;
}

/// `[spool] umask` by SIGHUP: the inbox files written after it have its
/// mode. Before, the mask set at start stayed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_the_umask() {
    // `write` puts `spool` lines in [spool] when they start with `umask`.
    let gw = Reloading::start("reload-umask", "", "umask = \"0077\"").await;
    gw.reload("", "umask = \"0000\"").await;
    gw.emulator
        .inject_deliver(&delivers("+4917600000904", "after the reload", 0)[0])
        .unwrap();
    let inbox_file = || {
        std::fs::read_dir(gw.root.join("inbox"))
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| path.extension().is_some_and(|e| e == "txt"))
    };
    until("the message in inbox/", || inbox_file().is_some()).await;
    let written = inbox_file();
    assert_eq!(mode(&written.unwrap()), 0o666);
    gw.stop().await;
}

/// With `check_sim = false` (gammu's `CheckSecurity = no`) the SIM's
/// security state is never asked and no PIN is entered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_sim_false_asks_nothing_of_the_sim() {
    let gw = Reloading::start("check-sim-off", "check_sim = false", "").await;
    assert_eq!(gw.count("AT+CPIN"), 0, "{:?}", gw.emulator.commands());
    gw.stop().await;
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A reload that lifts a rate limit lets the message it held go at once.
/// Before, a message held by
/// `[limits]` waited out the old window (an hour, a day) after the limit
/// was gone, and went after messages queued later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_lifts_a_rate_limit_releases_what_it_held() {
    let daemon = Reloading::start("reload-limits", "", "[limits]\nmessages_per_hour = 1\n").await;
    daemon.drop_file("OUT+491760000701.txt", "the hour's only one");
    until("the first in sent/", || {
        daemon.root.join("sent/OUT+491760000701.txt").exists()
    })
    .await;
    daemon.drop_file("OUT+491760000702.txt", "held");
    until("the second held by the limit", || {
        daemon.log().contains("limits.messages_per_hour = 1")
    })
    .await;
    daemon.reload("", "").await;
    until("the held one in sent/", || {
        daemon.root.join("sent/OUT+491760000702.txt").exists()
    })
    .await;
    assert_eq!(daemon.emulator.sent().len(), 2);
    daemon.stop().await;
}
