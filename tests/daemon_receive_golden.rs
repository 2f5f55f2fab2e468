//! Receive path acceptance against gammu-smsd 1.42: the PDUs of
//! `tests/fixtures/receive/pdus.txt` are injected into the daemon through
//! the modem emulator on a real pty, and the inbox files and `RunOnReceive`
//! calls must match what the real gammu-smsd wrote for the same PDUs
//! through the same emulator (the fixtures there, remade by
//! `examples/capture_gammu_inbox`), in each InboxFormat, up to the
//! differences listed in that README (each one is a named step of
//! [`expected`] below); the SIM must end empty.

#[path = "../examples/capture_gammu_inbox/golden.rs"]
mod golden;

use crate::support::Harness;
use golden::Kind;
use simgate::config::{DeliveryReport, FileFormat};
use simgate::daemon::DaemonEvent;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

type Files = BTreeMap<String, Vec<u8>>;
type Vars = BTreeMap<String, String>;
/// Hook calls: arguments line → variables.
type Calls = BTreeMap<String, Vars>;

/// The duplicated first part of `dup.*`: gammu saved it again, after the
/// multipart timeout, as a message of its own under serial 01; simgate
/// ignores a part it already has (Q15).
const DUPLICATE_COPY: &str = "IN20260314_101700_01_+4917610000017_00.txt";

/// `timeout.1` and `timeout.3` (part 2 never comes): gammu 1.42 saved each
/// as a message of its own after the multipart timeout; simgate writes one
/// message with the parts that arrived (Q15).
const TIMEOUT_PARTS: [&str; 2] = [
    "IN20260314_101800_00_+4917610000018_00.txt",
    "IN20260314_101804_00_+4917610000018_00.txt",
];

/// `star-sender` (`*123#`, semi-octets A and B): gammu 1.42's PDU decoder
/// keeps only the digits 0-9 and reports the sender `123`. simgate keeps
/// the number the network sent (`*` becomes `X` in the file name only, as
/// gammu 1.43 names files), a documented difference.
const STAR_FILE: &str = "IN20260314_101000_00_123_00.txt";
const STAR_FILE_SIMGATE: &str = "IN20260314_101000_00_X123#_00.txt";

/// Variables simgate sets as gammu 1.44 does, which 1.42 lacks.
const VARS_1_44: [&str; 5] = [
    "SENT_ID",
    "TIMESTAMP",
    "DATETIME",
    "SMSC_TIMESTAMP",
    "SMSC_DATETIME",
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/receive")
}

fn entries() -> Vec<golden::Entry> {
    golden::parse_pdus(&std::fs::read_to_string(fixtures().join("pdus.txt")).unwrap()).unwrap()
}

