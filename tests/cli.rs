//! The built `simgate` binary, run as a user would run it.

use std::process::{Command, Output};

fn simgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(args)
        .output()
        .expect("run simgate")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn encode_shows_encoding_parts_and_pdus() {
    let out = stdout(&simgate(&[
        "pdu",
        "encode",
        "--to",
        "+49 176 1234-5678",
        "--report",
        "hi",
    ]));
    assert!(out.contains("to: +4917612345678\n"), "{out}");
    assert!(out.contains("encoding: GSM 7-bit\n"), "{out}");
    assert!(out.contains("parts: 1\n"), "{out}");
    assert!(
        out.contains("  AT+CMGS=16\n  0021000D91947116325476F8000002E834\n"),
        "{out}"
    );

    let long = "Ж".repeat(71);
    let out = stdout(&simgate(&["pdu", "encode", "--to", "+1555", &long]));
    assert!(
        out.contains("encoding: UCS-2\n") && out.contains("parts: 2\n"),
        "{out}"
    );
    assert_eq!(out.matches("AT+CMGS=").count(), 2, "{out}");
}

#[test]
fn decode_shows_the_message() {
    let out = stdout(&simgate(&[
        "pdu",
        "decode",
        "07917283010010F5040BC87238880900F10000993092516195800AE8329BFD4697D9EC37",
    ]));
    for line in [
        "smsc: +27381000015",
        "type: SMS-DELIVER",
        "from: 27838890001",
        "sent: 1999-03-29T15:16:59+02:00",
        "text: \"hellohello\"",
    ] {
        assert!(out.contains(line), "missing {line:?} in {out}");
    }
}

#[test]
fn bad_input_is_a_clear_error() {
    let output = simgate(&["pdu", "encode", "--to", "+49 abc", "x"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid number \"+49 abc\": the number contains 'a'"),
        "{stderr}"
    );

    let output = simgate(&["pdu", "decode", "0004"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot decode the PDU: PDU ends inside TP-OA"),
        "{stderr}"
    );

    let output = simgate(&["pdu", "encode", "--to", "1", "--encoding", "gsm7", "façade"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("'ç' at character 2 is not in the GSM 7-bit alphabet"),
        "{stderr}"
    );
}
