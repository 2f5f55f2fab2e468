//! `simgate inject` (issue #12 §4) against the real `gammu-smsd-inject`:
//! both run with the same arguments, the same configuration and the same
//! frozen clock (libfaketime), in the same locale and time zone, into two
//! spools; the file names, the bytes of every file, what they print and
//! their exit status must be the same. The one difference on purpose is
//! checked as such: in the `.txt` formats simgate keeps `-flash` and
//! `-report` as name flags where gammu drops them.

use crate::support::{fresh_spool, reference, Reference};
use std::path::Path;
use std::process::Command;

/// What one tool did: exit status, standard output, the files it wrote
/// (name and bytes, sorted by name).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    status: Option<i32>,
    stdout: String,
    /// What it said on standard error, for a failure's message.
    stderr: String,
    files: Vec<(String, Vec<u8>)>,
}

fn config(root: &Path, format: &str) -> std::path::PathBuf {
    let path = root.join("smsdrc");
    std::fs::write(
        &path,
        format!(
            "[gammu]\ndevice = /dev/ttyUSB9\nconnection = at\n\n[smsd]\nservice = files\n\
             outboxformat = {format}\ninboxpath = {0}/inbox/\noutboxpath = {0}/outbox/\n\
             sentsmspath = {0}/sent/\nerrorsmspath = {0}/error/\n",
            root.display()
        ),
    )
    .unwrap();
    path
}

