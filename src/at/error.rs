//! Errors reported by the modem in final result codes: [`CmsError`]
//! (`+CMS ERROR: <err>`, 3GPP TS 27.005 §3.2.5, with RP-causes from
//! TS 24.011 §8.2.5.4 and TP-Failure-Causes from TS 23.040 §9.2.3.22) and
//! [`CmeError`] (`+CME ERROR: <err>`, TS 27.007 §9.2), plus the
//! [`ErrorClass`] that retry logic is built on.
//!
//! Both error types accept the numeric form (`AT+CMEE=1`) and the verbose
//! form (`AT+CMEE=2`); text that matches no known meaning is kept verbatim.

use std::fmt;

/// How a caller should react to an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Retrying the same request will fail the same way (bad number,
    /// barred, malformed PDU, unsupported operation).
    Permanent,
    /// The network or modem is momentarily unable; retry with backoff.
    Transient,
    /// The modem needs attention first (SIM PIN/PUK, SIM missing, storage
    /// full, configuration); retry once the state is fixed.
    ModemState,
}

/// Defines an error enum from a table of `Variant = code, "meaning", Class`.
macro_rules! error_table {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal, $class:ident;)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $(#[doc = $text] $variant,)*
            /// A numeric code without a name in this table.
            Other(u16),
            /// A verbose error text without a known meaning, kept verbatim.
            Text(String),
        }

        impl $name {
            /// Maps a numeric code to its variant (unknown → `Other`).
            pub fn from_code(code: u16) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    n => Self::Other(n),
                }
            }

            /// Parses the payload after `ERROR:`: a number, or verbose text
            /// matched case-insensitively against the specification's meaning.
            pub fn parse(payload: &str) -> Self {
                let text = payload.trim();
                if let Ok(code) = crate::at::fields::number::<u16>(text, "err") {
                    return Self::from_code(code);
                }
                $(if text.eq_ignore_ascii_case($text) {
                    return Self::$variant;
                })*
                Self::Text(text.to_owned())
            }

            /// The numeric code, `None` for unrecognised verbose text.
            pub fn code(&self) -> Option<u16> {
                match self {
                    $(Self::$variant => Some($code),)*
                    Self::Other(n) => Some(*n),
                    Self::Text(_) => None,
                }
            }

            fn known(&self) -> Option<(&'static str, ErrorClass)> {
                match self {
                    $(Self::$variant => Some(($text, ErrorClass::$class)),)*
                    Self::Other(_) | Self::Text(_) => None,
                }
            }
        }
    };
}