/// Every file of a directory: name → bytes.
fn read_dir(dir: &Path) -> Files {
    std::fs::read_dir(dir)
        .unwrap()
        .map(Result::unwrap)
        .filter(|e| e.file_type().unwrap().is_file())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

fn calls(records: &[String]) -> Calls {
    let calls: Calls = records.iter().map(|r| golden::parse_record(r)).collect();
    assert_eq!(
        calls.len(),
        records.len(),
        "two hook calls with the same arguments"
    );
    calls
}

fn take(files: &mut Files, name: &str) -> Vec<u8> {
    files
        .remove(name)
        .unwrap_or_else(|| panic!("the fixtures lack {name}; remake them or update this test"))
}

fn take_call(calls: &mut Calls, args: &str) -> Vars {
    calls
        .remove(args)
        .unwrap_or_else(|| panic!("the fixtures lack a hook call with {args}"))
}

fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Q8: gammu 1.42 writes as many UTF-16 units as the text has bytes in the
/// locale's charset (UTF-8 here), the extra ones `00 00` and then whatever
/// its buffer held (text of earlier messages). Checks that this
/// is all that differs from the exact text (taken from gammu's own
/// `standard` file of the message) and returns the exact form.
fn unicode_exact(name: &str, gammu: &[u8], standard: &Files) -> Vec<u8> {
    let text = std::str::from_utf8(&standard[name]).unwrap();
    let mut exact = vec![0xFE, 0xFF];
    exact.extend(utf16be(text));
    let padding = text.len() - text.encode_utf16().count();
    // The extra units are whatever gammu's buffer held after the text.
    assert!(
        gammu.starts_with(&exact) && gammu.len() == exact.len() + 2 * padding,
        "{name}: gammu's unicode file is not the Q8 form of its text"
    );
    exact
}

/// The `[SMSBackupNNN]` sections of a detail file, after its header.
fn detail_sections(text: &str) -> (&str, &str) {
    let at = text.find("[SMSBackup000]").unwrap();
    text.split_at(at)
}

/// GSM 7-bit text with extension characters in `detail` files: gammu's PDU
/// decoder counts `Length` in septets and writes as many units into
/// `TextNN`, the extra ones whatever its buffer held (inbox.rs, difference
/// 5). Checks that the text's extension characters account for the
/// difference exactly, and returns the exact form.
fn detail_exact_length(name: &str, text: &str) -> String {
    let mut out = String::new();
    for section in text.split_inclusive("\n\n") {
        let lines: Vec<&str> = section.split_inclusive('\n').collect();
        let field = |key: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{key} = ")))
                .map(str::trim_end)
        };
        let length = field("Length").and_then(|l| l.parse::<usize>().ok());
        let text_lines: Vec<usize> = (0..lines.len())
            .filter(|&i| {
                lines[i].starts_with("Text")
                    && lines[i].as_bytes().get(4).is_some_and(u8::is_ascii_digit)
            })
            .collect();
        let hex: String = text_lines
            .iter()
            .map(|&i| lines[i].split_once(" = ").unwrap().1.trim_end())
            .collect();
        let units: Vec<u16> = (0..hex.len() / 4)
            .map(|i| u16::from_str_radix(&hex[4 * i..4 * i + 4], 16).unwrap())
            .collect();
        let (Some(length), Some("Default_No_Compression")) = (length, field("Coding")) else {
            out.push_str(section);
            continue;
        };
        // The real text: the first k units whose septet count is Length.
        let extension = |unit: &u16| "{}[]~\\^|\u{20ac}\u{c}".encode_utf16().any(|e| e == *unit);
        let real = (0..=units.len())
            .find(|&k| k + units[..k].iter().filter(|u| extension(u)).count() == length)
            .unwrap_or_else(|| panic!("{name}: Length {length} is not the septet count of TextNN"));
        assert_eq!(
            units.len(),
            length,
            "{name}: TextNN does not hold Length units"
        );
        if real == length {
            out.push_str(section);
            continue;
        }
        let exact: String = units[..real].iter().map(|u| format!("{u:04X}")).collect();
        let ending = if lines[text_lines[0]].ends_with("\r\n") {
            "\r\n"
        } else {
            "\n"
        };
        for (i, line) in lines.iter().enumerate() {
            if i == text_lines[0] {
                for (n, chunk) in exact.as_bytes().chunks(200).enumerate() {
                    let chunk = std::str::from_utf8(chunk).unwrap();
                    out.push_str(&format!("Text{n:02} = {chunk}{ending}"));
                }
            } else if text_lines.contains(&i) {
            } else if line.starts_with("Length = ") {
                out.push_str(&format!("Length = {real}\n"));
            } else {
                out.push_str(line);
            }
        }
    }
    out
}

/// The `; Saved <time of the run>` header line goes.
fn without_saved_line(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .split_inclusive('\n')
        .filter(|line| !line.starts_with("; Saved "))
        .collect()
}

