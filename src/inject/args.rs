//! `gammu-smsd-inject`'s message arguments (`MSGTYPE RECIPIENT
//! [options]`, options with one dash, matched in any case) for the types
//! simgate writes: TEXT and EMS with text. Pure: the arguments in, a
//! [`Request`] and the lines gammu prints while reading them out.
//!
//! gammu's order rules are kept, because they decide what it writes:
//! `-16bit` only counts after `-len`/`-autolen`; `-len N` cuts the text to
//! N units only when a `-text` longer than N bytes came before it (and
//! prints `N / <bytes of that text>`); the last `-text` wins;
//! `-replacemessages` is refused after `-len`. Options of other message
//! types and the parts of EMS that are not text (sounds, pictures,
//! animations) are refused with a message saying so.

use super::pack::{EmsText, TextMode};
use std::ffi::OsString;

/// Why the arguments are refused, and gammu's exit status for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ArgsError {
    /// What gammu ends with `exit(-1)` (status 255).
    #[error("{0}")]
    Usage(String),
    /// A number option that is no number (gammu exits 2).
    #[error("Parameter is not a number: {0}")]
    NotANumber(String),
}

/// The message asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Body {
    /// TEXT.
    Text {
        /// The text from `-text`/`-textutf8` (UTF-16), `None` to read
        /// standard input.
        text: Option<Vec<u16>>,
        /// `-unicode`.
        unicode: bool,
        /// `-flash`: class 0.
        flash: bool,
        /// `-len`, `-autolen`, `-16bit`.
        mode: TextMode,
        /// `-replacemessages`.
        replace: u8,
    },
    /// EMS.
    Ems {
        /// The `-text`s with their `-format`.
        texts: Vec<EmsText>,
        /// `-unicode`.
        unicode: bool,
        /// `-16bit`.
        bits16: bool,
    },
}

/// A message request as gammu-smsd-inject reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The recipient as given.
    pub recipient: String,
    /// The content.
    pub body: Body,
    /// `-report`.
    pub report: bool,
    /// `-reply`.
    pub reply: bool,
    /// `-maxsms`.
    pub max_parts: Option<i64>,
    /// `-smscnumber` (accepted; outbox files cannot carry it).
    pub smsc: Option<String>,
    /// `-validity` (accepted; outbox files cannot carry it).
    pub validity: Option<String>,
    /// Lines gammu prints on standard output while reading the options.
    pub printed: Vec<String>,
}

fn usage(message: impl Into<String>) -> ArgsError {
    ArgsError::Usage(message.into())
}

/// gammu's `GetInt`: a whole decimal number, or an error.
fn number(text: &str) -> Result<i64, ArgsError> {
    text.parse::<i64>()
        .map_err(|_| ArgsError::NotANumber(text.to_owned()))
}

