//! Property tests of the PDU codec: plan → encode → decode gives back the
//! message, for random GSM text, random Unicode (astral plane included),
//! random numbers and random incoming messages; and no input makes a
//! decoder panic.

use proptest::prelude::*;
use simgate::pdu::{
    self, gsm7, plan_text, plan_text_wide, Address, Alphabet, Body, DataCodingScheme,
    EncodingPolicy, Incoming, MessageClass, SmsDeliver, SmsSubmit, SubmitOptions, Timestamp,
    UserData,
};

const GSM_CHARS: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà\u{c}^{}\\[~]|€";

fn gsm_text() -> impl Strategy<Value = String> {
    let chars: Vec<char> = GSM_CHARS.chars().collect();
    prop::collection::vec(prop::sample::select(chars), 0..700).prop_map(|v| v.into_iter().collect())
}

/// Any Unicode scalar, with astral characters and GSM characters mixed in often.
fn unicode_text() -> impl Strategy<Value = String> {
    let ch = prop_oneof![
        any::<char>(),
        (0x1F300u32..0x1FAFF).prop_map(|c| char::from_u32(c).unwrap_or('😀')),
        prop::sample::select(GSM_CHARS.chars().collect::<Vec<_>>()),
    ];
    prop::collection::vec(ch, 0..300).prop_map(|v| v.into_iter().collect())
}

fn number() -> impl Strategy<Value = String> {
    ("[+]?", "[0-9*#]{1,20}").prop_map(|(plus, digits)| format!("{plus}{digits}"))
}

fn class() -> impl Strategy<Value = Option<MessageClass>> {
    prop::option::of((0u8..4).prop_map(MessageClass::from_number))
}

