//! Final result codes that end a command (ITU-T V.250 §5.7.1, 3GPP TS
//! 27.007 §9.2, TS 27.005 §3.2.5) and the [`Response`] they close: the
//! information lines of the command plus its final result.

use std::fmt;

use super::error::{CmeError, CmsError, ErrorClass};
use super::fields::payload;

/// A final result code.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FinalResult {
    /// `OK`.
    Ok,
    /// `ERROR`, and the Huawei/ZTE spellings `COMMAND NOT SUPPORT` and
    /// `TOO MANY PARAMETERS`.
    Error,
    /// `+CME ERROR: <err>`.
    Cme(CmeError),
    /// `+CMS ERROR: <err>`.
    Cms(CmsError),
    /// `CONNECT [<text>]`.
    Connect(Option<String>),
    /// `NO CARRIER`.
    NoCarrier,
    /// `BUSY`.
    Busy,
    /// `NO ANSWER`.
    NoAnswer,
    /// `NO DIALTONE`.
    NoDialtone,
}

impl FinalResult {
    /// True for `OK` and `CONNECT`.
    pub fn is_ok(&self) -> bool {
        matches!(self, Self::Ok | Self::Connect(_))
    }

    /// The retry class of a `+CME`/`+CMS` error; `None` otherwise.
    pub fn class(&self) -> Option<ErrorClass> {
        match self {
            Self::Cme(e) => Some(e.class()),
            Self::Cms(e) => Some(e.class()),
            _ => None,
        }
    }
}

impl fmt::Display for FinalResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("OK"),
            Self::Error => f.write_str("ERROR"),
            Self::Cme(e) => write!(f, "+CME ERROR: {e}"),
            Self::Cms(e) => write!(f, "+CMS ERROR: {e}"),
            Self::Connect(None) => f.write_str("CONNECT"),
            Self::Connect(Some(t)) => write!(f, "CONNECT {t}"),
            Self::NoCarrier => f.write_str("NO CARRIER"),
            Self::Busy => f.write_str("BUSY"),
            Self::NoAnswer => f.write_str("NO ANSWER"),
            Self::NoDialtone => f.write_str("NO DIALTONE"),
        }
    }
}

/// Recognises a final result code (verbose form, `ATV1`); `None` for any
/// other line.
pub fn parse_final(line: &str) -> Option<FinalResult> {
    let line = line.trim();
    Some(match line {
        "OK" => FinalResult::Ok,
        "ERROR" | "COMMAND NOT SUPPORT" | "TOO MANY PARAMETERS" => FinalResult::Error,
        "NO CARRIER" => FinalResult::NoCarrier,
        "BUSY" => FinalResult::Busy,
        "NO ANSWER" => FinalResult::NoAnswer,
        "NO DIALTONE" | "NO DIAL TONE" => FinalResult::NoDialtone,
        "CONNECT" => FinalResult::Connect(None),
        _ => {
            if let Some(text) = line.strip_prefix("CONNECT ") {
                FinalResult::Connect(Some(text.trim().to_owned()))
            } else if let Ok(err) = payload(line, "+CME ERROR") {
                FinalResult::Cme(CmeError::parse(err))
            } else {
                FinalResult::Cms(CmsError::parse(payload(line, "+CMS ERROR").ok()?))
            }
        }
    })
}

/// The information lines of a command and the final result that ended it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Response {
    /// Information lines in arrival order, trimmed, without echo, empty
    /// lines, unsolicited codes or noise.
    pub lines: Vec<String>,
    /// How the command ended.
    pub result: FinalResult,
}

impl Response {
    /// The lines when the result is `OK` (or `CONNECT`), else the result.
    ///
    /// # Errors
    /// The final result when it is not a success.
    pub fn into_result(self) -> Result<Vec<String>, FinalResult> {
        if self.result.is_ok() {
            Ok(self.lines)
        } else {
            Err(self.result)
        }
    }

    /// The first line starting with `prefix` (e.g. `"+CSQ:"`), if any.
    pub fn line(&self, prefix: &str) -> Option<&str> {
        self.lines.iter().map(String::as_str).find(|l| {
            l.get(..prefix.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_codes() {
        assert_eq!(parse_final("OK"), Some(FinalResult::Ok));
        assert_eq!(parse_final(" ERROR "), Some(FinalResult::Error));
        assert_eq!(parse_final("COMMAND NOT SUPPORT"), Some(FinalResult::Error));
        assert_eq!(
            parse_final("+CME ERROR: 10"),
            Some(FinalResult::Cme(CmeError::SimNotInserted))
        );
        assert_eq!(
            parse_final("+CME ERROR: SIM PIN required"),
            Some(FinalResult::Cme(CmeError::SimPinRequired))
        );
        assert_eq!(
            parse_final("+CMS ERROR: 500"),
            Some(FinalResult::Cms(CmsError::Unknown))
        );
        assert_eq!(
            parse_final("+CMS ERROR:38"),
            Some(FinalResult::Cms(CmsError::NetworkOutOfOrder))
        );
        assert_eq!(parse_final("NO CARRIER"), Some(FinalResult::NoCarrier));
        assert_eq!(parse_final("BUSY"), Some(FinalResult::Busy));
        assert_eq!(parse_final("NO ANSWER"), Some(FinalResult::NoAnswer));
        assert_eq!(parse_final("NO DIALTONE"), Some(FinalResult::NoDialtone));
        assert_eq!(parse_final("CONNECT"), Some(FinalResult::Connect(None)));
        assert_eq!(
            parse_final("CONNECT 9600"),
            Some(FinalResult::Connect(Some("9600".into())))
        );
        for other in ["OKAY", "+CSQ: 1,1", "", "ERROR 5", "+CME ERRO: 3", "RING"] {
            assert_eq!(parse_final(other), None, "{other}");
        }
    }

    #[test]
    fn results_and_classes() {
        assert!(FinalResult::Ok.is_ok() && !FinalResult::Error.is_ok());
        assert_eq!(FinalResult::Error.class(), None);
        assert_eq!(
            parse_final("+CMS ERROR: 1").unwrap().class(),
            Some(ErrorClass::Permanent)
        );
        assert_eq!(
            parse_final("+CME ERROR: 11").unwrap().to_string(),
            "+CME ERROR: SIM PIN required"
        );
        let r = Response {
            lines: vec!["+CSQ: 17,99".into()],
            result: FinalResult::Ok,
        };
        assert_eq!(r.line("+csq:"), Some("+CSQ: 17,99"));
        assert_eq!(r.line("+CREG:"), None);
        assert_eq!(r.into_result(), Ok(vec!["+CSQ: 17,99".to_owned()]));
        let r = Response {
            lines: vec![],
            result: FinalResult::Error,
        };
        assert_eq!(r.into_result(), Err(FinalResult::Error));
    }
}