error_table! {
    /// `+CMS ERROR: <err>` (27.005 §3.2.5).
    ///
    /// Classes: the sender's fault or the subscription's is `Permanent`;
    /// network load and outages are `Transient`; SIM and storage problems
    /// that need local action are `ModemState`.
    CmsError {
        // RP-causes, 24.011 §8.2.5.4 (values 0..=127).
        UnassignedNumber = 1, "unassigned (unallocated) number", Permanent;
        OperatorDeterminedBarring = 8, "operator determined barring", Permanent;
        CallBarred = 10, "call barred", Permanent;
        TransferRejected = 21, "short message transfer rejected", Permanent;
        // The recipient's memory may be freed later.
        DestinationMemoryExceeded = 22, "memory capacity exceeded", Transient;
        DestinationOutOfOrder = 27, "destination out of order", Transient;
        UnidentifiedSubscriber = 28, "unidentified subscriber", Permanent;
        FacilityRejected = 29, "facility rejected", Permanent;
        UnknownSubscriber = 30, "unknown subscriber", Permanent;
        NetworkOutOfOrder = 38, "network out of order", Transient;
        TemporaryFailure = 41, "temporary failure", Transient;
        Congestion = 42, "congestion", Transient;
        ResourcesUnavailable = 47, "resources unavailable, unspecified", Transient;
        FacilityNotSubscribed = 50, "requested facility not subscribed", Permanent;
        FacilityNotImplemented = 69, "requested facility not implemented", Permanent;
        // A reference mismatch; a new attempt uses a new reference.
        InvalidTransferReference = 81, "invalid short message transfer reference value", Transient;
        InvalidMessage = 95, "semantically incorrect message", Permanent;
        InvalidMandatoryInformation = 96, "invalid mandatory information", Permanent;
        MessageTypeNonExistent = 97, "message type non-existent or not implemented", Permanent;
        MessageNotCompatible = 98, "message not compatible with short message protocol state", Permanent;
        InformationElementNonExistent = 99, "information element non-existent or not implemented", Permanent;
        // Unspecified protocol and interworking trouble is usually passing.
        ProtocolError = 111, "protocol error, unspecified", Transient;
        Interworking = 127, "interworking, unspecified", Transient;
        // TP-Failure-Cause, 23.040 §9.2.3.22 (values 128..=255).
        TelematicInterworkingNotSupported = 128, "telematic interworking not supported", Permanent;
        MessageType0NotSupported = 129, "short message type 0 not supported", Permanent;
        CannotReplace = 130, "cannot replace short message", Permanent;
        UnspecifiedPidError = 143, "unspecified TP-PID error", Permanent;
        DcsNotSupported = 144, "data coding scheme (alphabet) not supported", Permanent;
        MessageClassNotSupported = 145, "message class not supported", Permanent;
        UnspecifiedDcsError = 159, "unspecified TP-DCS error", Permanent;
        CommandCannotBeActioned = 160, "command cannot be actioned", Permanent;
        CommandUnsupported = 161, "command unsupported", Permanent;
        UnspecifiedCommandError = 175, "unspecified TP-command error", Permanent;
        TpduNotSupported = 176, "TPDU not supported", Permanent;
        ScBusy = 192, "SC busy", Transient;
        NoScSubscription = 193, "no SC subscription", Permanent;
        ScSystemFailure = 194, "SC system failure", Transient;
        InvalidSmeAddress = 195, "invalid SME address", Permanent;
        DestinationSmeBarred = 196, "destination SME barred", Permanent;
        // The SC already holds this message: sending it again cannot help.
        DuplicateRejected = 197, "SM rejected-duplicate SM", Permanent;
        VpfNotSupported = 198, "TP-VPF not supported", Permanent;
        VpNotSupported = 199, "TP-VP not supported", Permanent;
        SimStorageFull = 208, "(U)SIM SMS storage full", ModemState;
        NoSimStorage = 209, "no SMS storage capability in (U)SIM", ModemState;
        ErrorInMs = 210, "error in MS", Transient;
        MemoryCapacityExceeded = 211, "memory capacity exceeded", ModemState;
        ToolkitBusy = 212, "(U)SIM application toolkit busy", Transient;
        DataDownloadError = 213, "(U)SIM data download error", Transient;
        UnspecifiedFailure = 255, "unspecified error cause", Transient;
        // ME and network errors, 27.005 §3.2.5.
        MeFailure = 300, "ME failure", Transient;
        SmsServiceReserved = 301, "SMS service of ME reserved", Transient;
        // Usually a mode the modem is in (wrong +CMGF, not ready yet).
        OperationNotAllowed = 302, "operation not allowed", ModemState;
        OperationNotSupported = 303, "operation not supported", Permanent;
        InvalidPduParameter = 304, "invalid PDU mode parameter", Permanent;
        InvalidTextParameter = 305, "invalid text mode parameter", Permanent;
        SimNotInserted = 310, "(U)SIM not inserted", ModemState;
        SimPinRequired = 311, "(U)SIM PIN required", ModemState;
        PhSimPinRequired = 312, "PH-(U)SIM PIN required", ModemState;
        SimFailure = 313, "(U)SIM failure", ModemState;
        SimBusy = 314, "(U)SIM busy", Transient;
        SimWrong = 315, "(U)SIM wrong", ModemState;
        SimPukRequired = 316, "(U)SIM PUK required", ModemState;
        SimPin2Required = 317, "(U)SIM PIN2 required", ModemState;
        SimPuk2Required = 318, "(U)SIM PUK2 required", ModemState;
        // Flash or SIM access hiccups usually clear on a retry.
        MemoryFailure = 320, "memory failure", Transient;
        InvalidMemoryIndex = 321, "invalid memory index", Permanent;
        MemoryFull = 322, "memory full", ModemState;
        // Fixed by configuring +CSCA, not by waiting.
        SmscAddressUnknown = 330, "SMSC address unknown", ModemState;
        // No message can go until coverage is back: the queue waits, no
        // message's attempts are used up by it.
        NoNetworkService = 331, "no network service", ModemState;
        NetworkTimeout = 332, "network timeout", Transient;
        NoCnmaExpected = 340, "no +CNMA acknowledgement expected", Permanent;
        Unknown = 500, "unknown error", Transient;
    }
}

