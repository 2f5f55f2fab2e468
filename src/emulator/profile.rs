//! Vendor profiles: what each emulated modem says about itself (the
//! `AT+CGMI`/`AT+CGMM`/`AT+CGMR` strings, IMEI, USB by-id name), which
//! message storages and PIN-counter commands it has, its radio access
//! technology, its chatter (periodic noise, boot lines, lines after the SIM
//! is unlocked) and its typical latency on real hardware.

use std::time::Duration;

/// A modem model the emulator imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// A plain 27.007/27.005 modem with no vendor quirks.
    Generic,
    /// Huawei E3372 USB stick (stick firmware): `^` noise, `^CPIN`,
    /// `COMMAND NOT SUPPORT` for unknown commands, storage indexes from 0.
    HuaweiE3372,
    /// Quectel EC25 LTE module: `+QIND` noise, `+QPINC`, status reports
    /// stored in `SM` and announced as `+CDSI: "SM",<n>`.
    QuectelEc25,
    /// SIMCom SIM800L 2G module on a UART: GSM only (AcT 0), no `+CEREG`,
    /// `+SPIC`, slow answers, `Call Ready`/`SMS Ready` chatter, indexes from 1.
    Sim800l,
    /// Sierra Wireless MC7455 LTE card: plain, `+CPINR`.
    SierraMc7455,
    /// SIMCom SIM7600 LTE module: `+CPINR` and `+SPIC`, `+CGMR:`-prefixed
    /// revision, `SMS DONE`/`PB DONE` chatter.
    Sim7600,
}

/// Which vendor command reports the remaining PIN/PUK attempts (besides
/// the standard `AT+CPINR` where [`Profile::supports_cpinr`] says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PinCounterCommand {
    /// Huawei `AT^CPIN?`.
    HuaweiCpin,
    /// Quectel `AT+QPINC?` / `AT+QPINC="SC"`.
    Qpinc,
    /// SIMCom `AT+SPIC`.
    Spic,
}

/// Radio access technology `<AcT>` of 27.007 §7.3: 0 GSM.
pub const ACT_GSM: u8 = 0;
/// `<AcT>` 7: E-UTRAN (LTE).
pub const ACT_EUTRAN: u8 = 7;

/// Appends the Luhn check digit to 14 IMEI digits.
fn with_luhn(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                x / 10 + x % 10
            } else {
                d
            }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

impl Profile {
    /// Every profile, for tests that cover them all.
    pub const ALL: [Profile; 6] = [
        Profile::Generic,
        Profile::HuaweiE3372,
        Profile::QuectelEc25,
        Profile::Sim800l,
        Profile::SierraMc7455,
        Profile::Sim7600,
    ];

