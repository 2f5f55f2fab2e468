//! gammu's multipart decoder as simgate reproduces it (`pdu::smart`), on
//! what the network may send: up to four SMS-DELIVER parts whose 8-bit user
//! data (header included) are the fuzzer's bytes, so port headers, WSP and
//! MMS headers and EMS elements of any shape reach the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use simgate::pdu::{smart, SmsDeliver};

/// An SMS-DELIVER with TP-UDHI set from `+4917012345678`, 8-bit data, a
/// fixed time stamp, and `user_data` as its user data.
fn deliver(user_data: &[u8]) -> Option<SmsDeliver> {
    let mut tpdu = vec![0x44, 0x0D, 0x91, 0x94, 0x71, 0x10, 0x32, 0x54, 0x76, 0xF8, 0x00, 0x04];
    tpdu.extend_from_slice(&[0x62, 0x11, 0x52, 0x12, 0x00, 0x00, 0x40]);
    tpdu.push(u8::try_from(user_data.len()).ok()?);
    tpdu.extend_from_slice(user_data);
    SmsDeliver::decode(&tpdu).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&count, mut rest)) = data.split_first() else {
        return;
    };
    let mut parts = Vec::new();
    for _ in 0..(count % 4 + 1) {
        let Some((&length, tail)) = rest.split_first() else {
            break;
        };
        let length = usize::from(length % 141).min(tail.len());
        if let Some(part) = deliver(&tail[..length]) {
            parts.push(part);
        }
        rest = &tail[length..];
    }
    let parts: Vec<&SmsDeliver> = parts.iter().collect();
    let _ = smart::environment(&smart::decode(&parts));
});