impl CmsError {
    /// How to react to this error; unnamed codes are `Transient` so that a
    /// bounded retry policy decides.
    pub fn class(&self) -> ErrorClass {
        self.known().map_or(ErrorClass::Transient, |(_, c)| c)
    }
}

impl fmt::Display for CmsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => f.write_str(t),
            Self::Other(n @ 0..=127) => write!(f, "RP-cause {n}"),
            Self::Other(n @ 0xe0..=0xfe) => write!(f, "application specific TP-failure-cause {n}"),
            Self::Other(n @ 128..=255) => write!(f, "reserved TP-failure-cause {n}"),
            Self::Other(n @ 512..) => write!(f, "manufacturer specific error {n}"),
            Self::Other(n) => write!(f, "reserved error {n}"),
            named => f.write_str(named.known().map_or("", |(text, _)| text)),
        }
    }
}

impl std::error::Error for CmsError {}

error_table! {
    /// `+CME ERROR: <err>` (27.007 §9.2).
    ///
    /// Classes: SIM locks and registration refusals are `ModemState`;
    /// link and network hiccups are `Transient`; invalid requests are
    /// `Permanent`.
    CmeError {
        PhoneFailure = 0, "phone failure", Transient;
        NoConnection = 1, "no connection to phone", Transient;
        AdaptorLinkReserved = 2, "phone-adaptor link reserved", Transient;
        // Usually a mode the modem is in, as for +CMS ERROR: 302.
        OperationNotAllowed = 3, "operation not allowed", ModemState;
        OperationNotSupported = 4, "operation not supported", Permanent;
        PhSimPinRequired = 5, "PH-SIM PIN required", ModemState;
        PhFsimPinRequired = 6, "PH-FSIM PIN required", ModemState;
        PhFsimPukRequired = 7, "PH-FSIM PUK required", ModemState;
        SimNotInserted = 10, "SIM not inserted", ModemState;
        SimPinRequired = 11, "SIM PIN required", ModemState;
        SimPukRequired = 12, "SIM PUK required", ModemState;
        SimFailure = 13, "SIM failure", ModemState;
        SimBusy = 14, "SIM busy", Transient;
        SimWrong = 15, "SIM wrong", ModemState;
        // Retrying burns PIN attempts: a human must supply the right one.
        IncorrectPassword = 16, "incorrect password", ModemState;
        SimPin2Required = 17, "SIM PIN2 required", ModemState;
        SimPuk2Required = 18, "SIM PUK2 required", ModemState;
        MemoryFull = 20, "memory full", ModemState;
        InvalidIndex = 21, "invalid index", Permanent;
        NotFound = 22, "not found", Permanent;
        MemoryFailure = 23, "memory failure", Transient;
        TextTooLong = 24, "text string too long", Permanent;
        InvalidTextCharacters = 25, "invalid characters in text string", Permanent;
        DialStringTooLong = 26, "dial string too long", Permanent;
        InvalidDialCharacters = 27, "invalid characters in dial string", Permanent;
        NoNetworkService = 30, "no network service", ModemState;
        NetworkTimeout = 31, "network timeout", Transient;
        // The network refused this SIM: waiting alone will not help.
        EmergencyCallsOnly = 32, "network not allowed - emergency calls only", ModemState;
        NetPersonalisationPin = 40, "network personalization PIN required", ModemState;
        NetPersonalisationPuk = 41, "network personalization PUK required", ModemState;
        NetSubsetPersonalisationPin = 42, "network subset personalization PIN required", ModemState;
        NetSubsetPersonalisationPuk = 43, "network subset personalization PUK required", ModemState;
        ProviderPersonalisationPin = 44, "service provider personalization PIN required", ModemState;
        ProviderPersonalisationPuk = 45, "service provider personalization PUK required", ModemState;
        CorporatePersonalisationPin = 46, "corporate personalization PIN required", ModemState;
        CorporatePersonalisationPuk = 47, "corporate personalization PUK required", ModemState;
        IncorrectParameters = 50, "incorrect parameters", Permanent;
        Unknown = 100, "unknown", Transient;
        // Packet-domain registration refusals (27.007 §9.2.2).
        IllegalMs = 103, "illegal MS", ModemState;
        IllegalMe = 106, "illegal ME", ModemState;
        GprsNotAllowed = 107, "GPRS services not allowed", ModemState;
        PlmnNotAllowed = 111, "PLMN not allowed", ModemState;
        LocationAreaNotAllowed = 112, "location area not allowed", ModemState;
        RoamingNotAllowed = 113, "roaming not allowed in this location area", ModemState;
        UnspecifiedGprsError = 148, "unspecified GPRS error", Transient;
    }
}

