//! Smart messages (`simgate::pdu::smart`) against the real gammu 1.42:
//! hand-built MMS notifications, vCards/vCalendars, EMS and Nokia smart
//! messages (`tests/fixtures/smart/vectors.txt`, made by
//! `tests/gammu/smart.py vectors`) decoded by python3-gammu's
//! `DecodeSMS`, the multipart decoder gammu-smsd fills `DECODED_*` from.
//! gammu's answers are recorded in `tests/fixtures/smart/gammu.txt` and
//! checked against the live library on every run where python3-gammu is
//! installed (otherwise that one check is skipped with a note, or fails
//! under `SIMGATE_REQUIRE_GAMMU=1`; the others use the recorded answers).

use crate::support::{reference, Reference};
use simgate::pdu::smart::{self, Decoded, SilentKind, TextKind};
use simgate::pdu::{self, SmsDeliver};
use std::process::Command;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gammu/smart.py");
const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/smart/vectors.txt"
);
const RECORDED: &str = include_str!("fixtures/smart/gammu.txt");

fn vectors() -> Vec<(String, Vec<SmsDeliver>)> {
    std::fs::read_to_string(VECTORS)
        .unwrap()
        .lines()
        .map(|line| {
            let mut fields = line.split(' ');
            let name = fields.next().unwrap().to_owned();
            let parts = fields
                .map(|hex| {
                    let pdu = pdu::hex::decode(hex).unwrap();
                    let (_, tpdu) = pdu::split_smsc(&pdu).unwrap();
                    SmsDeliver::decode(tpdu).unwrap_or_else(|e| panic!("{name}: {e}"))
                })
                .collect();
            (name, parts)
        })
        .collect()
}

fn hex(octets: &[u8]) -> String {
    octets.iter().map(|o| format!("{o:02x}")).collect()
}

/// simgate's entries in the format of `smart.py decode` (which, like
/// python-gammu, leaves out entries gammu never filled in).
fn render(entries: &[Decoded]) -> String {
    if entries.is_empty() {
        return "none".to_owned();
    }
    let text = |text: &Option<String>| {
        text.as_deref()
            .map_or("-".to_owned(), |t| hex(t.as_bytes()))
    };
    let rendered: Vec<String> = entries
        .iter()
        .filter_map(|entry| {
            Some(match entry {
                Decoded::Text { kind, text: t } => {
                    let id = match kind {
                        TextKind::Concatenated => "ConcatenatedTextLong",
                        TextKind::VCard => "NokiaVCARD21Long",
                        TextKind::VCalendar => "NokiaVCALENDAR10Long",
                    };
                    format!("{id}:{}", text(t))
                }
                Decoded::Mms(mms) => format!(
                    "MMSIndicatorLong:{},{},{},{}",
                    hex(&mms.sender),
                    hex(&mms.title),
                    hex(&mms.address),
                    mms.size_text()
                ),
                Decoded::Silent(SilentKind::Empty) => return None,
                Decoded::Silent(SilentKind::NokiaVCard(t)) => {
                    format!("NokiaVCARD10Long:{}", hex(t.as_bytes()))
                }
                Decoded::Silent(kind) => format!(
                    "{}:",
                    match kind {
                        SilentKind::EmsSound => "EMSPredefinedSound",
                        SilentKind::EmsPredefinedAnimation => "EMSPredefinedAnimation",
                        SilentKind::EmsAnimation => "EMSAnimation",
                        SilentKind::EmsPicture => "EMSFixedBitmap",
                        SilentKind::EmsVariablePicture => "EMSVariableBitmap",
                        SilentKind::NokiaCallerLogo => "NokiaCallerLogo",
                        SilentKind::NokiaOperatorLogo => "NokiaOperatorLogo",
                        SilentKind::NokiaProfile => "NokiaProfileLong",
                        SilentKind::Empty | SilentKind::NokiaVCard(_) => unreachable!(),
                    }
                ),
            })
        })
        .collect();
    rendered.join(" ")
}

/// gammu's line with the linked-text variants of the text identifier
/// (16-bit reference, UCS-2) folded into one: gammu-smsd treats them alike.
fn normalise(line: &str) -> String {
    line.replace("ConcatenatedAutoTextLong", "ConcatenatedTextLong")
        .replace("ConcatenatedTextLong16bit", "ConcatenatedTextLong")
}