fn utf16(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

/// Options of TEXT that simgate does not write, with what they are.
const TEXT_UNSUPPORTED: [&str; 9] = [
    "-inputunicode",
    "-enablevoice",
    "-disablevoice",
    "-enablefax",
    "-disablefax",
    "-enableemail",
    "-disableemail",
    "-voidsms",
    "-replacefile",
];

/// EMS elements other than text.
const EMS_UNSUPPORTED: [&str; 13] = [
    "-unicodefiletext",
    "-defsound",
    "-defanimation",
    "-tone10",
    "-tone10long",
    "-tone12",
    "-tone12long",
    "-tonese",
    "-toneselong",
    "-fixedbitmap",
    "-variablebitmap",
    "-variablebitmaplong",
    "-animation",
];

const VALIDITIES: [&str; 6] = ["HOUR", "6HOURS", "DAY", "3DAYS", "WEEK", "MAX"];

/// Reads `MSGTYPE RECIPIENT [options]`.
pub(crate) fn parse(args: &[OsString]) -> Result<Request, ArgsError> {
    let args: Vec<String> = args
        .iter()
        .map(|arg| {
            arg.to_str()
                .map(str::to_owned)
                .ok_or_else(|| usage(format!("argument {arg:?} is not UTF-8")))
        })
        .collect::<Result<_, _>>()?;
    let Some(kind) = args.first() else {
        return Err(usage("Not enough parameters!"));
    };
    let ems = if kind.eq_ignore_ascii_case("TEXT") {
        false
    } else if kind.eq_ignore_ascii_case("EMS") {
        true
    } else {
        return Err(usage(format!(
            "message type {kind:?} is not supported by simgate inject (TEXT and EMS are)"
        )));
    };
    let Some(recipient) = args.get(1) else {
        return Err(usage("Not enough parameters!"));
    };
    if recipient.is_empty() {
        return Err(usage("the recipient is empty"));
    }
    let mut request = Request {
        recipient: recipient.clone(),
        body: Body::Text {
            text: None,
            unicode: false,
            flash: false,
            mode: TextMode::Single,
            replace: 0,
        },
        report: false,
        reply: false,
        max_parts: None,
        smsc: None,
        validity: None,
        printed: Vec::new(),
    };
    // TEXT state.
    let mut text: Option<Vec<u16>> = None;
    let mut bytes_read: usize = 0;
    let (mut unicode, mut flash, mut mode, mut replace) = (false, false, TextMode::Single, 0u8);
    // EMS state.
    let mut texts: Vec<EmsText> = Vec::new();
    let mut bits16 = false;
    let mut smsc_set = false;

    let mut rest = args[2..].iter();
    while let Some(option) = rest.next() {
        let lower = option.to_ascii_lowercase();
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| usage("Parameter missing!"))
        };
        match lower.as_str() {
            "-report" => request.report = true,
            "-reply" => request.reply = true,
            "-validity" => {
                let validity = value()?;
                let Some(known) = VALIDITIES
                    .iter()
                    .find(|v| v.eq_ignore_ascii_case(&validity))
                else {
                    return Err(usage(format!("Unknown validity string (\"{validity}\")")));
                };
                request.validity = Some((*known).to_owned());
            }
            "-smscset" => {
                number(&value()?)?;
                smsc_set = true;
            }
            "-smscnumber" => {
                request.smsc = Some(value()?);
                smsc_set = false;
            }
            "-protected" => {
                number(&value()?)?;
            }
            "-maxsms" => request.max_parts = Some(number(&value()?)?),
            "-save" => {
                return Err(usage(
                    "-save is not supported by simgate inject (it needs a phone)",
                ))
            }
            _ if !ems => match lower.as_str() {
                "-text" | "-textutf8" => {
                    let given = value()?;
                    bytes_read = given.len();
                    text = Some(utf16(&given));
                }
                "-16bit" => {
                    mode = match mode {
                        TextMode::Long { .. } => TextMode::Long { bits16: true },
                        TextMode::AutoLong { .. } => TextMode::AutoLong { bits16: true },
                        single => single,
                    }
                }
                "-flash" => flash = true,
                "-unicode" => unicode = true,
                "-len" | "-maxlen" | "-autolen" => {
                    let given = value()?;
                    let length = number(&given)?;
                    if length <= 0 {
                        return Err(usage(format!("Wrong message length (\"{given}\")")));
                    }
                    request.printed.push(format!("{length} / {bytes_read}"));
                    let length = usize::try_from(length).unwrap_or(usize::MAX);
                    if length < bytes_read {
                        if let Some(units) = text.as_mut() {
                            units.truncate(length);
                        }
                    }
                    mode = if lower == "-autolen" {
                        TextMode::AutoLong { bits16: false }
                    } else {
                        TextMode::Long { bits16: false }
                    };
                }
                "-replacemessages" if mode != (TextMode::Long { bits16: false }) => {
                    let given = value()?;
                    let id = number(&given)?;
                    if !(1..=7).contains(&id) {
                        return Err(usage(format!(
                            "You have to give number between 1 and 7 (\"{given}\")"
                        )));
                    }
                    replace = id as u8;
                }
                other if TEXT_UNSUPPORTED.contains(&other) => {
                    return Err(usage(format!(
                        "{option} is not supported by simgate inject"
                    )))
                }
                _ => return Err(usage(format!("Unknown parameter (\"{option}\")"))),
            },
            _ => match lower.as_str() {
                "-unicode" => unicode = true,
                "-16bit" => bits16 = true,
                "-text" => texts.push(EmsText {
                    text: utf16(&value()?),
                    format: None,
                }),
                "-format" => {
                    let letters = value()?;
                    let Some(last) = texts.last_mut() else {
                        return Err(usage("Last parameter wasn't text"));
                    };
                    last.format = Some(format_octet(&letters)?);
                }
                other if EMS_UNSUPPORTED.contains(&other) => {
                    return Err(usage(format!(
                        "{option} is not supported by simgate inject (EMS text only)"
                    )))
                }
                _ => return Err(usage(format!("Unknown parameter (\"{option}\")"))),
            },
        }
    }
    if smsc_set {
        return Err(usage("Use -smscnumber option to give SMSC number"));
    }
    request.body = if ems {
        Body::Ems {
            texts,
            unicode,
            bits16,
        }
    } else {
        Body::Text {
            text,
            unicode,
            flash,
            mode,
            replace,
        }
    };
    Ok(request)
}

/// gammu's text formatting octet for `-format` letters: alignment (`l`,
/// `r`, `c`; none given counts as "default", 3), size (`a` large, `s`
/// small), `b`old, `i`talic, `u`nderlined, s`t`rikethrough.
fn format_octet(letters: &str) -> Result<u8, ArgsError> {
    let (mut left, mut right, mut center, mut large, mut small) =
        (false, false, false, false, false);
    let mut octet = 0u8;
    for letter in letters.chars() {
        match letter.to_ascii_lowercase() {
            'l' => left = true,
            'c' => center = true,
            'r' => right = true,
            'a' => large = true,
            's' => small = true,
            'b' => octet |= 16,
            'i' => octet |= 32,
            'u' => octet |= 64,
            't' => octet |= 128,
            other => return Err(usage(format!("Unknown parameter (\"{other}\")"))),
        }
    }
    octet |= if left {
        0
    } else if right {
        1
    } else if center {
        2
    } else {
        3
    };
    if large {
        octet |= 4;
    } else if small {
        octet |= 8;
    }
    Ok(octet)
}