    /// The answer to `AT+CGMI`.
    pub fn manufacturer(self) -> &'static str {
        match self {
            Self::Generic => "simgate",
            Self::HuaweiE3372 => "huawei",
            Self::QuectelEc25 => "Quectel",
            Self::Sim800l => "SIMCOM_Ltd",
            Self::SierraMc7455 => "Sierra Wireless, Incorporated",
            Self::Sim7600 => "SIMCOM INCORPORATED",
        }
    }

    /// The answer to `AT+CGMM`.
    pub fn model(self) -> &'static str {
        match self {
            Self::Generic => "Emulated Modem",
            Self::HuaweiE3372 => "E3372",
            Self::QuectelEc25 => "EC25",
            Self::Sim800l => "SIMCOM_SIM800L",
            Self::SierraMc7455 => "MC7455",
            Self::Sim7600 => "SIMCOM_SIM7600E-H",
        }
    }

    /// The firmware revision reported by `AT+CGMR` (without any prefix).
    pub fn revision(self) -> &'static str {
        match self {
            Self::Generic => "1.0.0",
            Self::HuaweiE3372 => "22.200.15.00.00",
            Self::QuectelEc25 => "EC25EFAR06A06M4G",
            Self::Sim800l => "Revision:1418B05SIM800L24",
            Self::SierraMc7455 => "SWI9X30C_02.24.05.06",
            Self::Sim7600 => "LE20B04SIM7600M22",
        }
    }

    /// The full `AT+CGMR` information line (SIM7600 prefixes `+CGMR: `).
    pub fn revision_line(self) -> String {
        match self {
            Self::Sim7600 => format!("+CGMR: {}", self.revision()),
            _ => self.revision().to_owned(),
        }
    }

    /// `<Vendor>_<Model>` as udev spells it in `/dev/serial/by-id/usb-...`.
    pub fn usb_name(self) -> &'static str {
        match self {
            Self::Generic => "simgate_Emulated_Modem",
            Self::HuaweiE3372 => "HUAWEI_MOBILE_E3372",
            Self::QuectelEc25 => "Quectel_EC25",
            Self::Sim800l => "SIMCOM_SIM800L",
            Self::SierraMc7455 => "Sierra_Wireless__Incorporated_MC7455",
            Self::Sim7600 => "SimTech__Incorporated_SIM7600",
        }
    }

    /// A default IMEI (15 digits, valid Luhn check digit).
    pub fn default_imei(self) -> String {
        with_luhn(match self {
            Self::Generic => "35000000123456",
            Self::HuaweiE3372 => "86185203123456",
            Self::QuectelEc25 => "86637303123456",
            Self::Sim800l => "86569503123456",
            Self::SierraMc7455 => "35907206123456",
            Self::Sim7600 => "86247704123456",
        })
    }

    /// Message storages, in the order `AT+CPMS=?` lists them.
    pub fn memories(self) -> &'static [&'static str] {
        match self {
            Self::Generic | Self::Sim7600 => &["SM", "ME", "SR"],
            Self::HuaweiE3372 | Self::QuectelEc25 | Self::Sim800l | Self::SierraMc7455 => {
                &["SM", "ME"]
            }
        }
    }

    /// Where a status report is stored with `+CNMI` `<ds>`=2: `SR` when the
    /// modem has it, else `SM` (as Quectel does).
    pub fn report_memory(self) -> &'static str {
        if self.memories().contains(&"SR") {
            "SR"
        } else {
            "SM"
        }
    }

    /// The first storage index: 0 on Huawei, Quectel and SIM7600, 1 on the
    /// others.
    pub fn first_index(self) -> u32 {
        match self {
            Self::HuaweiE3372 | Self::QuectelEc25 | Self::Sim7600 => 0,
            Self::Generic | Self::Sim800l | Self::SierraMc7455 => 1,
        }
    }

    /// `<AcT>` reported in `+CREG`/`+COPS`: GSM for the SIM800L, LTE otherwise.
    pub fn access_technology(self) -> u8 {
        match self {
            Self::Sim800l => ACT_GSM,
            _ => ACT_EUTRAN,
        }
    }

    /// True when the modem knows `AT+CEREG` (LTE modems).
    pub fn supports_eps(self) -> bool {
        self != Self::Sim800l
    }

    /// True when the modem answers the standard `AT+CPINR`.
    pub fn supports_cpinr(self) -> bool {
        matches!(self, Self::Generic | Self::SierraMc7455 | Self::Sim7600)
    }

    /// True when the vendor PIN-counter command `cmd` is supported.
    pub fn supports_counter(self, cmd: PinCounterCommand) -> bool {
        matches!(
            (self, cmd),
            (Self::HuaweiE3372, PinCounterCommand::HuaweiCpin)
                | (Self::QuectelEc25, PinCounterCommand::Qpinc)
                | (Self::Sim800l | Self::Sim7600, PinCounterCommand::Spic)
        )
    }

    /// The `+CNMI` setting after power-up or `ATZ`: `<mode>,<mt>,<bm>,<ds>,<bfr>`.
    pub fn default_cnmi(self) -> [u8; 5] {
        match self {
            Self::QuectelEc25 | Self::Sim800l | Self::Sim7600 => [2, 1, 0, 0, 0],
            Self::Generic | Self::HuaweiE3372 | Self::SierraMc7455 => [0, 0, 0, 0, 0],
        }
    }

    /// The final result for a command the modem does not know.
    pub fn unknown_command_reply(self) -> &'static str {
        match self {
            Self::HuaweiE3372 => "COMMAND NOT SUPPORT",
            _ => "ERROR",
        }
    }

    /// Periodic chatter lines (the emulator cycles through them), given
    /// the current `<rssi>`.
    pub fn noise_lines(self, rssi: u8) -> Vec<String> {
        match self {
            Self::Generic | Self::SierraMc7455 => vec!["+CTZV: +04".into()],
            Self::HuaweiE3372 => vec![
                format!("^RSSI:{rssi}"),
                "^MODE:5,4".into(),
                "^DSFLOWRPT:0000003C,00000000,00000000,0000000000000000,0000000000000000,0000000000000000,0000000000000000".into(),
                "^BOOT:27534523,0,0,0,75".into(),
            ],
            Self::QuectelEc25 => vec![format!("+QIND: \"csq\",{rssi},99"), "+QIND: SMS DONE".into()],
            Self::Sim800l => vec![
                "*PSUTTZ: 2024,5,1,12,0,0,\"+8\",1".into(),
                "DST: 1".into(),
                "Call Ready".into(),
            ],
            Self::Sim7600 => vec!["SMS DONE".into(), "PB DONE".into()],
        }
    }

    /// Lines printed when the modem powers up (after a replug), given the
    /// `+CPIN` code (`READY`, `SIM PIN`, ...) and whether the SIM is ready.
    pub fn boot_lines(self, cpin: &str, ready: bool) -> Vec<String> {
        let cpin = format!("+CPIN: {cpin}");
        let mut lines: Vec<String> = match self {
            Self::Generic | Self::SierraMc7455 => vec![],
            Self::HuaweiE3372 => vec!["^SYSSTART".into()],
            Self::QuectelEc25 => vec!["RDY".into(), "+CFUN: 1".into(), cpin, "+QUSIM: 1".into()],
            Self::Sim800l => vec!["RDY".into(), "+CFUN: 1".into(), cpin],
            Self::Sim7600 => vec!["RDY".into(), cpin],
        };
        if ready {
            lines.extend(self.sim_ready_lines().iter().map(|l| (*l).to_owned()));
        }
        lines
    }

    /// Lines printed once the SIM is unlocked and SMS is ready.
    pub fn sim_ready_lines(self) -> &'static [&'static str] {
        match self {
            Self::QuectelEc25 => &["+QIND: SMS DONE"],
            Self::Sim800l => &["Call Ready", "SMS Ready"],
            Self::Sim7600 => &["SMS DONE", "PB DONE"],
            Self::Generic | Self::HuaweiE3372 | Self::SierraMc7455 => &[],
        }
    }

    /// The unsolicited line a full message storage triggers, if the vendor
    /// has one (Huawei `^SMMEMFULL`).
    pub fn memory_full_line(self, memory: &str) -> Option<String> {
        (self == Self::HuaweiE3372).then(|| format!("^SMMEMFULL: \"{memory}\""))
    }

    /// With realistic latency: how long any command takes to answer.
    pub fn command_latency(self) -> Duration {
        match self {
            Self::Sim800l => Duration::from_millis(200),
            _ => Duration::from_millis(20),
        }
    }

    /// With realistic latency: how long `AT+CMGS` takes from the PDU to
    /// `+CMGS: <mr>` (the network round trip).
    pub fn send_latency(self) -> Duration {
        match self {
            Self::Sim800l => Duration::from_secs(5),
            Self::HuaweiE3372 => Duration::from_secs(3),
            _ => Duration::from_secs(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imeis_are_valid() {
        for p in Profile::ALL {
            let imei = p.default_imei();
            assert_eq!(imei.len(), 15);
            assert_eq!(with_luhn(&imei[..14]), imei);
        }
        // A known-valid IMEI check digit (Luhn over 14 digits).
        assert_eq!(with_luhn("49015420323751"), "490154203237518");
    }
}
