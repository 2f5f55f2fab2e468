//! Radio and network information lines: signal quality `+CSQ`
//! (3GPP TS 27.007 §8.5), network registration `+CREG`/`+CGREG`/`+CEREG`/
//! `+C5GREG` (§7.2, §10.1.20, §10.1.22, §10.1.52) and operator selection
//! `+COPS` (§7.3).

use super::fields::{invalid, Fields, ParseError};

/// `+CSQ: <rssi>,<ber>` (27.007 §8.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalQuality {
    /// Raw `<rssi>`: 0..=31, 99 (unknown), or 100..=191 (TD-SCDMA range).
    pub rssi: u8,
    /// Raw `<ber>`: 0..=7 (RXQUAL class) or 99 (unknown).
    pub ber: u8,
}

impl SignalQuality {
    /// Received power in dBm: `-113 + 2·rssi` for 0..=31 (0 means −113 dBm
    /// or less, 31 means −51 dBm or more), `-216 + rssi` for the TD-SCDMA
    /// range 100..=191, `None` when unknown.
    pub fn dbm(&self) -> Option<i16> {
        match self.rssi {
            r @ 0..=31 => Some(-113 + 2 * i16::from(r)),
            r @ 100..=191 => Some(-216 + i16::from(r)),
            _ => None,
        }
    }

    /// Signal in percent as gammu computes it for its spool and monitor
    /// output: `100 * rssi / 31` (integer division) for 0..=31, `None`
    /// otherwise (gammu writes −1).
    pub fn percent(&self) -> Option<u8> {
        (self.rssi <= 31).then(|| (100 * u16::from(self.rssi) / 31) as u8)
    }

    /// Bit error rate class 0..=7, `None` when unknown.
    pub fn ber_class(&self) -> Option<u8> {
        (self.ber <= 7).then_some(self.ber)
    }
}

/// Parses `+CSQ: <rssi>,<ber>`.
///
/// # Errors
/// Wrong prefix, missing fields, or values outside the 27.007 ranges.
pub fn parse_csq(line: &str) -> Result<SignalQuality, ParseError> {
    let f = Fields::of(line, "+CSQ")?;
    let rssi: u8 = f.num(0, "rssi")?;
    let ber: u8 = f.num(1, "ber")?;
    if !matches!(rssi, 0..=31 | 99 | 100..=191) {
        return Err(invalid("rssi", &rssi.to_string()));
    }
    if !matches!(ber, 0..=7 | 99) {
        return Err(invalid("ber", &ber.to_string()));
    }
    Ok(SignalQuality { rssi, ber })
}

/// Registration status `<stat>` (27.007 §7.2, shared by §10.1.20/22/52).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegStatus {
    /// 0: not registered, not searching.
    NotRegistered,
    /// 1: registered, home network.
    Home,
    /// 2: not registered, searching.
    Searching,
    /// 3: registration denied.
    Denied,
    /// 4: unknown (e.g. out of coverage).
    Unknown,
    /// 5: registered, roaming.
    Roaming,
    /// 6: registered for "SMS only", home network.
    SmsOnlyHome,
    /// 7: registered for "SMS only", roaming.
    SmsOnlyRoaming,
    /// 8: attached for emergency bearer services only.
    EmergencyOnly,
    /// 9: registered for "CSFB not preferred", home network.
    CsfbNotPreferredHome,
    /// 10: registered for "CSFB not preferred", roaming.
    CsfbNotPreferredRoaming,
    /// 11: attached for access to RLOS.
    Rlos,
    /// Any other value.
    Other(u8),
}

impl RegStatus {
    /// Maps the numeric `<stat>`.
    pub fn from_code(code: u8) -> Self {
        use RegStatus::*;
        [
            NotRegistered,
            Home,
            Searching,
            Denied,
            Unknown,
            Roaming,
            SmsOnlyHome,
            SmsOnlyRoaming,
            EmergencyOnly,
            CsfbNotPreferredHome,
            CsfbNotPreferredRoaming,
            Rlos,
        ]
        .get(usize::from(code))
        .copied()
        .unwrap_or(Other(code))
    }

    /// True when the modem can send and receive SMS over this registration.
    pub fn is_registered(&self) -> bool {
        use RegStatus::*;
        matches!(
            self,
            Home | Roaming
                | SmsOnlyHome
                | SmsOnlyRoaming
                | CsfbNotPreferredHome
                | CsfbNotPreferredRoaming
        )
    }
}