/// gammu's files and hook calls for `format`, turned into what simgate
/// must write, step by step (each a documented difference).
fn expected(format: &str) -> (Files, Calls) {
    let mut files = read_dir(&fixtures().join(format));
    let records: Vec<String> = read_dir(&fixtures().join("hooks").join(format))
        .into_values()
        .map(|b| String::from_utf8(b).unwrap())
        .collect();
    let mut calls = calls(&records);

    // Q15: a duplicated part is ignored.
    take(&mut files, DUPLICATE_COPY);
    take_call(&mut calls, DUPLICATE_COPY);

    // Q8: unicode text is exact UTF-16.
    if format == "unicode" {
        let standard = read_dir(&fixtures().join("standard"));
        for (name, bytes) in files.iter_mut() {
            if name.ends_with(".txt") {
                *bytes = unicode_exact(name, bytes, &standard);
            }
        }
    }

    // Detail files: no `; Saved` line; exact Length/TextNN (inbox.rs 5).
    if format == "detail" {
        for (name, bytes) in files.iter_mut() {
            *bytes = detail_exact_length(name, &without_saved_line(bytes)).into_bytes();
        }
    }

    // Q15: the parts that arrived of a timed-out message are one message.
    let [first, last] = TIMEOUT_PARTS;
    let first_call = take_call(&mut calls, first);
    let last_call = take_call(&mut calls, last);
    let last_as_second = last.replace("_00.txt", "_01.txt");
    if format == "detail" {
        let a = String::from_utf8(take(&mut files, first)).unwrap();
        let b = String::from_utf8(take(&mut files, last)).unwrap();
        let (_, b_sections) = detail_sections(&b);
        let merged = format!(
            "{a}{}",
            b_sections.replace("[SMSBackup000]", "[SMSBackup001]")
        );
        // gammu listed the waiting parts again, which marks them read;
        // simgate took each off the SIM when it came.
        let merged = merged.replace("State = Read\n", "State = UnRead\n");
        files.insert(first.to_owned(), merged.into_bytes());
    } else {
        let b = take(&mut files, last);
        files.insert(last_as_second.clone(), b);
    }
    let mut merged = first_call.clone();
    for (key, value) in &last_call {
        if let Some(rest) = key.strip_prefix("SMS_1_") {
            merged.insert(format!("SMS_2_{rest}"), value.clone());
        }
    }
    merged.insert("SMS_MESSAGES".into(), "2".into());
    merged.insert(
        "DECODED_1_TEXT".into(),
        format!(
            "{}{}",
            first_call["DECODED_1_TEXT"], last_call["DECODED_1_TEXT"]
        ),
    );
    let args = if format == "detail" {
        first.to_owned()
    } else {
        format!("{first} {last_as_second}")
    };
    calls.insert(args, merged);

    // The sender `*123#` keeps its `*` and `#` (gammu drops them).
    let star = take(&mut files, STAR_FILE);
    let star = if format == "detail" {
        let text = String::from_utf8(star).unwrap();
        let (gammu, simgate) = (
            "Number = \"123\"\r\nNumberUnicode = 003100320033\r\n",
            "Number = \"*123#\"\r\nNumberUnicode = 002A0031003200330023\r\n",
        );
        assert!(text.contains(gammu), "{text}");
        text.replace(gammu, simgate).into_bytes()
    } else {
        star
    };
    files.insert(STAR_FILE_SIMGATE.to_owned(), star);
    let mut star_call = take_call(&mut calls, STAR_FILE);
    assert_eq!(star_call["SMS_1_NUMBER"], "123");
    star_call.insert("SMS_1_NUMBER".into(), "*123#".into());
    calls.insert(STAR_FILE_SIMGATE.to_owned(), star_call);
    (files, calls)
}

/// What simgate did with `entries`.
struct Run {
    inbox: Files,
    calls: Calls,
    left_on_sim: usize,
    took: Duration,
}

