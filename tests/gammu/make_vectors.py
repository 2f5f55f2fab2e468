#!/usr/bin/python3
"""Prints the gammu-made rows of tests/pdu_vectors.rs (run once, output pasted).

Each row holds a PDU that gammu 1.42 (python3-gammu) encoded and the values it
was asked to encode: the expectations come from gammu's input, never from
simgate's decoder.
"""
import datetime

import gammu

SMSC = "+491710760000"
STAMP = datetime.datetime(2026, 11, 25, 20, 1, 59)


def parts(text, unicode, klass=-1, entry="ConcatenatedTextLong"):
    return gammu.EncodeSMS({"Class": klass, "Unicode": unicode, "Entries": [{"ID": entry, "Buffer": text}]})


def rust_str(text):
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20:
            out.append("\\u{%x}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def row(kind, layout, number, text, unicode, klass=-1, entry="ConcatenatedTextLong", validity="NA", note=""):
    msgs = parts(text, unicode, klass, entry)
    for sms in msgs:
        sms["Number"] = number
        sms["SMSC"] = {"Location": 0, "Number": SMSC, "Format": "Text", "Validity": validity}
        sms["DateTime"] = STAMP
        sms["SMSCDateTime"] = STAMP
        sms["Type"] = "Deliver" if layout == "Deliver" else "Submit"
        pdu = gammu.EncodePDU(sms, layout).hex().upper()
        udh = sms["UDH"]
        concat = "None"
        if udh["Type"] != "NoUDH":
            ref = udh["ID16bit"] if udh["ID16bit"] >= 0 else udh["ID8bit"]
            concat = "Some((%d, %d, %d))" % (ref, udh["AllParts"], udh["PartNumber"])
        label = note or text[:20]
        print("    // gammu 1.42 EncodePDU(%s): %s" % (layout, label.replace("\n", " ").replace("\r", " ")))
        print("    V { kind: %s, hex: \"%s\", number: %s, text: %s, class: %d, concat: %s, %s..V::GAMMU }," % (
            kind, pdu, rust_str(number), rust_str(sms["Text"]), klass, concat,
            "ucs2: true, " if unicode else ""))


D, S = "Kind::Deliver", "Kind::Submit"
row(D, "Deliver", "+4917612345678", "Your code: 12345", False)
row(D, "Deliver", "Telegram", "Telegram code 48213. Do not give this code to anyone.", False)
row(D, "Deliver", "WhatsApp", "Your WhatsApp code: 123-456", False)
row(D, "Deliver", "BANK-Info", "TAN: 998877 für Überweisung", False)
row(D, "Deliver", "Google", "G-123456 is your Google verification code.", False)
row(D, "Deliver", "0301234567", "national sender", False)
row(D, "Deliver", "12345", "short code sender", False)
row(D, "Deliver", "+4917612345678", "€ [1] {2} ~3~ |4| \\5\\ ^6^", False, note="every extension character")
row(D, "Deliver", "+4917612345678", "@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", False, note="default alphabet letters")
row(D, "Deliver", "+4917612345678", "line one\nline two\rthree", False, note="LF and CR")
row(D, "Deliver", "+79161234567", "Привет, как дела?", True)
row(D, "Deliver", "+8613800138000", "你好，世界", True)
row(D, "Deliver", "+4917612345678", "Party 🎉 tonight 😀👍🏽", True, note="emoji, astral plane")
row(D, "Deliver", "+4917612345678", "façade", True, note="ç forces UCS-2")
for klass in range(4):
    row(D, "Deliver", "+4917612345678", "class %d message" % klass, False, klass=klass)
row(D, "Deliver", "+4917612345678", "flash in UCS-2 Ж", True, klass=0)
row(D, "Deliver", "+4917612345678", "Long message. " * 15, False, note="2 parts, 8-bit reference")
row(D, "Deliver", "+4917612345678", "Long message. " * 25, False, entry="ConcatenatedTextLong16bit", note="3 parts, 16-bit reference")
row(D, "Deliver", "+4917612345678", "Длинное сообщение. " * 5, True, note="2 UCS-2 parts")
row(D, "Deliver", "Telegram", "x" * 152 + "€" + "y" * 20, False, note="extension character at the part boundary")
row(D, "Deliver", "+4917612345678", "Ж" * 66 + "😀" + "z" * 5, True, note="emoji at the part boundary")
row(S, "Submit", "+4917612345678", "Hello from simgate", False)
row(S, "Submit", "017612345678", "national destination", False)
row(S, "Submit", "1234", "short code", False)
row(S, "Submit", "+4917612345678", "validity one hour", False, validity="1H")
row(S, "Submit", "+4917612345678", "validity one day", False, validity="1D")
row(S, "Submit", "+4917612345678", "validity one week", False, validity="1W")
row(S, "Submit", "+4917612345678", "validity maximum", False, validity="Max")
row(S, "Submit", "+4917612345678", "Ünïcödé ✓", True)
row(S, "Submit", "+4917612345678", "flash", False, klass=0)
row(S, "Submit", "+4917612345678", "a" * 160, False, note="160 septets, one part")
row(S, "Submit", "+4917612345678", "a" * 161, False, note="161 septets, two parts")
row(S, "Submit", "+4917612345678", "Ж" * 70, True, note="70 units, one part")
row(S, "Submit", "+4917612345678", "Ж" * 71, True, note="71 units, two parts")
row(S, "Submit", "+4917612345678", "b" * 306, False, note="306 septets, two parts")
row(S, "Submit", "+4917612345678", "b" * 307, False, note="307 septets, three parts")
row(S, "Submit", "+4917612345678", "Ж" * 134, True, note="134 units, two parts")
row(S, "Submit", "+4917612345678", "Ж" * 135, True, note="135 units, three parts")
row(S, "Submit", "+4917612345678", "a" * 159 + "€", False, note="extension character makes 161 septets")
