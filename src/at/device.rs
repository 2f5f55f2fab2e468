//! Device identification and power: `+CGMI`, `+CGMM`, `+CGMR`, `+CGSN`
//! (3GPP TS 27.007 §5.1–§5.4), `+CIMI` (§5.6) and battery `+CBC` (§8.4).
//!
//! The identification commands answer with a bare line on most modems and
//! with a `+NAME:` prefix on some (Quectel `+CGMI: "Quectel"`); both parse.

use super::fields::{invalid, optional_payload, unquote, Fields, ParseError};

/// Which identification command a line answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InfoKind {
    /// `AT+CGMI`: manufacturer.
    Manufacturer,
    /// `AT+CGMM`: model.
    Model,
    /// `AT+CGMR`: firmware revision.
    Revision,
}

/// Parses the answer to `AT+CGMI`/`AT+CGMM`/`AT+CGMR` into trimmed,
/// unquoted text.
///
/// # Errors
/// An empty answer.
pub fn parse_info(line: &str, kind: InfoKind) -> Result<String, ParseError> {
    let prefix = match kind {
        InfoKind::Manufacturer => "+CGMI",
        InfoKind::Model => "+CGMM",
        InfoKind::Revision => "+CGMR",
    };
    let text = unquote(optional_payload(line, prefix));
    if text.is_empty() {
        return Err(ParseError::Missing("text"));
    }
    Ok(text.to_owned())
}

fn digits(
    line: &str,
    prefix: &'static str,
    field: &'static str,
    len: std::ops::RangeInclusive<usize>,
) -> Result<String, ParseError> {
    let text = unquote(optional_payload(line, prefix));
    if !len.contains(&text.len()) || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(field, text));
    }
    Ok(text.to_owned())
}

/// Parses the answer to `AT+CGSN`: an IMEI(SV) of 14 to 17 digits.
///
/// # Errors
/// Anything else.
pub fn parse_imei(line: &str) -> Result<String, ParseError> {
    digits(line, "+CGSN", "sn", 14..=17)
}

/// Parses the answer to `AT+CIMI`: an IMSI of 6 to 15 digits.
///
/// # Errors
/// Anything else.
pub fn parse_imsi(line: &str) -> Result<String, ParseError> {
    digits(line, "+CIMI", "IMSI", 6..=15)
}

/// `+CBC: <bcs>,<bcl>[,<voltage>]` (27.007 §8.4; the voltage is a SIMCom
/// extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Battery {
    /// 0 powered by battery, 1 battery connected but powered elsewhere,
    /// 2 no battery, 3 power fault (SIMCom: 1 charging, 2 charged).
    pub status: u8,
    /// Charge level 0..=100 percent (0 also when unknown).
    pub charge: u8,
    /// Supply voltage in millivolts.
    pub voltage_mv: Option<u32>,
}

/// Parses `+CBC:`.
///
/// # Errors
/// Wrong prefix, missing fields, or a charge above 100.
pub fn parse_cbc(line: &str) -> Result<Battery, ParseError> {
    let f = Fields::of(line, "+CBC")?;
    let charge: u8 = f.num(1, "bcl")?;
    if charge > 100 {
        return Err(invalid("bcl", &charge.to_string()));
    }
    Ok(Battery {
        status: f.num(0, "bcs")?,
        charge,
        voltage_mv: f.opt_num(2, "voltage")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_bare_and_prefixed() {
        assert_eq!(
            parse_info("huawei", InfoKind::Manufacturer).unwrap(),
            "huawei"
        );
        assert_eq!(
            parse_info(r#"+CGMI: "Quectel""#, InfoKind::Manufacturer).unwrap(),
            "Quectel"
        );
        assert_eq!(parse_info("+CGMM: EC25 ", InfoKind::Model).unwrap(), "EC25");
        assert_eq!(
            parse_info("Revision:1418B04SIM800C24", InfoKind::Revision).unwrap(),
            "Revision:1418B04SIM800C24"
        );
        assert!(parse_info("  ", InfoKind::Model).is_err());
        assert!(parse_info("+CGMR:", InfoKind::Revision).is_err());
    }

    #[test]
    fn imei_and_imsi() {
        assert_eq!(parse_imei("867322035101234").unwrap(), "867322035101234");
        assert_eq!(
            parse_imei(r#"+CGSN: "867322035101234""#).unwrap(),
            "867322035101234"
        );
        assert_eq!(
            parse_imei("+CGSN: 35622806123456").unwrap(),
            "35622806123456"
        );
        assert!(parse_imei("1234").is_err());
        assert!(parse_imei("86732203510123X").is_err());
        assert!(parse_imei("123456789012345678").is_err());
        assert_eq!(parse_imsi("262011234567890").unwrap(), "262011234567890");
        assert_eq!(
            parse_imsi("+CIMI: 262011234567890").unwrap(),
            "262011234567890"
        );
        assert!(parse_imsi("2620112345678901").is_err());
        assert!(parse_imsi("ERROR").is_err());
    }

    #[test]
    fn cbc() {
        assert_eq!(
            parse_cbc("+CBC: 0,85").unwrap(),
            Battery {
                status: 0,
                charge: 85,
                voltage_mv: None
            }
        );
        assert_eq!(parse_cbc("+CBC: 0,93,4163").unwrap().voltage_mv, Some(4163));
        assert!(parse_cbc("+CBC: 0,101").is_err());
        assert!(parse_cbc("+CBC: 0").is_err());
        assert!(parse_cbc("+CBC: -1,5").is_err());
    }
}
