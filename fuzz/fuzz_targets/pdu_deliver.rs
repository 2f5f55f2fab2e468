//! SMS-DELIVER decoding, as the network's untrusted bytes reach it: raw
//! TPDU, TPDU behind an SMSC field, and the same bytes as hex text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simgate::pdu::{self, Incoming, SmsDeliver};

fuzz_target!(|data: &[u8]| {
    if let Ok(deliver) = SmsDeliver::decode(data) {
        // Whatever decodes must encode again without panicking.
        let _ = deliver.encode();
    }
    let _ = Incoming::decode(data);
    if let Ok((_, tpdu)) = pdu::split_smsc(data) {
        let _ = SmsDeliver::decode(tpdu);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = pdu::hex::decode(text) {
            let _ = Incoming::decode(&bytes);
        }
    }
});