fn recorded() -> Vec<(String, String)> {
    RECORDED
        .lines()
        .map(|line| {
            let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
            (name.to_owned(), normalise(rest))
        })
        .collect()
}

#[test]
fn recorded_expectations_are_gammus() {
    let Some(python) = reference(
        Reference::PythonGammu,
        "smart_messages::recorded_expectations_are_gammus",
    ) else {
        return;
    };
    let output = Command::new(&python)
        .arg(SCRIPT)
        .args(["decode", VECTORS])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}; install python3-gammu"));
    assert!(
        output.status.success(),
        "smart.py decode failed (is python3-gammu installed?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        RECORDED,
        "gammu no longer decodes the vectors as recorded"
    );
}

#[test]
fn simgate_decodes_like_gammu() {
    let vectors = vectors();
    let expected = recorded();
    assert_eq!(vectors.len(), expected.len());
    let mut mismatches = Vec::new();
    for ((name, parts), (gammu_name, gammu)) in vectors.iter().zip(&expected) {
        assert_eq!(name, gammu_name);
        let refs: Vec<&SmsDeliver> = parts.iter().collect();
        let entries = smart::decode(&refs);
        if gammu == "undecodable" {
            // python-gammu cannot convert gammu's non-UTF-8 subject; the
            // rest of the entry is still an MMS notification.
            assert!(matches!(entries[..], [Decoded::Mms(_)]), "{name}");
            continue;
        }
        let ours = render(&entries);
        if ours != *gammu {
            mismatches.push(format!("{name}:\n  gammu   {gammu}\n  simgate {ours}"));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn mms_notification_environment() {
    let vectors = vectors();
    let (_, parts) = vectors
        .iter()
        .find(|(name, _)| name == "mms-single")
        .unwrap();
    let env = smart::environment(&smart::decode(&[&parts[0]]));
    // Values from gammu (tests/fixtures/smart/gammu.txt, mms-single).
    assert_eq!(
        env,
        [
            ("DECODED_PARTS", "1"),
            ("DECODED_1_MMS_SENDER", "+420777777777/TYPE=PLMN"),
            ("DECODED_1_MMS_TITLE", "Hi"),
            ("DECODED_1_MMS_ADDRESS", "http://mmsc.example/m?id=AB12"),
            ("DECODED_1_MMS_SIZE", "6174"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
}

#[test]
fn truncated_and_corrupted_smart_messages_never_panic() {
    for (_, parts) in vectors() {
        for part in &parts {
            let pdu::Body::Binary(data) = &part.user_data.body else {
                continue;
            };
            for cut in 0..data.len() {
                for flip in [None, Some(0x00), Some(0xFF), Some(0x80)] {
                    let mut broken = part.clone();
                    let mut body = data[..cut].to_vec();
                    body.extend(flip);
                    broken.user_data.body = pdu::Body::Binary(body);
                    let _ = smart::environment(&smart::decode(&[&broken]));
                    let mut refs: Vec<&SmsDeliver> = parts.iter().collect();
                    refs[0] = &broken;
                    let _ = smart::environment(&smart::decode(&refs));
                }
            }
        }
    }
}

/// What gammu-smsd 1.42 itself put into the hook environment for some
/// vectors (tests/fixtures/smart/README.md), including the entries that
/// python-gammu does not show.
#[test]
fn environment_matches_gammu_smsd() {
    let vectors = vectors();
    let env = |name: &str| {
        let (_, parts) = vectors.iter().find(|(n, _)| n == name).unwrap();
        let refs: Vec<&SmsDeliver> = parts.iter().collect();
        smart::environment(&smart::decode(&refs))
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        env("ems-sound"),
        [
            "DECODED_PARTS=3",
            "DECODED_1_TEXT=Hello",
            "DECODED_3_TEXT= world"
        ]
    );
    assert_eq!(env("port-16bit-other"), ["DECODED_PARTS=1"]);
    // gammu-smsd crashes before the hook runs; simgate sets empty text.
    assert_eq!(
        env("vcard-port-9204"),
        ["DECODED_PARTS=2", "DECODED_1_TEXT="]
    );
}