/// Access technology `<AcT>` (27.007 §7.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessTech {
    /// 0: GSM.
    Gsm,
    /// 1: GSM Compact.
    GsmCompact,
    /// 2: UTRAN.
    Utran,
    /// 3: GSM with EGPRS.
    GsmEgprs,
    /// 4: UTRAN with HSDPA.
    UtranHsdpa,
    /// 5: UTRAN with HSUPA.
    UtranHsupa,
    /// 6: UTRAN with HSDPA and HSUPA.
    UtranHsdpaHsupa,
    /// 7: E-UTRAN.
    Eutran,
    /// 8: EC-GSM-IoT (A/Gb mode).
    EcGsmIot,
    /// 9: E-UTRAN (NB-S1 mode).
    EutranNbS1,
    /// 10: E-UTRA connected to a 5GCN.
    Eutra5gcn,
    /// 11: NR connected to a 5GCN.
    Nr5gcn,
    /// 12: NG-RAN.
    NgRan,
    /// 13: E-UTRA-NR dual connectivity.
    EutraNrDual,
    /// Any other value.
    Other(u8),
}

impl AccessTech {
    /// Maps the numeric `<AcT>`.
    pub fn from_code(code: u8) -> Self {
        use AccessTech::*;
        [
            Gsm,
            GsmCompact,
            Utran,
            GsmEgprs,
            UtranHsdpa,
            UtranHsupa,
            UtranHsdpaHsupa,
            Eutran,
            EcGsmIot,
            EutranNbS1,
            Eutra5gcn,
            Nr5gcn,
            NgRan,
            EutraNrDual,
        ]
        .get(usize::from(code))
        .copied()
        .unwrap_or(Other(code))
    }
}

/// Which registration command a line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegDomain {
    /// `+CREG`: circuit-switched (SMS over CS).
    Creg,
    /// `+CGREG`: GPRS packet domain.
    Cgreg,
    /// `+CEREG`: EPS (LTE).
    Cereg,
    /// `+C5GREG`: 5GS.
    C5greg,
}

/// Which syntax a registration line uses: the two differ only in a
/// leading `<n>`, so the caller must say which one it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegForm {
    /// Read-command response `+CREG: <n>,<stat>[,...]`.
    Read,
    /// Unsolicited `+CREG: <stat>[,...]`.
    Unsolicited,
}

/// A `+CREG`/`+CGREG`/`+CEREG`/`+C5GREG` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Registration {
    /// The command the line belongs to.
    pub domain: RegDomain,
    /// The unsolicited-reporting mode `<n>` (read form only).
    pub mode: Option<u8>,
    /// Registration status.
    pub status: RegStatus,
    /// Location area code (`+CREG`/`+CGREG`) or tracking area code.
    pub area: Option<u32>,
    /// Cell identity (NR cell identities have 36 bits).
    pub cell: Option<u64>,
    /// Access technology of the serving cell.
    pub act: Option<AccessTech>,
}

/// Parses any of the registration lines in either [`RegForm`]; fields
/// after `<AcT>` (reject causes, PSM timers, NSSAI) are ignored.
///
/// # Errors
/// Unknown prefix, missing `<stat>`, or fields that are not numbers/hex.
pub fn parse_registration(line: &str, form: RegForm) -> Result<Registration, ParseError> {
    let (domain, f) = [
        (RegDomain::Creg, "+CREG"),
        (RegDomain::Cgreg, "+CGREG"),
        (RegDomain::Cereg, "+CEREG"),
        (RegDomain::C5greg, "+C5GREG"),
    ]
    .into_iter()
    .find_map(|(d, p)| Fields::of(line, p).ok().map(|f| (d, f)))
    .ok_or(ParseError::Prefix("+CREG"))?;
    let (mode, s) = match form {
        RegForm::Read => (Some(f.num(0, "n")?), 1),
        RegForm::Unsolicited => (None, 0),
    };
    let area = f.opt_hex_num(s + 1, "lac")?;
    Ok(Registration {
        domain,
        mode,
        status: RegStatus::from_code(f.num(s, "stat")?),
        area: area
            .map(|a| u32::try_from(a).map_err(|_| invalid("lac", &format!("{a:X}"))))
            .transpose()?,
        cell: f.opt_hex_num(s + 2, "ci")?,
        act: f.opt_num(s + 3, "AcT")?.map(AccessTech::from_code),
    })
}

/// `+COPS: <mode>[,<format>,<oper>[,<AcT>]]` (27.007 §7.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Operator {
    /// 0 automatic, 1 manual, 2 deregistered, 3 set format only,
    /// 4 manual/automatic.
    pub mode: u8,
    /// 0 long alphanumeric, 1 short alphanumeric, 2 numeric.
    pub format: Option<u8>,
    /// Operator name or numeric MCC+MNC, per `format`.
    pub name: Option<String>,
    /// Access technology.
    pub act: Option<AccessTech>,
}

