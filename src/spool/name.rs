//! Spool file names (spec §2.1-§2.5, §5.2): which outbox names gammu 1.42
//! picks up and what it reads from them, the names `gammu-smsd-inject`
//! writes (which `simgate send` and `simgate inject` write too), and the
//! names of inbox files. Pure string functions.
//!
//! # Outbox names (§2.1-§2.3)
//!
//! A name is an outbox file when it does not start with `.`, starts with
//! `out` in any case, and the suffix from its **last** `.` starts, in any
//! case, with `.txt` (a text file) or `.smsbackup` (a backup file). Anything
//! else is not an outbox file and is left alone forever, as gammu leaves it
//! ([`classify_outbox_name`] returns `Ok(None)`). Consequences kept on
//! purpose (quirk Q2): `OUT+1.txt~` is a text file, `OUT+1.txt.tmp` is not
//! an outbox file.
//!
//! For a text file the recipient comes from the name, by the number of `_`
//! in the whole name: 0 → after `OUT` up to the first `.`; 2 → between the
//! first and second `_`; 4 or more → between the third and fourth `_`; 1 or
//! 3 → an error (gammu moves the file to the error directory). Every `X` of
//! the recipient then becomes `*` (the reverse of the escaping in generated
//! names). Backup files take the recipient from their content; their name
//! only has to match.
//!
//! Flags are the lower-case letters `d` (delivery report), `f` (flash) and
//! `b` (WAP bookmark) anywhere after the `.txt` of the last suffix.
//!
//! # Order (§2.1, §2.4, quirk Q16)
//!
//! gammu sorts with `strcoll`, which depends on the daemon's locale. simgate
//! always uses **byte order of the whole name**,
//! which is gammu's order under `C`/`C.UTF-8` and the documented intent of
//! the priority letter: `OUTA_…` before `OUTB_…` … before `OUTZ_…`. In byte
//! order, names without a letter after `OUT` (`OUT+4.txt`, `OUT5.txt`) come
//! before lettered ones, upper case before lower case, and `OUT…` before
//! `out…`; simgate keeps that rather than inventing another rule.
//!
//! # Differences from 1.42 (documented fixes)
//!
//! - An empty recipient (`OUT.txt`, `OUTA__1.txt`) and a recipient longer
//!   than [`MAX_RECIPIENT_CHARS`] are errors (1.42 tried to send; 1.44
//!   rejects the long one).
//! - A name that is not UTF-8 but otherwise matches is an error rather than
//!   a number made of undecodable bytes.

use std::ffi::OsStr;

use crate::pdu::Timestamp;

/// The longest recipient taken from a file name (gammu's buffer, enforced
/// since 1.44).
pub(crate) const MAX_RECIPIENT_CHARS: usize = 200;

/// The kind of outbox file, from the suffix of its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OutboxKind {
    /// `.txt…`: the whole content is the text; recipient and flags in the name.
    Txt,
    /// `.smsbackup…`: gammu's SMS backup format, one section per part.
    SmsBackup,
}

/// Flag letters after `.txt` (§2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct Flags {
    /// `d`: ask for a delivery report.
    pub delivery_report: bool,
    /// `f`: flash message (class 0).
    pub flash: bool,
    /// `b`: the content is `Title,URL`, sent as a WAP bookmark.
    pub wap_bookmark: bool,
}

impl Flags {
    /// The flag letters, in the order `d`, `f`, `b`.
    pub(crate) fn letters(&self) -> String {
        [
            (self.delivery_report, 'd'),
            (self.flash, 'f'),
            (self.wap_bookmark, 'b'),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, letter)| *letter)
        .collect()
    }
}

