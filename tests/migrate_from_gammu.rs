//! `simgate migrate-from-gammu` on a gammu-smsd setup as Debian ships it
//! (issue #11 §3 acceptance): a spool laid out as gammu-smsd's package
//! makes it and filled by the real `gammu-smsd-inject`, a gammu-smsdrc as
//! Debian ships it with the modem set to the emulator and a RunOnSent hook,
//! gammu-smsd.service enabled, all under a root folder (`--root`, which is
//! `systemctl --root`'s offline mode: systemd is not PID 1 here).
//!
//! The dry run changes nothing; `--apply` disables gammu-smsd, writes the
//! drop-in and enables simgate; simgate started as the drop-in says (its
//! user, groups, umask and ExecStart, by hand) sends every waiting message
//! exactly once, and one more that `gammu-smsd-inject` queues meanwhile,
//! keeping names and modes; the inbox file gammu wrote is untouched; the
//! hook runs for each; `--undo` puts every file and link under the root
//! back exactly as it was.
//!
//! As root (CI) the spool belongs to `gammu:gammu` 0770, as Debian's
//! package leaves it, the modem to `root:dialout` 0660, and simgate runs as
//! `gammu`; otherwise all belongs to the user running the tests.

use crate::support::{reference, Reference};
use simgate::emulator::{Emulator, EmulatorConfig, Profile};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const CHECK: &str = "migrate_from_gammu::the_queue_goes_out_once_and_undo_puts_gammu_back";

/// Debian's /etc/gammu-smsdrc (gammu-smsd 1.42.0-8) with `port` and the
/// spool paths filled in, as an admin leaves it.
fn debian_smsdrc(device: &Path, spool: &Path, hook: &Path) -> String {
    format!(
        "# Configuration file for Gammu SMS Daemon\n\n\
         # Gammu library configuration, see gammurc(5)\n[gammu]\n# Please configure this!\n\
         port = {}\nconnection = at\n# Debugging\n#logformat = textall\n\n\
         # SMSD configuration, see gammu-smsdrc(5)\n[smsd]\nservice = files\nlogfile = syslog\n\
         # Increase for debugging information\ndebuglevel = 0\nRunOnSent = {}\n\n\
         # Paths where messages are stored\ninboxpath = {2}/inbox/\noutboxpath = {2}/outbox/\n\
         sentsmspath = {2}/sent/\nerrorsmspath = {2}/error/\n",
        device.display(),
        hook.display(),
        spool.display()
    )
}

/// Every path under `dir` with its type, mode, owner, link target or
/// content: what `--undo` must restore.
fn tree(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let what = if meta.file_type().is_symlink() {
            format!("link -> {}", std::fs::read_link(&path).unwrap().display())
        } else if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
            "dir".to_owned()
        } else {
            format!("file {:?}", std::fs::read(&path).unwrap())
        };
        found.insert(
            path.strip_prefix(dir).unwrap().to_path_buf(),
            format!("{what} {:o} {}:{}", meta.mode(), meta.uid(), meta.gid()),
        );
    }
    found
}

fn stat(path: &Path) -> (u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.mode() & 0o7777, meta.uid(), meta.gid())
}

