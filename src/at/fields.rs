//! Lexing of information-line payloads: the `+NAME:` prefix, comma-separated
//! fields with quoted strings (3GPP TS 27.007 §4.1, ITU-T V.250 §5.4.2.2),
//! parenthesised lists of supported values (27.007 §4.1 test-command
//! syntax), and hexadecimal strings (27.005 §3.1 `<pdu>`, 27.007 §7.2
//! `<lac>`/`<ci>`).
//!
//! [`ParseError`] is the error of every typed parser in this module tree.

use thiserror::Error;

/// Why a typed parser rejected a line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Error)]
pub enum ParseError {
    /// The line does not start with the expected `+NAME:` prefix.
    #[error("expected a line starting with {0}:")]
    Prefix(&'static str),
    /// A mandatory field is absent or empty.
    #[error("missing field <{0}>")]
    Missing(&'static str),
    /// A field is present but not a valid value.
    #[error("invalid <{field}>: {value:?}")]
    Invalid {
        /// Field name as the specification spells it.
        field: &'static str,
        /// The offending text.
        value: String,
    },
    /// A quoted string or parenthesised list is not closed.
    #[error("unterminated quoted string or list")]
    Unterminated,
    /// A hexadecimal string has an odd length or a non-hex character.
    #[error("invalid hexadecimal string: {0}")]
    Hex(#[from] crate::pdu::HexError),
    /// A header line that announces a PDU is not followed by one.
    #[error("missing PDU line after header")]
    MissingPdu,
    /// One entry of a message list is broken; the others may be fine.
    #[error("message at index {index}: {error}")]
    Entry {
        /// Storage index from the entry's header.
        index: u32,
        /// What is wrong with the entry.
        error: Box<ParseError>,
        /// The entry's PDU line as received, if there was one: kept raw.
        line: Option<String>,
    },
}

/// Returns the payload after `prefix` and its colon, trimmed.
///
/// The prefix is matched ASCII case-insensitively (`prefix` without colon).
pub(crate) fn payload<'a>(line: &'a str, prefix: &'static str) -> Result<&'a str, ParseError> {
    let line = line.trim();
    let head = line.get(..prefix.len()).ok_or(ParseError::Prefix(prefix))?;
    if !head.eq_ignore_ascii_case(prefix) {
        return Err(ParseError::Prefix(prefix));
    }
    line[prefix.len()..]
        .trim_start()
        .strip_prefix(':')
        .map(str::trim)
        .ok_or(ParseError::Prefix(prefix))
}

/// Like [`payload`], but a line without the prefix is returned as is
/// (for commands some modems answer with a bare line, e.g. `AT+CGSN`).
pub(crate) fn optional_payload<'a>(line: &'a str, prefix: &'static str) -> &'a str {
    payload(line, prefix).unwrap_or_else(|_| line.trim())
}

/// Removes one pair of surrounding double quotes, if present.
pub(crate) fn unquote(s: &str) -> &str {
    let s = s.trim();
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// Comma-separated fields of a payload; commas inside quotes or
/// parentheses do not separate. Each field is trimmed but keeps its quotes.
#[derive(Debug)]
pub(crate) struct Fields<'a>(Vec<&'a str>);

impl<'a> Fields<'a> {
    /// Splits `payload`; an empty payload has no fields.
    pub(crate) fn split(payload: &'a str) -> Result<Self, ParseError> {
        let mut fields = Vec::new();
        if payload.trim().is_empty() {
            return Ok(Self(fields));
        }
        let (mut start, mut quoted, mut depth) = (0, false, 0u32);
        for (i, c) in payload.char_indices() {
            match c {
                '"' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => depth = depth.saturating_sub(1),
                ',' if !quoted && depth == 0 => {
                    fields.push(payload[start..i].trim());
                    start = i + 1;
                }
                _ => {}
            }
        }
        if quoted || depth > 0 {
            return Err(ParseError::Unterminated);
        }
        fields.push(payload[start..].trim());
        Ok(Self(fields))
    }

    /// Splits the payload of `line` after `prefix`.
    pub(crate) fn of(line: &'a str, prefix: &'static str) -> Result<Self, ParseError> {
        Self::split(payload(line, prefix)?)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The raw field `i` (quotes kept), `None` when absent or empty.
    pub(crate) fn raw(&self, i: usize) -> Option<&'a str> {
        self.0.get(i).copied().filter(|f| !f.is_empty())
    }

    /// The unquoted string field `i`, `None` when absent or empty.
    pub(crate) fn opt_str(&self, i: usize) -> Option<&'a str> {
        self.raw(i).map(unquote).filter(|s| !s.is_empty())
    }

    /// The unquoted, mandatory string field `i`.
    pub(crate) fn str(&self, i: usize, name: &'static str) -> Result<&'a str, ParseError> {
        self.opt_str(i).ok_or(ParseError::Missing(name))
    }

    /// The optional decimal field `i` (quotes tolerated).
    pub(crate) fn opt_num<T: std::str::FromStr>(
        &self,
        i: usize,
        name: &'static str,
    ) -> Result<Option<T>, ParseError> {
        self.opt_str(i).map(|s| number(s, name)).transpose()
    }

    /// The mandatory decimal field `i` (quotes tolerated).
    pub(crate) fn num<T: std::str::FromStr>(
        &self,
        i: usize,
        name: &'static str,
    ) -> Result<T, ParseError> {
        self.opt_num(i, name)?.ok_or(ParseError::Missing(name))
    }

    /// The optional hexadecimal-number field `i`, e.g. `"1A2B"`.
    pub(crate) fn opt_hex_num(
        &self,
        i: usize,
        name: &'static str,
    ) -> Result<Option<u64>, ParseError> {
        self.opt_str(i)
            .map(|s| u64::from_str_radix(s, 16).map_err(|_| invalid(name, s)))
            .transpose()
    }
}

/// Parses a decimal number, mapping failure to [`ParseError::Invalid`].
pub(crate) fn number<T: std::str::FromStr>(s: &str, name: &'static str) -> Result<T, ParseError> {
    let s = s.trim();
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(name, s));
    }
    s.parse().map_err(|_| invalid(name, s))
}

pub(crate) fn invalid(field: &'static str, value: &str) -> ParseError {
    ParseError::Invalid {
        field,
        value: value.chars().take(64).collect(),
    }
}

/// Splits a parenthesised list such as `("SM","ME")` into unquoted items.
pub(crate) fn list(field: &str) -> Result<Vec<String>, ParseError> {
    let inner = field
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or(ParseError::Unterminated)?;
    Ok(Fields::split(inner)?
        .0
        .into_iter()
        .map(|f| unquote(f).to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_strips_prefix_case_insensitively() {
        assert_eq!(payload("+CSQ: 17,99", "+CSQ"), Ok("17,99"));
        assert_eq!(payload("+csq:17,99 ", "+CSQ"), Ok("17,99"));
        assert_eq!(payload("+CSQX: 1", "+CSQ"), Err(ParseError::Prefix("+CSQ")));
        assert_eq!(payload("+CS", "+CSQ"), Err(ParseError::Prefix("+CSQ")));
        assert_eq!(payload("é", "+CSQ"), Err(ParseError::Prefix("+CSQ")));
    }

    #[test]
    fn split_respects_quotes_and_parentheses() {
        let f = Fields::split(r#"1,"a,b", ("SM","ME"),,"x""#).unwrap();
        assert_eq!(f.len(), 5);
        assert_eq!(f.str(1, "s"), Ok("a,b"));
        assert_eq!(f.raw(2), Some(r#"("SM","ME")"#));
        assert_eq!(f.opt_str(3), None);
        assert_eq!(f.num::<u8>(0, "n"), Ok(1));
        assert_eq!(Fields::split("").unwrap().len(), 0);
        assert_eq!(
            Fields::split(r#"1,"open"#).unwrap_err(),
            ParseError::Unterminated
        );
        assert_eq!(Fields::split("(1,2").unwrap_err(), ParseError::Unterminated);
    }

    #[test]
    fn numbers_reject_signs_and_overflow() {
        assert!(number::<u8>("+1", "n").is_err());
        assert!(number::<u8>("256", "n").is_err());
        assert_eq!(number::<u8>(" 42 ", "n"), Ok(42));
        let f = Fields::split(r#""1A2B",zz"#).unwrap();
        assert_eq!(f.opt_hex_num(0, "lac"), Ok(Some(0x1a2b)));
        assert!(f.opt_hex_num(1, "ci").is_err());
    }

    #[test]
    fn lists() {
        assert_eq!(list(r#"("SM", "ME")"#).unwrap(), ["SM", "ME"]);
        assert_eq!(list("SM").unwrap_err(), ParseError::Unterminated);
    }
}