/// gammu's treatment of TEXT read from standard input: at most 5,000
/// bytes are read, one trailing newline is dropped there.
pub(crate) fn stdin_text(bytes: &[u8]) -> Result<Vec<u16>, String> {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|_| "the text is not UTF-8".to_owned())?;
    Ok(utf16(text))
}

/// The last step gammu applies to every TEXT: one trailing newline less.
pub(crate) fn trim_newline(units: &mut Vec<u16>) {
    if units.last() == Some(&u16::from(b'\n')) {
        units.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn text_mode(list: &[&str]) -> TextMode {
        match parse(&args(list)).unwrap().body {
            Body::Text { mode, .. } => mode,
            Body::Ems { .. } => panic!("EMS"),
        }
    }

    #[test]
    fn sixteen_bit_counts_only_after_len() {
        assert_eq!(
            text_mode(&["TEXT", "+1", "-16bit", "-len", "400"]),
            TextMode::Long { bits16: false }
        );
        assert_eq!(
            text_mode(&["text", "+1", "-LEN", "400", "-16bit"]),
            TextMode::Long { bits16: true }
        );
        assert_eq!(
            text_mode(&["TEXT", "+1", "-autolen", "9", "-16bit"]),
            TextMode::AutoLong { bits16: true }
        );
    }

    #[test]
    fn len_cuts_a_text_given_before_it_and_prints_what_gammu_prints() {
        let request = parse(&args(&["TEXT", "+1", "-text", "Zkouška", "-len", "6"])).unwrap();
        assert_eq!(request.printed, ["6 / 8"]);
        let Body::Text { text, .. } = request.body else {
            panic!()
        };
        assert_eq!(text.unwrap(), utf16("Zkoušk"));
        let request = parse(&args(&["TEXT", "+1", "-len", "2", "-text", "abc"])).unwrap();
        assert_eq!(request.printed, ["2 / 0"]);
        let Body::Text { text, .. } = request.body else {
            panic!()
        };
        assert_eq!(text.unwrap(), utf16("abc"));
    }

    #[test]
    fn refusals_with_gammus_words() {
        let refused = |list: &[&str]| parse(&args(list)).unwrap_err();
        assert_eq!(refused(&["TEXT"]), usage("Not enough parameters!"));
        assert_eq!(
            refused(&["TEXT", "+1", "+2"]),
            usage("Unknown parameter (\"+2\")")
        );
        assert_eq!(
            refused(&["TEXT", "+1", "-len", "0"]),
            usage("Wrong message length (\"0\")")
        );
        assert_eq!(
            refused(&["TEXT", "+1", "-len", "x"]),
            ArgsError::NotANumber("x".into())
        );
        assert_eq!(
            refused(&["TEXT", "+1", "-text"]),
            usage("Parameter missing!")
        );
        assert_eq!(
            refused(&["TEXT", "+1", "-validity", "FOO"]),
            usage("Unknown validity string (\"FOO\")")
        );
        assert_eq!(
            refused(&["TEXT", "+1", "-len", "5", "-replacemessages", "2"]),
            usage("Unknown parameter (\"-replacemessages\")")
        );
        assert_eq!(
            refused(&["TEXT", "+1", "-smscset", "1"]),
            usage("Use -smscnumber option to give SMSC number")
        );
        assert_eq!(
            refused(&["EMS", "+1", "-format", "b"]),
            usage("Last parameter wasn't text")
        );
        assert!(
            matches!(refused(&["USSD", "*101#"]), ArgsError::Usage(m) if m.contains("not supported"))
        );
        assert!(
            matches!(refused(&["EMS", "+1", "-defsound", "1"]), ArgsError::Usage(m) if m.contains("not supported"))
        );
    }

    #[test]
    fn ems_texts_and_formats() {
        let request = parse(&args(&[
            "EMS", "+1", "-text", "a", "-format", "cbi", "-text", "b", "-format", "LaU", "-16bit",
        ]))
        .unwrap();
        assert_eq!(
            request.body,
            Body::Ems {
                texts: vec![
                    EmsText {
                        text: utf16("a"),
                        format: Some(2 | 16 | 32)
                    },
                    EmsText {
                        text: utf16("b"),
                        format: Some(4 | 64)
                    },
                ],
                unicode: false,
                bits16: true,
            }
        );
    }

    #[test]
    fn standard_input_loses_two_newlines_at_most() {
        let mut text = stdin_text(b"a\n\n\n").unwrap();
        trim_newline(&mut text);
        assert_eq!(text, utf16("a\n"));
    }
}