async fn run_simgate(
    name: &str,
    format: FileFormat,
    entries: &[golden::Entry],
    files: usize,
    hooks: usize,
) -> Run {
    let hook_root =
        std::env::temp_dir().join(format!("simgate-golden-hook-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&hook_root);
    let hook = golden::install_hook(&hook_root).unwrap();
    let mut h = Harness::start_on(name, golden::emulator_config(), |config| {
        config.spool.inbox_format = format;
        config.receive.multipart_timeout = golden::MULTIPART_TIMEOUT;
        config.receive.delivery_report = DeliveryReport::Sms;
        config.hooks.run_on_receive = Some(hook.display().to_string());
        config.hooks.phone_id = Some(golden::PHONE_ID.to_owned());
    })
    .await;
    let started = Instant::now();
    for entry in entries {
        let taken = match entry.kind {
            Kind::Deliver => h.emulator.inject_deliver(&entry.tpdu),
            Kind::Report => h.emulator.inject_status_report(&entry.tpdu),
        };
        assert!(taken.is_ok(), "{}: {taken:?}", entry.label);
    }
    // Each message written is announced by a Received event; the timed-out
    // one comes last, once the multipart timeout has passed.
    let deadline =
        tokio::time::Instant::now() + golden::MULTIPART_TIMEOUT + Duration::from_secs(40);
    let mut written = 0;
    while written < files {
        match tokio::time::timeout_at(deadline, h.events.recv()).await {
            Ok(Some(DaemonEvent::Received { files })) => written += files.len(),
            Ok(Some(_)) => {}
            Ok(None) => panic!("the daemon stopped"),
            Err(_) => break,
        }
    }
    // Hooks run in their own tasks: wait, boundedly, for their records.
    let hooks_dir = hook_root.join("hooks");
    let hook_deadline = Instant::now() + Duration::from_secs(10);
    let mut records = golden::hook_records(&hooks_dir).unwrap();
    while records.len() < hooks && Instant::now() < hook_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        records = golden::hook_records(&hooks_dir).unwrap();
    }
    let run = Run {
        inbox: read_dir(&h.dir("inbox")),
        calls: calls(&records),
        left_on_sim: h.emulator.stored().len(),
        took: started.elapsed(),
    };
    h.stop().await;
    let _ = std::fs::remove_dir_all(&hook_root);
    run
}

fn show(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.contains('\0') => text.to_owned(),
        _ => simgate::pdu::hex::encode(bytes),
    }
}

/// Compares everything, reporting every difference before failing.
fn compare(what: &str, want: &Files, want_calls: &Calls, run: &Run) {
    let mut problems = Vec::new();
    for name in want.keys().filter(|n| !run.inbox.contains_key(*n)) {
        problems.push(format!("missing inbox file {name}"));
    }
    for name in run.inbox.keys().filter(|n| !want.contains_key(*n)) {
        problems.push(format!("unexpected inbox file {name}"));
    }
    for (name, bytes) in want {
        let Some(mine) = run.inbox.get(name) else {
            continue;
        };
        let mine = if what == "detail" {
            without_saved_line(mine).into_bytes()
        } else {
            mine.clone()
        };
        if &mine != bytes {
            problems.push(format!(
                "{name} differs\n--- gammu (normalised)\n{}\n--- simgate\n{}",
                show(bytes),
                show(&mine)
            ));
        }
    }
    for (args, vars) in want_calls {
        let Some(mine) = run.calls.get(args) else {
            problems.push(format!("missing hook call: {args}"));
            continue;
        };
        for (key, value) in vars {
            if mine.get(key) != Some(value) {
                problems.push(format!(
                    "hook call {args}: {key}: gammu {value:?}, simgate {:?}",
                    mine.get(key)
                ));
            }
        }
        for (key, value) in mine.iter().filter(|(k, _)| !vars.contains_key(*k)) {
            // 1.44's additions, and SMS_n_TEXT empty where 1.42 leaves it
            // unset (8-bit parts).
            let known = key.starts_with("SMS_")
                && (VARS_1_44.iter().any(|v| key.ends_with(&format!("_{v}")))
                    || (key.ends_with("_TEXT") && value.is_empty()));
            if !known {
                problems.push(format!("hook call {args}: unexpected {key}={value:?}"));
            }
        }
    }
    for args in run.calls.keys().filter(|a| !want_calls.contains_key(*a)) {
        problems.push(format!("unexpected hook call: {args}"));
    }
    if run.left_on_sim != 0 {
        problems.push(format!("{} messages left on the SIM", run.left_on_sim));
    }
    assert!(
        problems.is_empty(),
        "{what}: {} differences from gammu-smsd 1.42:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

async fn check(format: &str, inbox_format: FileFormat) {
    let (want, want_calls) = expected(format);
    let entries = entries();
    let run = run_simgate(
        &format!("golden-{format}"),
        inbox_format,
        &entries,
        want.len(),
        want_calls.len(),
    )
    .await;
    eprintln!(
        "{format}: {} PDUs, {:.1} s",
        entries.len(),
        run.took.as_secs_f64()
    );
    compare(format, &want, &want_calls, &run);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_matches_gammu_standard() {
    check("standard", FileFormat::Standard).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_matches_gammu_unicode() {
    check("unicode", FileFormat::Unicode).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbox_matches_gammu_detail() {
    check("detail", FileFormat::Detail).await;
}
