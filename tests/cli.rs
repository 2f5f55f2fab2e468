//! The built `simgate` binary, run as a user would run it.

use std::process::{Command, Output};

fn simgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(args)
        .output()
        .expect("run simgate")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn encode_shows_encoding_parts_and_pdus() {
    let out = stdout(&simgate(&[
        "pdu",
        "encode",
        "--to",
        "+49 176 1234-5678",
        "--report",
        "hi",
    ]));
    assert!(out.contains("to: +4917612345678\n"), "{out}");
    assert!(out.contains("encoding: GSM 7-bit\n"), "{out}");
    assert!(out.contains("parts: 1\n"), "{out}");
    // As the daemon sends it: validity the longest (TP-VPF relative, TP-VP
    // FF) unless [send] validity says otherwise.
    assert!(
        out.contains("  AT+CMGS=17\n  0031000D91947116325476F80000FF02E834\n"),
        "{out}"
    );
    let out = stdout(&simgate(&[
        "pdu",
        "encode",
        "--to",
        "+4917612345678",
        "--validity-minutes",
        "60",
        "hi",
    ]));
    assert!(
        out.contains("0011000D91947116325476F800000B02E834\n"),
        "{out}"
    );

    let long = "Ж".repeat(71);
    let out = stdout(&simgate(&["pdu", "encode", "--to", "+1555", &long]));
    assert!(
        out.contains("encoding: UCS-2\n") && out.contains("parts: 2\n"),
        "{out}"
    );
    assert_eq!(out.matches("AT+CMGS=").count(), 2, "{out}");
}

