//! SMS-STATUS-REPORT decoding, raw and behind an SMSC field; what decodes
//! is encoded again and its status explained.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simgate::pdu::{self, StatusReport};

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = StatusReport::decode(data) {
        let _ = report.status.meaning();
        let _ = report.encode();
    }
    if let Ok((_, tpdu)) = pdu::split_smsc(data) {
        let _ = StatusReport::decode(tpdu);
    }
});