/// What an outbox file name says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct OutboxName {
    /// The whole name: the message ID gammu logs and passes to hooks.
    pub name: String,
    /// Text or backup file.
    pub kind: OutboxKind,
    /// The letter after `OUT` in the `OUT<prio>_…` and
    /// `OUT<prio><date>_<time>_…` forms, when it is an ASCII letter.
    /// Informational: only the byte order of the name decides the order.
    pub priority: Option<char>,
    /// The recipient for text files (`X` already turned into `*`); `None` for
    /// backup files, whose content names it.
    pub recipient: Option<String>,
    /// Flags after `.txt` (always empty for backup files).
    pub flags: Flags,
    /// The last suffix as written, with its dot: `.txt`, `.TXT`, `.txtdf`,
    /// `.txt~`, `.smsbackup`.
    pub extension: String,
}

/// Why a name that gammu would pick up cannot be used. gammu moves such a
/// file to the error directory (§4.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NameError {
    /// A text file name with 1 or 3 underscores: none of the three forms.
    #[error(
        "outbox file name {name:?} has {count} underscores; a text file needs 0, 2, or 4 or more"
    )]
    UnderscoreCount {
        /// The name.
        name: String,
        /// Underscores in it.
        count: usize,
    },
    /// The recipient part of a text file name is empty.
    #[error("outbox file name {0:?} has an empty recipient")]
    EmptyRecipient(String),
    /// The recipient part of a text file name is too long.
    #[error(
        "outbox file name {name:?} has a recipient of {chars} characters; at most 200 are allowed"
    )]
    RecipientTooLong {
        /// The name.
        name: String,
        /// Characters in the recipient.
        chars: usize,
    },
    /// A matching name that is not UTF-8 (shown lossily).
    #[error("outbox file name {0:?} is not valid UTF-8")]
    NotUtf8(String),
    /// A recipient that would not come back unchanged from a generated
    /// text file name (it is empty, or contains `_`, `X` or a character
    /// that is replaced in names).
    #[error("recipient {0:?} cannot be written into a .txt file name")]
    RecipientNotRepresentable(String),
}

/// Classifies a directory entry name: `Ok(None)` when it is not an outbox
/// file (ignore it, as gammu does), `Ok(Some(_))` when it is, and an error
/// when gammu would take it but cannot use it (move it to the error
/// directory).
pub(crate) fn classify_outbox_name(name: &str) -> Result<Option<OutboxName>, NameError> {
    let Some((kind, extension)) = match_outbox(name) else {
        return Ok(None);
    };
    let flags = match kind {
        OutboxKind::Txt => {
            let rest = &extension[4..];
            Flags {
                delivery_report: rest.contains('d'),
                flash: rest.contains('f'),
                wap_bookmark: rest.contains('b'),
            }
        }
        OutboxKind::SmsBackup => Flags::default(),
    };
    let underscores = name.matches('_').count();
    let priority = match underscores {
        0 => None,
        _ => name[3..].chars().next().filter(char::is_ascii_alphabetic),
    };
    let recipient = match kind {
        OutboxKind::SmsBackup => None,
        OutboxKind::Txt => Some(recipient_from_name(name, underscores)?),
    };
    Ok(Some(OutboxName {
        name: name.to_owned(),
        kind,
        priority,
        recipient,
        flags,
        extension: extension.to_owned(),
    }))
}

/// [`classify_outbox_name`] for a raw directory entry name: a name that is
/// not UTF-8 is ignored unless it would match, then it is
/// [`NameError::NotUtf8`].
pub(crate) fn classify_outbox_os_name(name: &OsStr) -> Result<Option<OutboxName>, NameError> {
    match name.to_str() {
        Some(name) => classify_outbox_name(name),
        None => {
            let lossy = name.to_string_lossy();
            match match_outbox(&lossy) {
                Some(_) => Err(NameError::NotUtf8(lossy.into_owned())),
                None => Ok(None),
            }
        }
    }
}

