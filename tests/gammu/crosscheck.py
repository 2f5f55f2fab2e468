#!/usr/bin/python3
"""Cross-check simgate's PDU codec against the real gammu library (python3-gammu).

Two sub-commands, driven by tests/gammu_crosscheck.rs:

  generate SEED COUNT   make COUNT random messages, encode each with gammu
                        (EncodeSMS + EncodePDU), print one line per part:
                        "part <msg> <seq> <total> <number> <class> <unicode> <pdu hex>
                         <part text utf-8 hex> <whole text utf-8 hex>"
  decode FILE           decode each PDU hex line of FILE ("<id> <pdu hex>") with
                        gammu.DecodePDU, print "decoded <id> <number> <class>
                        <coding> <udh-part> <udh-total> <text utf-16 units hex>"

All text travels as hex so that no character is mangled on the way.
"""
import random
import sys

import gammu

GSM_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
             "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM_EXTENSION = "\x0c^{}\\[~]|€"
OTHER = "çáêúÀÈ`¢ЖщЯ漢字ع😀🎉👍🏽\U0001F4A9"


def random_text(rng):
    """Text that is GSM-only about half the time, sometimes long enough for 3+ parts."""
    length = rng.choice([rng.randint(0, 80), rng.randint(60, 200), rng.randint(150, 480)])
    pools = [GSM_BASIC * 3 + GSM_EXTENSION]
    if rng.random() < 0.5:
        pools.append(OTHER)
    pool = "".join(pools)
    return "".join(rng.choice(pool) for _ in range(length))


def random_number(rng):
    if rng.random() < 0.6:
        return "+" + str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(rng.randint(6, 14)))
    return "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 12)))


def is_gsm(text):
    return all(ch in GSM_BASIC or ch in GSM_EXTENSION for ch in text)


def generate(seed, count):
    rng = random.Random(seed)
    for index in range(count):
        text = random_text(rng)
        number = random_number(rng)
        klass = rng.choice([-1, -1, -1, 0, 1, 2, 3])
        unicode = not is_gsm(text)
        entry = "ConcatenatedTextLong16bit" if rng.random() < 0.3 else "ConcatenatedTextLong"
        parts = gammu.EncodeSMS({"Class": klass, "Unicode": unicode,
                                 "Entries": [{"ID": entry, "Buffer": text}]})
        for seq, sms in enumerate(parts, 1):
            sms["Number"] = number
            sms["SMSC"] = {"Location": 0, "Number": "+491710760000", "Format": "Text", "Validity": "NA"}
            pdu = gammu.EncodePDU(sms)
            print("part", index, seq, len(parts), number, klass, int(unicode), pdu.hex(),
                  sms["Text"].encode("utf-8").hex() or "-", text.encode("utf-8").hex() or "-")


def decode(path):
    with open(path, encoding="ascii") as lines:
        for line in lines:
            ident, pdu = line.split()
            sms = gammu.DecodePDU(bytes.fromhex(pdu), SMSC=True)
            udh = sms["UDH"]
            units = sms["Text"].encode("utf-16-be", "surrogatepass").hex() or "-"
            print("decoded", ident, sms["Number"] or "-", sms["Class"], sms["Coding"],
                  udh.get("PartNumber", -1), udh.get("AllParts", -1), units)


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(int(sys.argv[2]), int(sys.argv[3]))
    elif sys.argv[1] == "decode":
        decode(sys.argv[2])
    else:
        sys.exit("usage: crosscheck.py generate SEED COUNT | decode FILE")
