//! SMS-SUBMIT decoding (messages a modem has stored), raw and behind an
//! SMSC field; what decodes is encoded again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simgate::pdu::{self, SmsSubmit};

fuzz_target!(|data: &[u8]| {
    if let Ok(submit) = SmsSubmit::decode(data) {
        let _ = submit.encode(None);
    }
    if let Ok((_, tpdu)) = pdu::split_smsc(data) {
        let _ = SmsSubmit::decode(tpdu);
    }
});