/// Parses the `AT+COPS?` response.
///
/// # Errors
/// Wrong prefix or non-numeric `<mode>`/`<format>`/`<AcT>`.
pub fn parse_cops(line: &str) -> Result<Operator, ParseError> {
    let f = Fields::of(line, "+COPS")?;
    Ok(Operator {
        mode: f.num(0, "mode")?,
        format: f.opt_num(1, "format")?,
        name: f.opt_str(2).map(str::to_owned),
        act: f.opt_num(3, "AcT")?.map(AccessTech::from_code),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csq() {
        let q = parse_csq("+CSQ: 17,99").unwrap();
        assert_eq!(
            (q.dbm(), q.percent(), q.ber_class()),
            (Some(-79), Some(54), None)
        );
        let q = parse_csq("+CSQ: 31,0").unwrap();
        assert_eq!(
            (q.dbm(), q.percent(), q.ber_class()),
            (Some(-51), Some(100), Some(0))
        );
        let q = parse_csq("+CSQ: 0,7").unwrap();
        assert_eq!((q.dbm(), q.percent()), (Some(-113), Some(0)));
        let q = parse_csq("+CSQ: 99,99").unwrap();
        assert_eq!((q.dbm(), q.percent()), (None, None));
        let q = parse_csq("+CSQ: 150,99").unwrap();
        assert_eq!((q.dbm(), q.percent()), (Some(-66), None));
        for bad in [
            "+CSQ: 32,99",
            "+CSQ: 17,8",
            "+CSQ: 17",
            "+CSQ:",
            "+CSQ: a,b",
            "CSQ: 1,1",
            "+CSQ: 300,1",
        ] {
            assert!(parse_csq(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn registration_read_and_urc_forms() {
        let r = parse_registration("+CREG: 0,1", RegForm::Read).unwrap();
        assert_eq!(
            (r.domain, r.mode, r.status, r.area),
            (RegDomain::Creg, Some(0), RegStatus::Home, None)
        );
        assert!(r.status.is_registered());
        let r = parse_registration(r#"+CREG: 2,5,"1A2B","00C3F5A1",7"#, RegForm::Read).unwrap();
        assert_eq!(r.status, RegStatus::Roaming);
        assert_eq!(
            (r.area, r.cell, r.act),
            (Some(0x1a2b), Some(0xc3f5a1), Some(AccessTech::Eutran))
        );
        let r =
            parse_registration(r#"+CEREG: 1,"00FA","0A1B2C3",7"#, RegForm::Unsolicited).unwrap();
        assert_eq!(
            (r.domain, r.mode, r.area, r.cell),
            (RegDomain::Cereg, None, Some(0xfa), Some(0xa1b2c3))
        );
        let r = parse_registration("+CEREG: 2", RegForm::Unsolicited).unwrap();
        assert_eq!(r.status, RegStatus::Searching);
        assert!(!r.status.is_registered());
        let r = parse_registration(
            r#"+C5GREG: 2,1,"0000A1","123456789",11,1,"01""#,
            RegForm::Read,
        )
        .unwrap();
        assert_eq!(
            (r.cell, r.act),
            (Some(0x1_2345_6789), Some(AccessTech::Nr5gcn))
        );
        let r = parse_registration("+CGREG: 1,,,", RegForm::Unsolicited).unwrap();
        assert_eq!((r.domain, r.area, r.act), (RegDomain::Cgreg, None, None));
        assert_eq!(
            parse_registration("+CREG: 1,42", RegForm::Read)
                .unwrap()
                .status,
            RegStatus::Other(42)
        );
        assert_eq!(AccessTech::from_code(13), AccessTech::EutraNrDual);
        assert_eq!(AccessTech::from_code(14), AccessTech::Other(14));
        for bad in [
            "+CREG:",
            "+CREG: x",
            r#"+CREG: 1,"XYZ","1""#,
            r#"+CREG: 1,"123456789","1""#,
            "+COPS: 0",
        ] {
            assert!(
                parse_registration(bad, RegForm::Unsolicited).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn cops() {
        let o = parse_cops(r#"+COPS: 0,0,"Telekom.de",7"#).unwrap();
        assert_eq!(o.name.as_deref(), Some("Telekom.de"));
        assert_eq!(
            (o.mode, o.format, o.act),
            (0, Some(0), Some(AccessTech::Eutran))
        );
        let o = parse_cops(r#"+COPS: 0,2,"26201",2"#).unwrap();
        assert_eq!(o.name.as_deref(), Some("26201"));
        assert_eq!(parse_cops("+COPS: 0").unwrap().name, None);
        let o = parse_cops(r#"+COPS: 1,0,"A, B & C""#).unwrap();
        assert_eq!(o.name.as_deref(), Some("A, B & C"));
        assert!(parse_cops("+COPS: x").is_err());
        assert!(parse_cops("+COPS: 0,0,\"open").is_err());
    }
}