fn ok(output: Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `Key=value` settings of a unit file, in order.
fn unit_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn last<'a>(settings: &'a [(String, String)], key: &str) -> &'a str {
    settings
        .iter()
        .rev()
        .find(|(k, v)| k == key && !v.is_empty())
        .map_or("", |(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_goes_out_once_and_undo_puts_gammu_back() {
    let (Some(inject), Some(systemctl)) = (
        reference(Reference::SmsdInject, CHECK),
        reference(Reference::Systemctl, CHECK),
    ) else {
        return;
    };
    let root_user = nix::unistd::geteuid().is_root();
    let gammu = nix::unistd::User::from_name("gammu").ok().flatten();
    let debian_owner = root_user && gammu.is_some();

    let base = std::env::temp_dir().join(format!("simgate-migrate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("root");
    let spool = root.join("var/spool/gammu");
    for dir in ["inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(spool.join(dir)).unwrap();
    }
    for dir in ["etc", "lib/systemd/system", "usr/bin", "var/lib"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The package's units; gammu-smsd's as its package installs it.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for unit in ["simgate.service", "simgate@.service"] {
        std::fs::copy(
            manifest.join("packaging/debian").join(unit),
            root.join("lib/systemd/system").join(unit),
        )
        .unwrap();
    }
    let gammu_unit = std::fs::read_to_string("/lib/systemd/system/gammu-smsd.service")
        .unwrap_or_else(|_| {
            "[Unit]\nDescription=SMS daemon for Gammu\n\n[Service]\n\
             ExecStart=/usr/bin/gammu-smsd --pid=/run/gammu-smsd.pid --daemon\n\
             Type=forking\nPIDFile=/run/gammu-smsd.pid\n\n[Install]\n\
             WantedBy=multi-user.target\n"
                .to_owned()
        });
    std::fs::write(
        root.join("lib/systemd/system/gammu-smsd.service"),
        gammu_unit,
    )
    .unwrap();
    let enable = Command::new(&systemctl)
        .arg(format!("--root={}", root.display()))
        .args(["enable", "gammu-smsd.service"])
        .output()
        .unwrap();
    assert!(enable.status.success(), "{enable:?}");
    let gammu_link = root.join("etc/systemd/system/multi-user.target.wants/gammu-smsd.service");
    assert!(gammu_link.is_symlink());
    // The simgate the unit will start: a copy everyone can run (the build
    // folder may be private).
    let simgate = root.join("usr/bin/simgate");
    std::fs::copy(env!("CARGO_BIN_EXE_simgate"), &simgate).unwrap();

    // The modem, behind a by-id link, root:dialout 0660 as udev makes it.
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let by_id = root.join("dev/serial/by-id");
    std::fs::create_dir_all(&by_id).unwrap();
    let device = by_id.join("usb-Generic_Modem_0123456789-if00-port0");
    std::os::unix::fs::symlink(emulator.tty_path(), &device).unwrap();
    if root_user {
        let dialout = nix::unistd::Group::from_name("dialout").unwrap().unwrap();
        nix::unistd::chown(&emulator.tty_path(), Some(0.into()), Some(dialout.gid)).unwrap();
        std::fs::set_permissions(emulator.tty_path(), std::fs::Permissions::from_mode(0o660))
            .unwrap();
    }

    // The hook: a line per sent file, with its argument and user.
    let hooks = base.join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    let hook = hooks.join("on-sent");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$1 $(id -un)\" >> {}\n",
            hooks.join("sent.log").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&hooks, std::fs::Permissions::from_mode(0o777)).unwrap();

    let config = root.join("etc/gammu-smsdrc");
    std::fs::write(&config, debian_smsdrc(&device, &spool, &hook)).unwrap();
    // What gammu-smsd (root, umask 022) wrote into the inbox before.
    let old_inbox = spool.join("inbox/IN20261201_101010_00_+4915112345678_00.txt");
    std::fs::write(&old_inbox, "received by gammu-smsd").unwrap();
    let old_inbox_before = (
        std::fs::read(&old_inbox).unwrap(),
        std::fs::metadata(&old_inbox).unwrap().modified().unwrap(),
        stat(&old_inbox),
    );
    if debian_owner {
        let gammu = gammu.as_ref().unwrap();
        for dir in ["inbox", "outbox", "sent", "error"] {
            let dir = spool.join(dir);
            nix::unistd::chown(&dir, Some(gammu.uid), Some(gammu.gid)).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
        }
    }
    let spool_before: Vec<_> = ["inbox", "outbox", "sent", "error"]
        .iter()
        .map(|d| stat(&spool.join(d)))
        .collect();

    // The queue, as gammu-smsd-inject writes it.
    let inject_one = |number: &str, text: &str| {
        let mut args = vec!["TEXT".to_owned(), number.to_owned()];
        if text.len() > 160 {
            args.extend(["-len".to_owned(), "400".to_owned()]);
        }
        args.extend(["-text".to_owned(), text.to_owned()]);
        let output = Command::new(&inject)
            .arg("-c")
            .arg(&config)
            .args(&args)
            .env("LC_ALL", "C.UTF-8")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let mut texts = BTreeMap::new();
    for n in 0..6 {
        let number = format!("+49176000006{n:02}");
        let text = if n == 0 {
            format!("queued {n}: {}", "long enough for two parts ".repeat(8))
        } else {
            format!("queued {n} for simgate")
        };
        inject_one(&number, &text);
        texts.insert(number, text);
    }
    let queued: BTreeMap<String, (u32, u32, u32)> = std::fs::read_dir(spool.join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                stat(&e.path()),
            )
        })
        .collect();
    assert_eq!(queued.len(), 6, "{queued:?}");
    let etc_before = tree(&root.join("etc"));

    // The dry run: a report, and nothing changed.
    let migrate = |extra: &[&str]| {
        Command::new(&simgate)
            .arg("migrate-from-gammu")
            .args(extra)
            .arg("--root")
            .arg(&root)
            .env_remove("CREDENTIALS_DIRECTORY")
            .output()
            .unwrap()
    };
    let report = ok(migrate(&[config.to_str().unwrap()]));
    let user = if debian_owner {
        "gammu".to_owned()
    } else {
        nix::unistd::User::from_uid(nix::unistd::geteuid())
            .unwrap()
            .unwrap()
            .name
    };
    for needle in [
        format!("simgate runs as {user} (the owner of the spool)"),
        "6 message file(s) waiting: simgate sends each once".to_owned(),
        "1 file(s) gammu-smsd wrote: left as they are".to_owned(),
        format!(
            "hook RunOnSent = {}: {} runs as {user}",
            hook.display(),
            hook.display()
        ),
        format!(
            "systemctl --root={} disable gammu-smsd.service",
            root.display()
        ),
        format!(
            "ExecStart={} run --config {}",
            simgate.display(),
            config.display()
        ),
        format!("User={user}"),
        "DeviceAllow=char-pts rw".to_owned(),
        "Nothing was changed.".to_owned(),
    ] {
        assert!(report.contains(&needle), "no {needle:?} in:\n{report}");
    }
    assert!(!report.contains("PROBLEM"), "{report}");
    assert_eq!(
        tree(&root.join("etc")),
        etc_before,
        "the dry run changed files"
    );

    // --apply.
    let applied = ok(migrate(&["--apply", config.to_str().unwrap()]));
    assert!(applied.contains("done: systemctl --root="), "{applied}");
    assert!(
        !gammu_link.exists() && !gammu_link.is_symlink(),
        "gammu-smsd still enabled"
    );
    assert!(root
        .join("etc/systemd/system/multi-user.target.wants/simgate.service")
        .is_symlink());
    let dropin_path = root.join("etc/systemd/system/simgate.service.d/50-migrate-from-gammu.conf");
    let dropin = std::fs::read_to_string(&dropin_path).unwrap();
    for line in dropin.lines() {
        assert!(
            report.contains(&format!("| {line}")),
            "the dry run showed another drop-in: {line}"
        );
    }
    // systemd reads the unit with the drop-in without a complaint.
    if let Some(analyze) = reference(Reference::SystemdAnalyze, CHECK) {
        let units = base.join("verify");
        std::fs::create_dir_all(units.join("simgate.service.d")).unwrap();
        std::fs::copy(
            root.join("lib/systemd/system/simgate.service"),
            units.join("simgate.service"),
        )
        .unwrap();
        std::fs::copy(
            &dropin_path,
            units.join("simgate.service.d/50-migrate-from-gammu.conf"),
        )
        .unwrap();
        let output = Command::new(&analyze)
            .args(["verify", "--man=no"])
            .arg(units.join("simgate.service"))
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success() && said.trim().is_empty(), "{said}");
        let output = Command::new(&analyze)
            .args(["security", "--offline=true", "--no-pager"])
            .arg(units.join("simgate.service"))
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        if let Some(line) = report
            .lines()
            .find(|l| l.contains("Overall exposure level"))
        {
            println!("with the drop-in: {line}");
        }
    }
    let record = root.join("etc/systemd/system/simgate.service.d/migrate-from-gammu.undo");
    assert_eq!(stat(&record).0, 0o600);
    let again = migrate(&[config.to_str().unwrap()]);
    assert!(!again.status.success(), "a second --apply must be refused");

    // simgate, started as the unit would with the drop-in: its user and
    // groups, its umask, StateDirectory=simgate, the last ExecStart=.
    let settings = unit_settings(&dropin);
    assert_eq!(last(&settings, "User"), user);
    let exec: Vec<&str> = last(&settings, "ExecStart").split(' ').collect();
    let umask = last(&settings, "UMask");
    let state = root.join("var/lib/simgate");
    std::fs::create_dir_all(&state).unwrap();
    let log = base.join("simgate.stderr");
    let mut command = if root_user {
        let account = nix::unistd::User::from_name(&user).unwrap().unwrap();
        nix::unistd::chown(&state, Some(account.uid), Some(account.gid)).unwrap();
        let name = std::ffi::CString::new(user.clone()).unwrap();
        let mut gids: Vec<u32> = nix::unistd::getgrouplist(&name, account.gid)
            .unwrap()
            .iter()
            .map(|g| g.as_raw())
            .collect();
        for group in last(&settings, "SupplementaryGroups").split_whitespace() {
            gids.push(
                nix::unistd::Group::from_name(group)
                    .unwrap()
                    .unwrap()
                    .gid
                    .as_raw(),
            );
        }
        let group = last(&settings, "Group");
        let gids: Vec<String> = gids.iter().map(u32::to_string).collect();
        let mut command = tokio::process::Command::new("setpriv");
        command
            .arg(format!("--reuid={user}"))
            .arg(format!("--regid={group}"))
            .arg(format!("--groups={}", gids.join(",")))
            .arg("--");
        command
    } else {
        tokio::process::Command::new("env")
    };
    command
        .args(["sh", "-c", "umask \"$0\" && exec \"$@\"", umask])
        .args(&exec)
        .env("STATE_DIRECTORY", &state)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true);
    let mut daemon = command.spawn().unwrap();

    // gammu's own tool keeps working meanwhile.
    inject_one("+4917600000699", "queued while simgate runs");
    texts.insert(
        "+4917600000699".to_owned(),
        "queued while simgate runs".to_owned(),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut finished = 0;
    while finished < texts.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "simgate sent {finished} of {} files; see {}",
            texts.len(),
            log.display()
        );
        assert!(
            daemon.try_wait().unwrap().is_none(),
            "simgate stopped: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        finished = std::fs::read_dir(spool.join("sent")).unwrap().count();
    }
    // The hook of the last file may still be running.
    let hook_log = hooks.join("sent.log");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_to_string(&hook_log).map_or(0, |t| t.lines().count()) < texts.len() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hook did not run for each"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = daemon.wait().await.unwrap();
    assert!(status.success(), "{status}");

    // Every message exactly once, whole.
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for sent in emulator.sent() {
        got.entry(sent.submit.destination.to_display())
            .or_default()
            .push(sent.submit.user_data.body.text().unwrap_or("").to_owned());
    }
    let got: BTreeMap<String, String> = got.into_iter().map(|(n, t)| (n, t.concat())).collect();
    assert_eq!(got, texts, "what went out, and how often");
    // The files gammu queued are in sent/ under their names and modes;
    // their owner is the one who queued them, or (a `.smsbackup` file,
    // rewritten with its message references, as gammu-smsd does) the
    // daemon's user, as under gammu-smsd; nothing in error/ or left in the
    // outbox.
    let daemon_uid = nix::unistd::User::from_name(&user)
        .unwrap()
        .unwrap()
        .uid
        .as_raw();
    for (name, (mode, uid, _)) in &queued {
        let path = spool.join("sent").join(name);
        let (mode_after, uid_after, _) = stat(&path);
        assert_eq!(mode_after, *mode, "{name}'s mode in sent/");
        assert!(
            uid_after == *uid || uid_after == daemon_uid,
            "{name} in sent/ belongs to {uid_after}"
        );
    }
    assert_eq!(std::fs::read_dir(spool.join("error")).unwrap().count(), 0);
    let left: Vec<_> = std::fs::read_dir(spool.join("outbox"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("OUT"))
        .collect();
    assert!(left.is_empty(), "left in the outbox: {left:?}");
    // The inbox file gammu wrote: untouched.
    let old_inbox_after = (
        std::fs::read(&old_inbox).unwrap(),
        std::fs::metadata(&old_inbox).unwrap().modified().unwrap(),
        stat(&old_inbox),
    );
    assert_eq!(old_inbox_after, old_inbox_before);
    // The hook ran once per file, with its name, as the drop-in's user.
    let mut ran: Vec<String> = std::fs::read_to_string(&hook_log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    ran.sort();
    let mut expected: Vec<String> = std::fs::read_dir(spool.join("sent"))
        .unwrap()
        .flatten()
        .map(|e| format!("{} {user}", e.file_name().to_string_lossy()))
        .collect();
    expected.sort();
    assert_eq!(ran, expected);

    // --undo: every file and link under /etc as before, the spool's folders
    // as gammu had them.
    let undone = ok(migrate(&["--undo"]));
    assert!(
        undone.contains("gammu-smsd's setup is back as it was"),
        "{undone}"
    );
    assert_eq!(
        tree(&root.join("etc")),
        etc_before,
        "--undo left differences"
    );
    let spool_after: Vec<_> = ["inbox", "outbox", "sent", "error"]
        .iter()
        .map(|d| stat(&spool.join(d)))
        .collect();
    assert_eq!(spool_after, spool_before);
    assert!(
        !migrate(&["--undo"]).status.success(),
        "nothing left to undo"
    );
    println!(
        "migrate-from-gammu: {} messages sent once as {user}; the drop-in:\n{dropin}",
        texts.len()
    );
    emulator.stop().await;
    let _ = std::fs::remove_dir_all(&base);
}