#[test]
fn decode_shows_the_message() {
    let out = stdout(&simgate(&[
        "pdu",
        "decode",
        "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
    ]));
    for line in [
        "smsc: +27381000015",
        "type: SMS-DELIVER",
        "from: 27838890001",
        "sent: 1999-03-29T15:16:59+02:00",
        "text: \"hellohello\"",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
}

#[test]
fn decode_shows_what_was_not_decoded() {
    // Part 1 of 2, UCS-2 "Ж" and the first half of an emoji; a time stamp
    // with a month 13.
    let out = stdout(&simgate(&[
        "pdu",
        "decode",
        "00440D91947116325476F80008623152021095400A0500035502010416D83D",
    ]));
    for line in [
        "sent: not a date (62315202109540)\n",
        "part: 1 of 2 (reference 85)\n",
        "text: \"Ж\"\n",
        "ends with the first half of a surrogate pair: D83D\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
    // Part 2 of 2, beginning with the second half.
    let out = stdout(&simgate(&[
        "pdu",
        "decode",
        "00440D91947116325476F800086211520210954008050003550202DE00",
    ]));
    assert!(
        out.contains("begins with the second half of a surrogate pair: DE00\n"),
        "{out}"
    );
    // A reserved data coding scheme: kept as data, and why.
    let out = stdout(&simgate(&[
        "pdu",
        "decode",
        "00040D91947116325476F800846211520210954002CF25",
    ]));
    for line in [
        "data: CF25\n",
        "not decoded: data coding scheme 0x84 is reserved\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let output = simgate(&["pdu", "encode", "--to", "+49 abc", "x"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid number \"+49 abc\": the number contains 'a'"),
        "{stderr}"
    );

    let output = simgate(&["pdu", "decode", "0004"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot decode the PDU: PDU ends inside TP-OA"),
        "{stderr}"
    );

    let output = simgate(&["pdu", "encode", "--to", "1", "--encoding", "gsm7", "façade"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'ç' at character 2 is not in the GSM 7-bit alphabet"),
        "{stderr}"
    );
}

/// Kills a process (SIGKILL) unless told it is done within a minute: a
/// child that never stops fails its test instead of hanging it.
struct KillAfter {
    done: std::sync::mpsc::Sender<()>,
    watch: std::thread::JoinHandle<()>,
}

impl KillAfter {
    fn minute(pid: u32) -> Self {
        let pid = nix::unistd::Pid::from_raw(pid as i32);
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let watch = std::thread::spawn(move || {
            if finished
                .recv_timeout(std::time::Duration::from_secs(60))
                .is_err()
            {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            }
        });
        Self { done, watch }
    }

    fn done(self) {
        let _ = self.done.send(());
        self.watch.join().unwrap();
    }
}

/// The README's first command: `simgate demo` on the built-in emulator, in
/// its default folder (`simgate-demo`, relative to where it runs). A file
/// written into its outbox in place, as the README's `printf` writes it,
/// goes out, and the welcome message and the emulated network's answer
/// land in its inbox.
#[test]
fn the_demo_sends_and_receives() {
    use std::io::{BufRead, BufReader};
    let cwd = std::env::temp_dir().join(format!("simgate-demo-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).unwrap();
    let dir = cwd.join("simgate-demo");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["demo", "--stop-after", "1"])
        .current_dir(&cwd)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run simgate demo");
    // A demo that never stops fails the test instead of hanging it.
    let watchdog = KillAfter::minute(demo.id());
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut narration = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let ready = line.starts_with("modem ready");
        narration.push(line);
        if ready {
            break;
        }
    }
    std::fs::write(
        dir.join("outbox/OUT+4917612345678.txt"),
        "Hello from simgate",
    )
    .unwrap();
    // It stops by itself once the message was sent and answered.
    narration.extend(lines.map(Result::unwrap));
    let status = demo.wait().unwrap();
    watchdog.done();
    assert!(status.success(), "{narration:#?}");
    assert!(
        dir.join("sent/OUT+4917612345678.txt").exists(),
        "{narration:#?}"
    );
    let mut texts: Vec<String> = std::fs::read_dir(dir.join("inbox"))
        .unwrap()
        .map(|entry| std::fs::read_to_string(entry.unwrap().path()).unwrap())
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            "Got it: Hello from simgate",
            "Welcome to simgate: this message came from the emulated network."
        ],
        "{narration:#?}"
    );
    std::fs::remove_dir_all(&cwd).unwrap();
}

/// A second `simgate demo` in the folder of one that runs is refused,
/// naming the pid that holds it, and says nothing else: it printed its
/// whole banner first ("drop a message into the outbox: …"), as if it ran.
#[test]
fn a_second_demo_in_the_same_folder_is_refused_before_its_banner() {
    use std::io::{BufRead, BufReader};
    let cwd = std::env::temp_dir().join(format!("simgate-demo-twice-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cwd);
    std::fs::create_dir_all(&cwd).unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("demo")
        .current_dir(&cwd)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run simgate demo");
    let first_pid = nix::unistd::Pid::from_raw(first.id() as i32);
    // A first demo that never gets ready fails the test instead of hanging it.
    let watchdog = KillAfter::minute(first.id());
    let mut lines = BufReader::new(first.stdout.take().unwrap()).lines();
    assert!(
        lines.any(|line| line.unwrap().starts_with("modem ready")),
        "the first demo never got ready"
    );
    let second = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("demo")
        .current_dir(&cwd)
        .output()
        .expect("run a second simgate demo");
    nix::sys::signal::kill(first_pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let stopped = first.wait().unwrap();
    watchdog.done();
    let stdout = String::from_utf8_lossy(&second.stdout);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains(&format!("pid {first_pid}")), "{stderr}");
    assert_eq!(stdout, "", "{stderr}");
    assert!(stopped.success());
    std::fs::remove_dir_all(&cwd).unwrap();
}

/// Colour codes only on a terminal: `simgate run` on a configuration whose
/// spool directory is missing logs its start notices, then fails; with
/// stderr a file, no escape byte may reach it (log files, `2>` redirects
/// and pipes to other programs get plain text).
#[test]
fn logs_to_a_file_or_pipe_have_no_colour_codes() {
    let dir = std::env::temp_dir().join(format!("simgate-cli-ansi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gammu-smsdrc");
    std::fs::write(
        &config,
        format!(
            "[gammu]\ndevice = /dev/ttyUSB0\n\n[smsd]\nservice = files\ninboxpath = {0}/missing/\n",
            dir.display()
        ),
    )
    .unwrap();
    let stderr = dir.join("stderr");
    let status = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["run", "-c"])
        .arg(&config)
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .status()
        .unwrap();
    assert!(!status.success());
    let logged = std::fs::read_to_string(&stderr).unwrap();
    // The notice about LogFile (not set) went through the logger.
    assert!(logged.contains("LogFile"), "{logged}");
    assert!(!logged.contains('\x1b'), "{logged:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `LogFile = stdout` logs to standard output (it went to standard error).
#[test]
fn logfile_stdout_logs_to_standard_output() {
    let dir = std::env::temp_dir().join(format!("simgate-cli-stdout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("gammu-smsdrc");
    std::fs::write(
        &config,
        format!(
            "[gammu]\ndevice = /dev/ttyUSB0\n\n[smsd]\nservice = files\nlogfile = stdout\n\
             TransmitFormat = unicode\ninboxpath = {0}/missing/\n",
            dir.display()
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["run", "-c"])
        .arg(&config)
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A start notice goes through the logger; the final error is simgate's
    // own line on standard error.
    assert!(
        stdout.contains("ReceiveFrequency"),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(!stderr.contains("ReceiveFrequency"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `import-gammu` moves a gammu-smsd setup that simgate ran on to
/// simgate's TOML. Its output named no database, so `simgate run` on it
/// started a new one: the rate-limit and budget counts and the sends in
/// doubt of the daemon that ran on the gammu file were left behind. And a
/// PIN was left out of the output without a word on stderr, so the
/// imported file, redirected to disk, started a daemon without it.
#[test]
fn import_gammu_keeps_the_database_and_says_what_it_left_out() {
    let dir = std::env::temp_dir().join(format!("simgate-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let state = dir.join("state");
    for folder in ["state", "inbox", "outbox", "sent", "error"] {
        std::fs::create_dir_all(dir.join(folder)).unwrap();
    }
    let gammu = dir.join("gammu-smsdrc");
    std::fs::write(
        &gammu,
        format!(
            "[gammu]\ndevice = /dev/ttyUSB0\nconnection = at\n[smsd]\nservice = files\n\
             PIN = 1234\ninboxpath = {0}/inbox/\noutboxpath = {0}/outbox/\n\
             sentsmspath = {0}/sent/\nerrorsmspath = {0}/error/\n",
            dir.display()
        ),
    )
    .unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        Command::new(env!("CARGO_BIN_EXE_simgate"))
            .args(args)
            .env("STATE_DIRECTORY", &state)
            .output()
            .unwrap()
    };
    let state_of = |config: &std::path::Path| -> String {
        let output = run(&["check-config".as_ref(), "-c".as_ref(), config.as_os_str()]);
        stdout(&output)
            .lines()
            .find_map(|l| l.strip_prefix("# state: ").map(str::to_owned))
            .expect("check-config names the state")
    };
    // The database of a daemon that ran on the gammu file.
    let gammu_state = state_of(&gammu);
    let database = gammu_state.split(' ').next().unwrap().to_owned();
    std::fs::write(&database, b"").unwrap();

    let output = run(&["import-gammu".as_ref(), gammu.as_os_str()]);
    let toml = stdout(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("pin") && stderr.contains("--show-pin"),
        "{stderr:?}"
    );
    assert!(!toml.contains("1234"), "{toml}");
    let imported = dir.join("simgate.toml");
    std::fs::write(&imported, &toml).unwrap();
    assert_eq!(
        state_of(&imported),
        format!("{database} ([database] path)"),
        "{toml}"
    );

    // With --show-pin nothing is left out, and nothing said.
    let output = run(&[
        "import-gammu".as_ref(),
        "--show-pin".as_ref(),
        gammu.as_os_str(),
    ]);
    assert!(stdout(&output).contains("pin = \"1234\""));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    let _ = std::fs::remove_dir_all(&dir);
}