impl CmeError {
    /// How to react to this error; unnamed codes are `Transient` so that a
    /// bounded retry policy decides.
    pub fn class(&self) -> ErrorClass {
        self.known().map_or(ErrorClass::Transient, |(_, c)| c)
    }
}

impl fmt::Display for CmeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(t) => f.write_str(t),
            Self::Other(n) => write!(f, "equipment error {n}"),
            named => f.write_str(named.known().map_or("", |(text, _)| text)),
        }
    }
}

impl std::error::Error for CmeError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_codes_round_trip() {
        for code in (0..=600).chain([65535]) {
            let e = CmsError::from_code(code);
            assert_eq!(e.code(), Some(code));
            assert!(!e.to_string().is_empty());
            assert_eq!(CmsError::parse(&code.to_string()), e);
        }
    }

    #[test]
    fn cme_codes_round_trip() {
        for code in 0..=600 {
            let e = CmeError::from_code(code);
            assert_eq!(e.code(), Some(code));
            assert_eq!(CmeError::parse(&format!(" {code} ")), e);
        }
    }

    #[test]
    fn cms_meanings_and_classes() {
        assert_eq!(CmsError::from_code(1), CmsError::UnassignedNumber);
        assert_eq!(CmsError::from_code(1).class(), ErrorClass::Permanent);
        assert_eq!(CmsError::from_code(42).class(), ErrorClass::Transient);
        assert_eq!(CmsError::from_code(311).class(), ErrorClass::ModemState);
        assert_eq!(CmsError::from_code(322).class(), ErrorClass::ModemState);
        assert_eq!(CmsError::from_code(332).class(), ErrorClass::Transient);
        assert_eq!(CmsError::from_code(304).class(), ErrorClass::Permanent);
        assert_eq!(CmsError::from_code(38).to_string(), "network out of order");
        assert_eq!(CmsError::from_code(330).to_string(), "SMSC address unknown");
        assert_eq!(CmsError::from_code(5).to_string(), "RP-cause 5");
        assert_eq!(
            CmsError::from_code(0xe5).to_string(),
            "application specific TP-failure-cause 229"
        );
        assert_eq!(
            CmsError::from_code(600).to_string(),
            "manufacturer specific error 600"
        );
        assert_eq!(CmsError::from_code(400).to_string(), "reserved error 400");
        assert_eq!(CmsError::from_code(600).class(), ErrorClass::Transient);
    }

    #[test]
    fn verbose_forms() {
        assert_eq!(
            CmeError::parse("SIM PIN required"),
            CmeError::SimPinRequired
        );
        assert_eq!(
            CmeError::parse("sim not inserted"),
            CmeError::SimNotInserted
        );
        assert_eq!(
            CmeError::parse("incorrect password").class(),
            ErrorClass::ModemState
        );
        assert_eq!(CmsError::parse("memory full"), CmsError::MemoryFull);
        let odd = CmeError::parse("Something odd");
        assert_eq!(odd, CmeError::Text("Something odd".into()));
        assert_eq!(odd.code(), None);
        assert_eq!(odd.to_string(), "Something odd");
        assert_eq!(odd.class(), ErrorClass::Transient);
        assert_eq!(CmeError::parse("-1"), CmeError::Text("-1".into()));
        assert_eq!(CmeError::parse("70000"), CmeError::Text("70000".into()));
    }

    #[test]
    fn cme_meanings_and_classes() {
        assert_eq!(CmeError::from_code(10).to_string(), "SIM not inserted");
        assert_eq!(CmeError::from_code(14).class(), ErrorClass::Transient);
        assert_eq!(CmeError::from_code(4).class(), ErrorClass::Permanent);
        assert_eq!(CmeError::from_code(30).class(), ErrorClass::ModemState);
        assert_eq!(CmeError::from_code(31).class(), ErrorClass::Transient);
        assert_eq!(CmeError::from_code(999).to_string(), "equipment error 999");
    }
}
