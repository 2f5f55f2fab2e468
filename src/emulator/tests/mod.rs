//! Tests of the emulator: the pure [`Machine`](super::Machine) byte by
//! byte (`machine`), and the runner over a duplex stream and a real pty
//! (`runtime`).

mod machine;
mod runtime;

use crate::pdu::{self, hex, Address, EncodedPdu, EncodingPolicy, SmsSubmit, SubmitOptions};

/// An SMS-DELIVER TPDU (no SMSC): from +31641600986, "How are you?".
pub(super) const DELIVER: &str = "040B911346610089F60000208062917314080CC8F71D14969741F977FD07";
/// An SMS-STATUS-REPORT TPDU (no SMSC): TP-MR 0x2A, delivered.
pub(super) const REPORT: &str = "062A0D91947116325476F8621152021095406211520220034000";

pub(super) fn bytes(h: &str) -> Vec<u8> {
    hex::decode(h).unwrap()
}

/// A single-part SMS-SUBMIT to `to`, without SMSC address.
pub(super) fn submit(to: &str, text: &str) -> EncodedPdu {
    let plan = pdu::plan_text(text, EncodingPolicy::Auto).unwrap();
    let options = SubmitOptions::new(Address::parse_number(to).unwrap());
    SmsSubmit::from_plan(&plan, &options)[0]
        .encode(None)
        .unwrap()
}