/// Runs `command` (with `prefix` before the message arguments) frozen at
/// `at` in `zone` by the preloaded `libfaketime`, with `stdin`, and
/// collects what it wrote into `root`.
#[allow(clippy::too_many_arguments)]
fn run(
    libfaketime: &str,
    at: &str,
    zone: &str,
    root: &Path,
    command: &str,
    prefix: &[&str],
    message: &[&str],
    stdin: &str,
) -> Outcome {
    use std::io::Write;
    let mut child = Command::new(command)
        .args(prefix)
        .args(message)
        .env("LD_PRELOAD", libfaketime)
        .env("FAKETIME", at)
        .env("TZ", zone)
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let outbox = root.join("outbox");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|entry| {
            let entry = entry.unwrap();
            (
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(entry.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    for (name, _) in &files {
        std::fs::remove_file(outbox.join(name)).unwrap();
    }
    Outcome {
        status: output.status.code(),
        // Paths differ only in the spool's folder.
        stdout: String::from_utf8_lossy(&output.stdout)
            .replace(&root.display().to_string(), "<spool>"),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        files,
    }
}

/// One comparison: OutboxFormat, time, zone, message arguments, stdin.
struct Case {
    format: &'static str,
    at: &'static str,
    zone: &'static str,
    message: Vec<String>,
    stdin: &'static str,
}

fn case(format: &'static str, message: &[&str]) -> Case {
    Case {
        format,
        at: "2026-12-03 21:27:33",
        zone: "UTC",
        message: message.iter().map(|s| (*s).to_owned()).collect(),
        stdin: "",
    }
}

#[test]
fn simgate_inject_writes_what_gammu_smsd_inject_writes() {
    const CHECK: &str = "inject_command::simgate_inject_writes_what_gammu_smsd_inject_writes";
    let Some(gammu) = reference(Reference::SmsdInject, CHECK) else {
        return;
    };
    let Some(libfaketime) = reference(Reference::Faketime, CHECK) else {
        return;
    };
    let simgate = env!("CARGO_BIN_EXE_simgate");
    let long: String = (0..11)
        .map(|i| format!("Part of a long message number {i:03}. "))
        .collect::<String>()[..360]
        .to_owned();
    let unicode_long = "Žluťoučký kůň úpěl ďábelské ódy 😀🇨🇿 ".repeat(6);
    let extension_long = "[x] {y} €|".repeat(30);
    // A surrogate pair cut between two 7-bit parts (gammu writes the lone
    // halves as U+FFFD and `?`).
    let cut_pair = format!(
        "{}😀 and a tail long enough for a second part",
        "a".repeat(152)
    );
    let mut cases = vec![
        case("detail", &["TEXT", "+1", "-len", "400", "-text", &cut_pair]),
        case(
            "standard",
            &["TEXT", "+1", "-len", "400", "-text", &cut_pair],
        ),
        case(
            "detail",
            &[
                "EMS", "+1", "-text", &cut_pair, "-format", "r", "-text", "😀x",
            ],
        ),
        case(
            "detail",
            &["TEXT", "+123456789", "-text", "Hello from simgate"],
        ),
        case(
            "detail",
            &[
                "TEXT",
                "+420777123456",
                "-unicode",
                "-textutf8",
                "Zkouška € 😀 Ж",
            ],
        ),
        case(
            "detail",
            &["TEXT", "+123456789", "-len", "400", "-text", &long],
        ),
        case(
            "detail",
            &[
                "TEXT",
                "+123456789",
                "-len",
                "400",
                "-16bit",
                "-text",
                &long,
            ],
        ),
        case(
            "detail",
            &[
                "TEXT",
                "+123456789",
                "-16bit",
                "-len",
                "400",
                "-text",
                &long,
            ],
        ),
        case(
            "detail",
            &["TEXT", "+123456789", "-text", &long, "-len", "200"],
        ),
        case("detail", &["TEXT", "+123456789", "-text", &long]),
        case(
            "detail",
            &[
                "TEXT",
                "+1",
                "-unicode",
                "-len",
                "900",
                "-text",
                &unicode_long,
            ],
        ),
        case(
            "detail",
            &["TEXT", "+1", "-autolen", "900", "-text", &unicode_long],
        ),
        case(
            "detail",
            &[
                "TEXT",
                "+1",
                "-unicode",
                "-autolen",
                "900",
                "-text",
                &extension_long,
            ],
        ),
        case(
            "detail",
            &["TEXT", "+1", "-len", "900", "-text", &extension_long],
        ),
        case(
            "detail",
            &["TEXT", "+1", "-unicode", "-text", &unicode_long],
        ),
        case(
            "detail",
            &["TEXT", "+123456789", "-flash", "-text", "Flash!"],
        ),
        case(
            "detail",
            &[
                "TEXT",
                "+123456789",
                "-report",
                "-reply",
                "-text",
                "report\nmsg",
            ],
        ),
        case(
            "detail",
            &[
                "TEXT",
                "*101#",
                "-replacemessages",
                "3",
                "-text",
                "star \\ line",
            ],
        ),
        case(
            "detail",
            &[
                "text",
                "+1",
                "-SMSCNUMBER",
                "+420603052000",
                "-validity",
                "day",
                "-text",
                "x",
            ],
        ),
        case("detail", &["EMS", "+123", "-text", &long]),
        case("detail", &["EMS", "+123", "-16bit", "-text", &long]),
        case("detail", &["EMS", "+123", "-text", &long, "-text", "more"]),
        case(
            "detail",
            &["EMS", "+123", "-16bit", "-text", &long, "-text", "more"],
        ),
        case(
            "detail",
            &[
                "EMS", "+123", "-text", "bold", "-format", "b", "-text", " plain",
            ],
        ),
        case(
            "detail",
            &[
                "EMS",
                "+123",
                "-unicode",
                "-text",
                "Ж centre",
                "-format",
                "ciu",
                "-text",
                &long,
            ],
        ),
        case(
            "standard",
            &["TEXT", "+123456789", "-len", "400", "-text", &long],
        ),
        case(
            "standard",
            &["TEXT", "+123456789", "-textutf8", "Zkouška €"],
        ),
        case(
            "unicode",
            &["TEXT", "+123456789", "-textutf8", "Zkouška € 😀"],
        ),
        case(
            "unicode",
            &[
                "TEXT",
                "+1",
                "-unicode",
                "-len",
                "300",
                "-text",
                &unicode_long,
            ],
        ),
        // Refusals: the same status, nothing written.
        case("detail", &["TEXT"]),
        case("detail", &["TEXT", "+1", "+2"]),
        case("detail", &["TEXT", "+1", "-len", "0", "-text", "x"]),
        case("detail", &["TEXT", "+1", "-len", "many", "-text", "x"]),
        case("detail", &["TEXT", "+1", "-validity", "FOO", "-text", "x"]),
        case(
            "detail",
            &["TEXT", "+1", "-maxsms", "2", "-len", "400", "-text", &long],
        ),
    ];
    // Text from standard input (two trailing newlines dropped).
    let mut piped = case("detail", &["TEXT", "+123456789"]);
    piped.stdin = "from a pipe\n\n";
    cases.push(piped);
    // Other times and zones: the reference comes from the local minute
    // and second, the 16-bit one from the local hour; DateTime loses its
    // Z outside UTC.
    for (at, zone) in [
        ("2026-01-31 00:05:59", "Europe/Prague"),
        ("2026-07-04 13:48:00", "America/New_York"),
        ("2026-12-03 09:59:01", "Asia/Kolkata"),
    ] {
        let mut timed = case(
            "detail",
            &["TEXT", "+1", "-len", "400", "-16bit", "-text", &long],
        );
        timed.at = at;
        timed.zone = zone;
        cases.push(timed);
        let mut timed = case("detail", &["EMS", "+1", "-text", &long, "-text", "x"]);
        timed.at = at;
        timed.zone = zone;
        cases.push(timed);
    }
    let gammu_root = fresh_spool("inject-gammu");
    let simgate_root = fresh_spool("inject-simgate");
    let mut written = 0;
    for case in &cases {
        let message: Vec<&str> = case.message.iter().map(String::as_str).collect();
        let gammu_config = config(&gammu_root, case.format);
        let simgate_config = config(&simgate_root, case.format);
        let expected = run(
            &libfaketime,
            case.at,
            case.zone,
            &gammu_root,
            &gammu,
            &["-c", gammu_config.to_str().unwrap()],
            &message,
            case.stdin,
        );
        let actual = run(
            &libfaketime,
            case.at,
            case.zone,
            &simgate_root,
            simgate,
            &["inject", "-c", simgate_config.to_str().unwrap()],
            &message,
            case.stdin,
        );
        let what = format!("{} {:?} at {} {}", case.format, message, case.at, case.zone);
        assert_eq!(
            actual.status, expected.status,
            "{what}: gammu said {:?}, simgate {:?}",
            expected.stderr, actual.stderr
        );
        if expected.status == Some(0) {
            assert!(!expected.files.is_empty(), "{what}");
            written += 1;
            // gammu's standard output also carries log lines when a log
            // is configured (none is): the same lines here.
            assert_eq!(actual.stdout, expected.stdout, "{what}");
        } else {
            assert!(actual.files.is_empty(), "{what}: {:?}", actual.files);
        }
        assert_eq!(actual.files.len(), expected.files.len(), "{what}");
        for ((name, bytes), (gammu_name, gammu_bytes)) in actual.files.iter().zip(&expected.files) {
            assert_eq!(name, gammu_name, "{what}");
            assert_eq!(
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(gammu_bytes),
                "{what}: {name}"
            );
            assert_eq!(bytes, gammu_bytes, "{what}: {name}");
        }
    }
    assert!(written >= 30, "{written} cases wrote files");

    // The difference on purpose: -flash/-report survive as name flags.
    let message = ["TEXT", "+123456789", "-flash", "-report", "-text", "Flash!"];
    let gammu_config = config(&gammu_root, "standard");
    let simgate_config = config(&simgate_root, "standard");
    let at = "2026-12-03 21:27:33";
    let expected = run(
        &libfaketime,
        at,
        "UTC",
        &gammu_root,
        &gammu,
        &["-c", gammu_config.to_str().unwrap()],
        &message,
        "",
    );
    let actual = run(
        &libfaketime,
        at,
        "UTC",
        &simgate_root,
        simgate,
        &["inject", "-c", simgate_config.to_str().unwrap()],
        &message,
        "",
    );
    // Each must have written one file; if not, its status and standard
    // error say why.
    for (who, outcome) in [("gammu-smsd-inject", &expected), ("simgate", &actual)] {
        assert!(
            outcome.status == Some(0) && outcome.files.len() == 1,
            "{who}: {:?}, files {:?}, stdout {:?}, stderr {:?}",
            outcome.status,
            outcome
                .files
                .iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
            outcome.stdout,
            outcome.stderr
        );
    }
    assert_eq!(
        expected.files[0].0,
        "OUTC20261203_212733_00_+123456789_sms0.txt"
    );
    assert_eq!(
        actual.files[0].0,
        "OUTC20261203_212733_00_+123456789_sms0.txtdf"
    );
    assert_eq!(actual.files[0].1, expected.files[0].1);
}

/// Two injects in the same second take the next names, as gammu's do,
/// and a name already taken is never overwritten.
#[test]
fn a_second_message_takes_the_next_name_and_the_help_lists_the_exit_codes() {
    let root = fresh_spool("inject-twice");
    let config = config(&root, "detail");
    let run = |text: &str| {
        Command::new(env!("CARGO_BIN_EXE_simgate"))
            .args([
                "inject",
                "-c",
                config.to_str().unwrap(),
                "TEXT",
                "+1",
                "-text",
                text,
            ])
            .output()
            .unwrap()
    };
    let mut names = Vec::new();
    for text in ["one", "two", "three"] {
        let output = run(text);
        assert!(output.status.success(), "{output:?}");
        let stdout = String::from_utf8(output.stdout).unwrap();
        let path = stdout
            .strip_prefix("Written message with ID ")
            .unwrap()
            .trim_end();
        let content = std::fs::read_to_string(path).unwrap();
        assert!(content.contains(&format!("; {text}\n")), "{content}");
        names.push(
            Path::new(path)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned(),
        );
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "{names:?}");
    let help = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["inject", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for status in ["0 written", "3 the outbox file", "255 the message"] {
        assert!(help.contains(status), "{status}: {help}");
    }
}