/// The kind and last suffix of a name gammu would pick up.
fn match_outbox(name: &str) -> Option<(OutboxKind, &str)> {
    if name.starts_with('.') {
        return None;
    }
    let prefix = name.get(..3)?;
    if !prefix.eq_ignore_ascii_case("out") {
        return None;
    }
    let extension = &name[name.rfind('.')?..];
    let starts_with = |ext: &str| {
        extension
            .get(..ext.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(ext))
    };
    if starts_with(".txt") {
        Some((OutboxKind::Txt, extension))
    } else if starts_with(".smsbackup") {
        Some((OutboxKind::SmsBackup, extension))
    } else {
        None
    }
}

fn recipient_from_name(name: &str, underscores: usize) -> Result<String, NameError> {
    let raw = match underscores {
        0 => {
            let rest = &name[3..];
            &rest[..rest.find('.').unwrap_or(rest.len())]
        }
        2 => name.split('_').nth(1).unwrap_or_default(),
        count if count >= 4 => name.split('_').nth(3).unwrap_or_default(),
        count => {
            return Err(NameError::UnderscoreCount {
                name: name.to_owned(),
                count,
            })
        }
    };
    if raw.is_empty() {
        return Err(NameError::EmptyRecipient(name.to_owned()));
    }
    let chars = raw.chars().count();
    if chars > MAX_RECIPIENT_CHARS {
        return Err(NameError::RecipientTooLong {
            name: name.to_owned(),
            chars,
        });
    }
    Ok(raw.replace('X', "*"))
}

/// Makes text safe inside a spool file name, as gammu 1.43 does: `*`
/// becomes `X`; `< > : " / \ | ?`, control characters and DEL become `_`
/// (quirk Q6: 1.42 only replaced `*`, so a `/` blocked the inbox).
pub(crate) fn sanitize_for_name(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '*' => 'X',
            '<' | '>' | ':' | '"' | '/' | '\\' | '|' | '?' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// The name `gammu-smsd-inject` gives a message (§2.5):
/// `OUTC<YYYYMMDD>_<HHMMSS>_00_<recipient>_sms<serial>.<ext>`, with `time`
/// the local time of the injection and `serial` the first number whose
/// name is free (the caller tries them in turn).
///
/// For `.txt` names the recipient must come back unchanged from
/// [`classify_outbox_name`], or this is an error, and `flags` are
/// appended after `.txt` (gammu never appends them and so loses a flash
/// or report request, quirk Q24; its daemon reads them all the same). For
/// `.smsbackup` names the recipient is only decoration: it is sanitised
/// with [`sanitize_for_name`], and flags are not written (the content
/// carries them).
pub(crate) fn inject_name(
    time: &Timestamp,
    recipient: &str,
    serial: u32,
    kind: OutboxKind,
    flags: Flags,
) -> Result<String, NameError> {
    let (extension, letters) = match kind {
        OutboxKind::Txt => {
            let sanitized = sanitize_for_name(recipient);
            // `*` comes back from its `X`; anything else replaced does not.
            if recipient.is_empty()
                || sanitized != recipient.replace('*', "X")
                || recipient.contains(['_', 'X'])
                || recipient.chars().count() > MAX_RECIPIENT_CHARS
            {
                return Err(NameError::RecipientNotRepresentable(recipient.to_owned()));
            }
            ("txt", flags.letters())
        }
        OutboxKind::SmsBackup => ("smsbackup", String::new()),
    };
    Ok(format!(
        "OUTC{:04}{:02}{:02}_{:02}{:02}{:02}_00_{}_sms{serial}.{extension}{letters}",
        time.year,
        time.month,
        time.day,
        time.hour,
        time.minute,
        time.second,
        sanitize_for_name(recipient),
    ))
}

/// Extension of an inbox file: per part, `bin` for 8-bit data (§5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum InboxExtension {
    /// Text (and status reports, and `detail` files whose part 0 is text).
    Txt,
    /// 8-bit data.
    Bin,
}

