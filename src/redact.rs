//! Keeping phone numbers, message texts and PDUs out of the log unless
//! debug logging is on: journald and syslog keep logs for a long time.
//!
//! - [`Redact`] hides a whole value (a number, a text, a file name that
//!   carries a number).
//! - [`Scrub`] keeps a free text (an error, a reason) readable and replaces
//!   what looks like a phone number (six digits or more, with or without a
//!   `+`) or a PDU (a run of sixteen hex digits or more) in it; an error that
//!   names a spool file or a recipient keeps its words and loses the number.
//!
//! Both show everything once [`set_show_private`] was called with `true`
//! (the daemon does at debug level).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

static SHOW_PRIVATE: AtomicBool = AtomicBool::new(false);

/// Whether private values are shown (debug logging).
pub(crate) fn show_private() -> bool {
    SHOW_PRIVATE.load(Ordering::Relaxed)
}

/// Shows private values from now on (`true`) or hides them.
pub(crate) fn set_show_private(show: bool) {
    SHOW_PRIVATE.store(show, Ordering::Relaxed);
}

/// Shows its value only when debug logging is on; `[redacted]` otherwise.
pub(crate) struct Redact<T>(pub T);

impl<T: fmt::Display> fmt::Display for Redact<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if show_private() {
            self.0.fmt(f)
        } else {
            f.write_str("[redacted]")
        }
    }
}

impl<T: fmt::Display> fmt::Debug for Redact<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Shows a free text with its numbers and PDUs scrubbed ([`scrub`]) unless
/// debug logging is on.
pub(crate) struct Scrub<T>(pub T);

impl<T: fmt::Display> fmt::Display for Scrub<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if show_private() {
            self.0.fmt(f)
        } else {
            f.write_str(&scrub(&self.0.to_string()))
        }
    }
}

impl<T: fmt::Display> fmt::Debug for Scrub<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Digits in a row from which a run counts as a phone number.
const NUMBER_DIGITS: usize = 6;
/// Hex digits in a row from which a run counts as a PDU.
const PDU_HEX_DIGITS: usize = 16;
/// The most digits a device's error code has (HiLink's are six: 108006).
const CODE_DIGITS: usize = 6;
/// The words an error code follows, lowercase (`error 108006`).
const CODE_WORDS: [&str; 2] = ["error ", "code "];

/// Whether a run of `digits` digits after `before` is a device's error
/// code rather than a number: at most [`CODE_DIGITS`] of them, right after
/// one of [`CODE_WORDS`] written as a word of its own. A phone number
/// does not follow these words, and one longer than a code is scrubbed
/// even there.
fn is_error_code(before: &str, digits: usize) -> bool {
    digits <= CODE_DIGITS
        && CODE_WORDS.iter().any(|word| {
            let cut = before.len().checked_sub(word.len());
            cut.is_some_and(|cut| {
                before.is_char_boundary(cut)
                    && before[cut..].eq_ignore_ascii_case(word)
                    && !before[..cut]
                        .chars()
                        .next_back()
                        .is_some_and(char::is_alphanumeric)
            })
        })
}

/// `text` with phone numbers replaced by `[number]` and PDUs (long hex
/// runs) by `[pdu]`; a device's error code named as one stays
/// (`error 108006`). Pure.
pub(crate) fn scrub(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let hex_end = (i..chars.len())
            .find(|&j| !chars[j].is_ascii_hexdigit())
            .unwrap_or(chars.len());
        if hex_end - i >= PDU_HEX_DIGITS {
            out.push_str("[pdu]");
            i = hex_end;
            continue;
        }
        let digit_end = (i..chars.len())
            .find(|&j| !chars[j].is_ascii_digit())
            .unwrap_or(chars.len());
        if digit_end - i >= NUMBER_DIGITS && !is_error_code(&out, digit_end - i) {
            // A number: a `+` written just before it goes too.
            if out.ends_with('+') {
                out.pop();
            }
            out.push_str("[number]");
            i = digit_end;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_pdus_leave_free_text() {
        assert_eq!(
            scrub("cannot move /var/spool/gammu/outbox/OUT+4917612345678.txt: Permission denied"),
            "cannot move /var/spool/gammu/outbox/OUT[number].txt: Permission denied"
        );
        assert_eq!(
            scrub("recipient \"017612345678\": invalid"),
            "recipient \"[number]\": invalid"
        );
        assert_eq!(
            scrub("bad PDU 07919471060040F3040B919471001000F000"),
            "bad PDU [pdu]"
        );
        assert_eq!(
            scrub("IN20261203_120000_00_+4915112345678_00.txt"),
            "IN[number]_[number]_00_[number]_00.txt"
        );
        // Short numbers and ordinary words stay.
        assert_eq!(
            scrub("gave up after 3 attempts: +CMS ERROR: 42 (congestion), part 2 of 3"),
            "gave up after 3 attempts: +CMS ERROR: 42 (congestion), part 2 of 3"
        );
        assert_eq!(scrub("deadbeef facade"), "deadbeef facade");
        assert_eq!(
            scrub("recipient \"+491761357904abc\": not a number"),
            "recipient \"[number]abc\": not a number"
        );
        assert_eq!(scrub("to abc491761357904"), "to abc[number]");
        assert_eq!(scrub("Grüße, 12345 €"), "Grüße, 12345 €");
    }

    /// A stick's error code (six digits, HiLink's 108006) was scrubbed as
    /// a number in `status`'s "last fault" while the line above showed
    /// it: a code named as one stays; phone numbers stay scrubbed, also
    /// after the same words.
    #[test]
    fn an_error_code_is_not_a_phone_number() {
        for text in [
            "the stick refused the password (error 108006): check password under [modem]",
            "the stick answered error 125002 to /api/sms/send-sms",
            "refused with code 100003",
            "the stick answered ERROR 113018",
        ] {
            assert_eq!(scrub(text), text);
        }
        for (text, scrubbed) in [
            ("error 4917612345678 refused", "error [number] refused"),
            ("error +491761234 refused", "error [number] refused"),
            ("error 1080061", "error [number]"),
            ("no error; to 108006", "no error; to [number]"),
            ("cannot send to 108006", "cannot send to [number]"),
            ("terror 108006", "terror [number]"),
        ] {
            assert_eq!(scrub(text), scrubbed, "{text}");
        }
    }

    #[test]
    fn debug_shows_everything() {
        set_show_private(false);
        assert_eq!(Redact("+4917612345678").to_string(), "[redacted]");
        assert_eq!(format!("{:?}", Redact("secret text")), "[redacted]");
        assert_eq!(Scrub("to +4917612345678").to_string(), "to [number]");
        set_show_private(true);
        assert_eq!(Redact("+4917612345678").to_string(), "+4917612345678");
        assert_eq!(Scrub("to +4917612345678").to_string(), "to +4917612345678");
        set_show_private(false);
    }
}