/// Plans, encodes and decodes every part; returns the decoded parts' text.
fn round_trip(
    text: &str,
    policy: EncodingPolicy,
    wide: bool,
    to: &str,
    class: Option<MessageClass>,
) -> (Alphabet, String) {
    let plan = if wide {
        plan_text_wide(text, policy)
    } else {
        plan_text(text, policy)
    }
    .unwrap();
    let mut options = SubmitOptions::new(Address::parse_number(to).unwrap());
    options.class = class;
    options.concat_reference = 0xBEEF;
    let submits = SmsSubmit::from_plan(&plan, &options);
    assert_eq!(submits.len(), plan.part_count());
    let mut joined = String::new();
    for (index, submit) in submits.iter().enumerate() {
        let encoded = submit.encode(None).unwrap();
        assert!(
            encoded.tpdu_length() <= 164,
            "a TPDU of {} octets",
            encoded.tpdu_length()
        );
        let decoded = SmsSubmit::decode(encoded.tpdu()).unwrap();
        assert_eq!(&decoded, submit);
        assert_eq!(
            decoded.destination.to_display(),
            Address::parse_number(to).unwrap().to_display()
        );
        assert_eq!(decoded.dcs.class, class);
        let concat = decoded.user_data.header.as_ref().and_then(|h| h.concat());
        if plan.part_count() > 1 {
            let concat = concat.unwrap();
            assert_eq!(
                (concat.sequence as usize, concat.total as usize),
                (index + 1, submits.len())
            );
            assert_eq!(concat.reference, if wide { 0xBEEF } else { 0xEF });
        } else {
            assert!(concat.is_none());
        }
        joined.push_str(decoded.user_data.body.text().unwrap());
    }
    (plan.alphabet, joined)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn gsm_text_round_trips_in_7_bit(text in gsm_text(), to in number(), class in class(), wide: bool) {
        let (alphabet, joined) = round_trip(&text, EncodingPolicy::Auto, wide, &to, class);
        prop_assert_eq!(alphabet, Alphabet::Gsm7);
        prop_assert_eq!(joined, text);
    }

    #[test]
    fn any_unicode_round_trips(text in unicode_text(), to in number(), class in class(), wide: bool) {
        let (alphabet, joined) = round_trip(&text, EncodingPolicy::Auto, wide, &to, class);
        prop_assert_eq!(alphabet == Alphabet::Gsm7, gsm7::is_representable(&text));
        prop_assert_eq!(joined, text);
    }

    #[test]
    fn forced_ucs2_round_trips(text in gsm_text()) {
        let (alphabet, joined) = round_trip(&text, EncodingPolicy::Ucs2, false, "+4912345", None);
        prop_assert_eq!(alphabet, Alphabet::Ucs2);
        prop_assert_eq!(joined, text);
    }

    /// Parts are as full as they can be: every part but the last would
    /// overflow with the next character.
    #[test]
    fn parts_are_filled(text in unicode_text()) {
        let plan = plan_text(&text, EncodingPolicy::Auto).unwrap();
        if plan.part_count() > 1 {
            let limit = if plan.alphabet == Alphabet::Gsm7 { 153 } else { 67 };
            let size = |s: &str| match plan.alphabet {
                Alphabet::Gsm7 => gsm7::to_septets(s).unwrap().len(),
                _ => s.encode_utf16().count(),
            };
            for pair in plan.parts.windows(2) {
                let (this, next) = (pair[0].text().unwrap(), pair[1].text().unwrap());
                let first_next = next.chars().next().unwrap().to_string();
                prop_assert!(size(this) <= limit);
                prop_assert!(size(this) + size(&first_next) > limit);
            }
        }
    }

    #[test]
    fn numbers_round_trip(to in number()) {
        let address = Address::parse_number(&to).unwrap();
        let plan = plan_text("x", EncodingPolicy::Auto).unwrap();
        let encoded = SmsSubmit::from_plan(&plan, &SubmitOptions::new(address.clone()))[0].encode(Some(&address)).unwrap();
        let (smsc, tpdu) = pdu::split_smsc(encoded.bytes()).unwrap();
        prop_assert_eq!(smsc.as_ref().map(Address::to_display), Some(to.clone()));
        prop_assert_eq!(SmsSubmit::decode(tpdu).unwrap().destination.to_display(), to);
    }

    #[test]
    fn deliver_round_trips(
        text in unicode_text(),
        sender in prop_oneof![number(), "[A-Za-z0-9 ]{1,11}"],
        quarters in -79i8..=79,
        // Days every month has: the decoder reads a 30 February as no date
        // (src/pdu/scts.rs tests the month lengths).
        (year, month, day, hour, minute, second) in (2000u16..2090, 1u8..=12, 1u8..=28, 0u8..24, 0u8..60, 0u8..60),
        class in class(),
    ) {
        let originator = if sender.chars().all(|c| c.is_ascii_digit() || c == '+' || c == '*' || c == '#') {
            Address::parse_number(&sender).unwrap()
        } else {
            Address::alphanumeric(&sender).unwrap()
        };
        let plan = plan_text(&text, EncodingPolicy::Auto).unwrap();
        let body = plan.parts[0].clone();
        let deliver = SmsDeliver {
            more_messages: false,
            loop_prevention: false,
            reply_path: false,
            status_report_indication: false,
            originator,
            protocol_identifier: 0,
            dcs: DataCodingScheme::decode(DataCodingScheme::encode(plan.alphabet, class)),
            timestamp: Timestamp { year, month, day, hour, minute, second, tz_quarters: quarters }.into(),
            user_data: UserData { header: None, body, split: Default::default() },
        };
        let bytes = deliver.encode().unwrap();
        match Incoming::decode(&bytes).unwrap() {
            Incoming::Deliver(decoded) => prop_assert_eq!(decoded, deliver),
            other => prop_assert!(false, "decoded as {:?}", other),
        }
    }

    #[test]
    fn binary_round_trips(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let plan = pdu::plan_binary(&data).unwrap();
        let submits = SmsSubmit::from_plan(&plan, &SubmitOptions::new(Address::parse_number("+1").unwrap()));
        let mut joined = Vec::new();
        for submit in &submits {
            let decoded = SmsSubmit::decode(submit.encode(None).unwrap().tpdu()).unwrap();
            match decoded.user_data.body {
                Body::Binary(part) => joined.extend(part),
                other => prop_assert!(false, "body {:?}", other),
            }
        }
        prop_assert_eq!(joined, data);
    }

    /// Arbitrary octets never make a decoder panic.
    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Incoming::decode(&bytes);
        let _ = SmsSubmit::decode(&bytes);
        let _ = pdu::StatusReport::decode(&bytes);
        if let Ok((_, tpdu)) = pdu::split_smsc(&bytes) {
            let _ = Incoming::decode(tpdu);
        }
    }
}