/// An inbox file name (§5.2): `IN<YYYYMMDD>_<HHMMSS>_<SS>_<sender>_<PP>.<ext>`
/// with `time` the part's service-centre time stamp as sent (no time zone
/// conversion), `serial` the number that made part 0's name unique, the
/// sender sanitised like gammu 1.43 ([`sanitize_for_name`]), and `part` the
/// index within the linked message.
pub(crate) fn inbox_name(
    time: &Timestamp,
    serial: u32,
    sender: &str,
    part: usize,
    extension: InboxExtension,
) -> String {
    format!(
        "IN{:02}{:02}{:02}_{:02}{:02}{:02}_{:02}_{}_{:02}.{}",
        time.year,
        time.month,
        time.day,
        time.hour,
        time.minute,
        time.second,
        serial,
        sanitize_for_name(sender),
        part,
        match extension {
            InboxExtension::Txt => "txt",
            InboxExtension::Bin => "bin",
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str) -> OutboxName {
        classify_outbox_name(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .unwrap_or_else(|| panic!("{name} ignored"))
    }

    fn recipient(name: &str) -> String {
        text(name).recipient.unwrap()
    }

    fn ignored(name: &str) -> bool {
        classify_outbox_name(name) == Ok(None)
    }

    #[test]
    fn observed_recipients() {
        // Spec §2.1/§2.2 obs table.
        assert_eq!(recipient("OUT+111.txt"), "+111");
        assert_eq!(recipient("out+555.txt"), "+555");
        assert_eq!(recipient("OUT+666.TXT"), "+666");
        assert_eq!(recipient("OUT+114.Txt"), "+114");
        assert_eq!(recipient("OUT+101.txt~"), "+101");
        assert_eq!(recipient("OUTA_+222_1.txt"), "+222");
        assert_eq!(recipient("OUTB20240101_120000_00_+333_note.txt"), "+333");
        assert_eq!(recipient("OUTE20240101_120000_00_+113_a_b.txt"), "+113");
        assert_eq!(recipient("OUTC_a_b.txt"), "a");
        assert_eq!(recipient("OUTX101X.txt"), "*101*");
        assert_eq!(recipient("OUT+1 16.txt"), "+1 16");
        assert_eq!(recipient("OUTA+123.txt"), "A+123");
        assert_eq!(recipient(&format!("OUT{}.txt", "1".repeat(50))).len(), 50);
        // The recipient stops at the first dot in the short form.
        assert_eq!(recipient("OUT+1.2.txt"), "+1");
        assert_eq!(recipient("OUTC20261125_173354_00_X101#_sms0.txt"), "*101#");
    }

    #[test]
    fn observed_errors() {
        assert_eq!(
            classify_outbox_name("OUT_+444.txt"),
            Err(NameError::UnderscoreCount {
                name: "OUT_+444.txt".into(),
                count: 1
            })
        );
        assert!(matches!(
            classify_outbox_name("OUTD_1_2_3.txt"),
            Err(NameError::UnderscoreCount { count: 3, .. })
        ));
        assert!(matches!(
            classify_outbox_name("OUT.txt"),
            Err(NameError::EmptyRecipient(_))
        ));
        assert!(matches!(
            classify_outbox_name("OUTA__1.txt"),
            Err(NameError::EmptyRecipient(_))
        ));
        let long = format!("OUT{}.txt", "1".repeat(201));
        assert!(matches!(
            classify_outbox_name(&long),
            Err(NameError::RecipientTooLong { chars: 201, .. })
        ));
        assert!(classify_outbox_name(&format!("OUT{}.txt", "1".repeat(200))).is_ok());
    }

    #[test]
    fn ignored_names() {
        for name in [
            "OUT+999.txt.tmp",
            "OUT+888",
            ".OUT+100.txt",
            "IN+103.txt",
            "OUT+104.doc",
            "OUT+1.bin",
            "OU",
            "",
            "OUT",
            ".simgate-claim",
            "OUT+1.tx",
            "OUT+1.smsback",
        ] {
            assert!(ignored(name), "{name}");
        }
    }

    #[test]
    fn backup_files_ignore_the_name() {
        let name = text("OUT_+444.smsbackup");
        assert_eq!(name.kind, OutboxKind::SmsBackup);
        assert_eq!(name.recipient, None);
        assert_eq!(name.flags, Flags::default());
        let name = text("OUT+115.SMSBACKUPdf");
        assert_eq!(
            (name.kind, name.flags),
            (OutboxKind::SmsBackup, Flags::default())
        );
    }

    #[test]
    fn flags() {
        let name = text("OUT+777.txtdf");
        assert_eq!(
            name.flags,
            Flags {
                delivery_report: true,
                flash: true,
                wap_bookmark: false
            }
        );
        let name = text("OUT+4.txtxyzdb");
        assert!(name.flags.delivery_report && name.flags.wap_bookmark && !name.flags.flash);
        // Upper-case letters are not flags; the .TXT itself may be any case.
        assert_eq!(text("OUT+4.TXTDF").flags, Flags::default());
        assert!(text("OUT+4.TXTf").flags.flash);
        assert_eq!(text("OUT+1.txt").extension, ".txt");
    }

    #[test]
    fn priority_letter() {
        assert_eq!(text("OUTA_+1_1.txt").priority, Some('A'));
        assert_eq!(text("OUTz_+1_1.txt").priority, Some('z'));
        assert_eq!(text("OUTB20240101_120000_00_+3_n.txt").priority, Some('B'));
        assert_eq!(text("OUT20240101_120000_00_+3_n.txt").priority, None);
        assert_eq!(text("OUTA+123.txt").priority, None);
    }

    #[test]
    fn order_is_byte_order() {
        // The spec's C.UTF-8 observation (§2.1).
        let mut names = vec![
            "out+3.txt",
            "OUTZ_+5_1.txt",
            "OUTA_+1_1.txt",
            "OUT5.txt",
            "OUTa_+6_1.txt",
            "OUTA20240101_000000_00_+2_x.txt",
            "OUT+4.txt",
        ];
        let mut parsed: Vec<OutboxName> = names.iter().map(|n| text(n)).collect();
        parsed.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        names.sort();
        let expected = [
            "OUT+4.txt",
            "OUT5.txt",
            "OUTA20240101_000000_00_+2_x.txt",
            "OUTA_+1_1.txt",
            "OUTZ_+5_1.txt",
            "OUTa_+6_1.txt",
            "out+3.txt",
        ];
        assert_eq!(names, expected);
        assert_eq!(
            parsed.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
            expected
        );
    }

    #[test]
    fn non_utf8_names() {
        use std::os::unix::ffi::OsStrExt;
        assert!(matches!(
            classify_outbox_os_name(OsStr::from_bytes(b"OUT+1\xff.txt")),
            Err(NameError::NotUtf8(_))
        ));
        assert_eq!(
            classify_outbox_os_name(OsStr::from_bytes(b"junk\xff")),
            Ok(None)
        );
        assert!(classify_outbox_os_name(OsStr::new("OUT+1.txt"))
            .unwrap()
            .is_some());
    }

    fn time() -> Timestamp {
        Timestamp {
            year: 2026,
            month: 11,
            day: 25,
            hour: 17,
            minute: 33,
            second: 54,
            tz_quarters: 0,
        }
    }

    #[test]
    fn inject_names_as_gammu_writes_them() {
        // §2.5 observations.
        let none = Flags::default();
        let backup = |recipient, serial| {
            inject_name(&time(), recipient, serial, OutboxKind::SmsBackup, none).unwrap()
        };
        assert_eq!(
            backup("+123456789", 0),
            "OUTC20261125_173354_00_+123456789_sms0.smsbackup"
        );
        assert_eq!(
            backup("*101#", 0),
            "OUTC20261125_173354_00_X101#_sms0.smsbackup"
        );
        assert_eq!(
            backup("a/b", 1),
            "OUTC20261125_173354_00_a_b_sms1.smsbackup"
        );
        assert_eq!(
            inject_name(&time(), "+1", 7, OutboxKind::Txt, none),
            Ok("OUTC20261125_173354_00_+1_sms7.txt".into())
        );
        for bad in ["a_b", "X1", "a/b", "", "1\n"] {
            assert_eq!(
                inject_name(&time(), bad, 0, OutboxKind::Txt, none),
                Err(NameError::RecipientNotRepresentable(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn inject_txt_names_round_trip_with_flags() {
        let all = Flags {
            delivery_report: true,
            flash: true,
            wap_bookmark: true,
        };
        for recipient in ["+420777123456", "*101#", "12 34", "+1.5", "short"] {
            for flags in [Flags::default(), all] {
                let name = inject_name(&time(), recipient, 42, OutboxKind::Txt, flags).unwrap();
                let parsed = text(&name);
                assert_eq!(parsed.recipient.as_deref(), Some(recipient), "{name}");
                assert_eq!(parsed.flags, flags, "{name}");
                assert_eq!(parsed.priority, Some('C'));
            }
        }
        let name = inject_name(&time(), "+1", 0, OutboxKind::Txt, all).unwrap();
        assert!(name.ends_with("_sms0.txtdfb"), "{name}");
    }

    proptest::proptest! {
        #[test]
        fn inject_txt_names_round_trip(
            recipient in "[0-9+*# -]{1,30}",
            serial in 0u32..100,
            d: bool,
            f: bool,
        ) {
            let flags = Flags { delivery_report: d, flash: f, wap_bookmark: false };
            let name = inject_name(&time(), &recipient, serial, OutboxKind::Txt, flags).unwrap();
            let parsed = classify_outbox_name(&name).unwrap().unwrap();
            proptest::prop_assert_eq!(parsed.recipient.as_deref(), Some(recipient.as_str()));
            proptest::prop_assert_eq!(parsed.flags, flags);
        }
    }

    #[test]
    fn inbox_names() {
        let stamp = Timestamp {
            year: 2024,
            month: 1,
            day: 15,
            hour: 10,
            minute: 30,
            second: 3,
            tz_quarters: 4,
        };
        assert_eq!(
            inbox_name(&stamp, 0, "+420777000004", 0, InboxExtension::Txt),
            "IN20240115_103003_00_+420777000004_00.txt"
        );
        assert_eq!(
            inbox_name(&stamp, 1, "5574", 1, InboxExtension::Bin),
            "IN20240115_103003_01_5574_01.bin"
        );
        assert_eq!(
            inbox_name(&stamp, 0, "*123#", 0, InboxExtension::Txt),
            "IN20240115_103003_00_X123#_00.txt"
        );
        assert_eq!(
            inbox_name(&stamp, 0, "My Bank", 0, InboxExtension::Txt),
            "IN20240115_103003_00_My Bank_00.txt"
        );
        assert_eq!(
            inbox_name(&stamp, 0, "", 0, InboxExtension::Txt),
            "IN20240115_103003_00__00.txt"
        );
        assert_eq!(
            inbox_name(
                &stamp,
                0,
                "A/B<>:\"\\|?\u{1}\u{7f}é",
                123,
                InboxExtension::Txt
            ),
            "IN20240115_103003_00_A_B_________é_123.txt"
        );
    }

    #[test]
    fn sanitising() {
        assert_eq!(sanitize_for_name("*101#"), "X101#");
        assert_eq!(sanitize_for_name("a\tb\nc"), "a_b_c");
        assert_eq!(sanitize_for_name("Žluťoučký kůň"), "Žluťoučký kůň");
        assert_eq!(sanitize_for_name("../x"), ".._x");
    }
}
