#!/usr/bin/python3
"""Smart-message vectors for tests/smart_messages.rs, and gammu's decoding of them.

Sub-commands:

  vectors            print the test vectors, one per line:
                     "<name> <pdu hex> [<pdu hex> ...]" (SMSC in front, parts in order).
                     The PDUs are built here by hand from the specifications
                     (3GPP TS 23.040, WAP-230 WSP, OMA MMS encapsulation).
  decode FILE        run gammu 1.42 (python3-gammu) on each vector of FILE:
                     gammu.DecodePDU on every part, then gammu.DecodeSMS (the
                     multipart decoder gammu-smsd uses for DECODED_*), and print
                     "<name> none" or "<name> <entry> [<entry> ...]" where an entry
                     is "<ID>:<field>,<field>..." with every text field as UTF-8 hex
                     ("-" for a null buffer, "" hex for empty): text entries
                     "<ID>:<buffer>", MMS "MMSIndicatorLong:<sender>,<title>,<address>,<size>",
                     others "<ID>:". gammu drops entries whose ID is 0 here (python-gammu
                     does), gammu-smsd counts them in DECODED_PARTS. "<name> undecodable"
                     when python-gammu cannot convert a field that is not UTF-8.

Regenerate the fixtures with:
  /usr/bin/python3 tests/gammu/smart.py vectors > tests/fixtures/smart/vectors.txt
  /usr/bin/python3 tests/gammu/smart.py decode tests/fixtures/smart/vectors.txt > tests/fixtures/smart/gammu.txt
"""
import sys

SCTS = bytes.fromhex("52101241000080")  # 2025-01-21 14:00:00 +05:00 (quarters 08 -> +02:00)


def address(number):
    digits, toa = (number[1:], 0x91) if number.startswith("+") else (number, 0x81)
    padded = digits + ("F" if len(digits) % 2 else "")
    swapped = "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))
    return bytes([len(digits), toa]) + bytes.fromhex(swapped)


def deliver(body, udh=b"", dcs=0x04, sender="+420777000001", septets=None):
    """SMS-DELIVER with an empty SMSC in front. `body` is octets (8-bit, UCS-2) or,
    with `septets`, already packed 7-bit user data (UDL = septets)."""
    first = 0x04 | (0x40 if udh else 0)
    header = bytes([len(udh)]) + udh if udh else b""
    ud = header + body
    udl = septets if septets is not None else len(ud)
    assert len(ud) <= 140, "user data too long"
    return bytes([0, first]) + address(sender) + bytes([0, dcs]) + SCTS + bytes([udl]) + ud


def gsm7(text, udh=b""):
    """(packed user data after the header, UDL in septets) for ASCII-only text."""
    header_len = len(udh) + 1 if udh else 0
    fill = (7 - (header_len * 8) % 7) % 7
    bits = 0
    nbits = fill
    out = bytearray()
    acc = 0
    for ch in text:
        acc |= (ord(ch) & 0x7F) << nbits
        nbits += 7
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8
    if nbits > 0:
        out.append(acc & 0xFF)
    septets = (header_len * 8 + fill) // 7 + len(text)
    return bytes(out), septets


def text7(text, udh=b"", **kw):
    body, septets = gsm7(text, udh)
    return deliver(body, udh, dcs=0x00, septets=septets, **kw)


def ucs2(text, udh=b"", **kw):
    return deliver(text.encode("utf-16-be"), udh, dcs=0x08, **kw)


PORT_MMS = bytes.fromhex("05040b8423f0")


def mms_long(ref, total, seq):
    return bytes.fromhex("05040b8423f00003") + bytes([ref, total, seq])


def wsp_push(mms, tid=0x01, content_type=b"application/vnd.wap.mms-message\x00", extra=b"\xaf\x84"):
    headers = content_type + extra
    return bytes([tid, 0x06, len(headers)]) + headers + mms


def from_field(addr, charset=None):
    value = b"\x80"
    text = addr.encode() + b"\x00"
    if charset is None:
        value += text
    else:
        value += bytes([len(text) + 1, charset]) + text
    return b"\x89" + bytes([len(value)]) + value


def notification(tid=b"T1", sender="+420777777777/TYPE=PLMN", subject=b"\x96Hi\x00",
                 size=b"\x8e\x02\x18\x1e", url=b"http://mmsc.example/m?id=AB12", version=0x92,
                 mtype=0x82, klass=b"\x8a\x80", expiry=b"\x88\x05\x81\x03\x03\xf4\x80", sender_charset=None):
    out = bytes([0x8C, mtype]) + b"\x98" + tid + b"\x00" + bytes([0x8D, version])
    if sender is not None:
        out += from_field(sender, sender_charset)
    out += subject + klass + size + expiry + b"\x83" + url + b"\x00"
    return out


VCARD = b"BEGIN:VCARD\r\nVERSION:2.1\r\nN:Novak;Jan\r\nTEL;CELL:+420777000002\r\nEND:VCARD\r\n"
VCAL = (b"BEGIN:VCALENDAR\r\nVERSION:1.0\r\nBEGIN:VEVENT\r\nSUMMARY:Lunch!\r\n"
        b"DTSTART:20250121T120000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def vectors():
    # Odd-length 8-bit data in gammu's linked-text decoder reads an octet
    # past its buffer: keep those even.
    assert len(VCARD) % 2 == 0 and len(VCAL) % 2 == 0
    v = []
    push = wsp_push(notification())
    v.append(("mms-single", [deliver(push, PORT_MMS)]))
    long_push = wsp_push(notification(
        tid=b"m5x0a1b2c3d4e5f6", subject=b"\x96Fotka z dovolene\x00",
        size=b"\x8e\x03\x01\x86\xa0",
        url=b"http://mms.operator.example/retrieve?transaction=m5x0a1b2c3d4e5f6&part=1"))
    v.append(("mms-two-parts", [deliver(long_push[:110], mms_long(0x2A, 2, 1)),
                                deliver(long_push[110:], mms_long(0x2A, 2, 2))]))
    v.append(("mms-parts-out-of-order", [deliver(long_push[110:], mms_long(0x2A, 2, 2)),
                                         deliver(long_push[:110], mms_long(0x2A, 2, 1))]))
    v.append(("mms-concat-then-port", [deliver(push, bytes.fromhex("0003aa0101") + PORT_MMS)]))
    v.append(("mms-two-parts-16bit-ref", [
        deliver(long_push[:100], bytes.fromhex("08041234020") + b"" if False else bytes.fromhex("080412340201") + PORT_MMS),
        deliver(long_push[100:], bytes.fromhex("080412340202") + PORT_MMS)]))
    v.append(("mms-sender-charset", [deliver(wsp_push(notification(sender_charset=0xEA)), PORT_MMS)]))
    v.append(("mms-insert-address-token", [deliver(wsp_push(
        notification(sender=None) [:0] + bytes([0x8C, 0x82, 0x98]) + b"X1\x00\x8d\x90\x89\x01\x81\x96S\x00\x83http://a/b\x00"), PORT_MMS)]))
    v.append(("mms-no-subject-3-octet-size", [deliver(wsp_push(notification(
        subject=b"", size=b"\x8e\x03\x01\x00\x00", klass=b"\x8a\x82")), PORT_MMS)]))
    v.append(("mms-subject-utf8-length-10", [deliver(wsp_push(notification(
        subject=b"\x96\x0a\xea" + "Dobrý d".encode() + b"\x00")), PORT_MMS)]))
    v.append(("mms-subject-utf8-other-length", [deliver(wsp_push(notification(
        subject=b"\x96\x08\xeaAhoj!!\x00")), PORT_MMS)]))
    v.append(("mms-date-and-priority", [deliver(wsp_push(
        bytes([0x8C, 0x82]) + b"\x98tid-7\x00\x8d\x91\x85\x04\x67\x8f\x5a\x00\x8f\x81"
        + from_field("+15551234567/TYPE=PLMN") + b"\x96Report\x00\x8e\x01\x7f\x83http://10.0.0.1/mms/7\x00"), PORT_MMS)]))
    v.append(("mms-size-twice", [deliver(wsp_push(notification(size=b"\x8e\x01\x02\x8e\x01\x03")), PORT_MMS)]))
    v.append(("mms-m-send-req", [deliver(wsp_push(notification(mtype=0x80)), PORT_MMS)]))
    v.append(("mms-version-1.3", [deliver(wsp_push(notification(version=0x93)), PORT_MMS)]))
    v.append(("wsp-not-push", [deliver(bytes([0x01, 0x07]) + push[2:], PORT_MMS)]))
    v.append(("mms-long-header-then-plain", [deliver(long_push[:110], mms_long(0x2B, 2, 1)),
                                             deliver(long_push[110:], b"")]))
    v.append(("vcard-port-9204", [deliver(VCARD, bytes.fromhex("050423f40000"))]))
    v.append(("vcalendar-port-9205", [deliver(VCAL, bytes.fromhex("050423f50000"))]))
    v.append(("vcard-nokia-long", [deliver(VCARD, bytes.fromhex("050423f4000000030c0101"))]))
    v.append(("vcalendar-nokia-long-two-parts", [deliver(VCAL[:60], bytes.fromhex("050400e4000000030d0201")),
                                                 deliver(VCAL[60:], bytes.fromhex("050400e4000000030d0202"))]))
    v.append(("port-16bit-other", [deliver(b"hello", bytes.fromhex("050412340000"))]))
    v.append(("port-8bit", [deliver(b"hello", bytes.fromhex("04021020"))]))
    v.append(("ems-bold", [text7("Hello world", bytes.fromhex("0a03000510"))]))
    v.append(("ems-two-styles", [text7("Hello world", bytes.fromhex("0a030005100a03060520"))]))
    v.append(("ems-style-after-text", [text7("Hello world", bytes.fromhex("0a03060520"))]))
    v.append(("ems-sound", [text7("Hello world", bytes.fromhex("0b020503"))]))
    v.append(("ems-animation", [text7("Hi there", bytes.fromhex("0d020001"))]))
    v.append(("ems-unknown-element", [text7("Ahoj", bytes.fromhex("240100"))]))
    v.append(("concat-7bit", [text7("Part one, ", bytes.fromhex("0003330201")),
                              text7("part two.", bytes.fromhex("0003330202"))]))
    v.append(("concat-ucs2-16bit-ref", [ucs2("Žluťoučký ", bytes.fromhex("080401000201")),
                                        ucs2("kůň 😀", bytes.fromhex("080401000202"))]))
    v.append(("concat-8bit-utf8", [deliver("čau ".encode(), bytes.fromhex("0003340201")),
                                   deliver("světe".encode(), bytes.fromhex("0003340202"))]))
    v.append(("concat-8bit-invalid", [deliver(b"ab\xffcd", bytes.fromhex("0003350201")),
                                      deliver(b"ef", bytes.fromhex("0003350202"))]))
    v.append(("concat-then-plain", [text7("First ", bytes.fromhex("0003360201")), text7("second")]))
    v.append(("caller-logo", [deliver(bytes.fromhex("0032f4480048000e01") + bytes(72), bytes.fromhex("050415830000"))]))
    v.append(("operator-logo", [deliver(bytes.fromhex("0032f4100048000e01") + bytes(72), bytes.fromhex("050415820000"))]))
    v.append(("ringtone-not-modelled-garbage", [deliver(b"\x02\x4a\x3a", bytes.fromhex("050415810000"))]))
    v.append(("voice-indication", [text7("Voicemail", bytes.fromhex("01020001"))]))
    v.append(("plain", [text7("Just text")]))
    v.append(("plain-8bit", [deliver(b"\x00\x01\x02")]))
    return v


def decode(path):
    import gammu

    def hexs(text):
        if text is None:
            return "-"
        if isinstance(text, bytes):
            return text.hex()
        return text.encode("utf-8", "surrogatepass").hex()

    with open(path, encoding="ascii") as lines:
        for line in lines:
            name, *pdus = line.split()
            parts = [gammu.DecodePDU(bytes.fromhex(pdu), SMSC=True) for pdu in pdus]
            try:
                info = gammu.DecodeSMS(parts)
            except UnicodeDecodeError:
                # python-gammu cannot hand over a field that is not UTF-8.
                print(name, "undecodable")
                continue
            if info is None:
                print(name, "none")
                continue
            out = []
            for entry in info["Entries"]:
                ident = entry["ID"]
                if entry["MMSIndicator"] is not None:
                    mms = entry["MMSIndicator"]
                    out.append("%s:%s,%s,%s,%d" % (ident, hexs(mms["Sender"]), hexs(mms["Title"]),
                                                   hexs(mms["Address"]), mms["MessageSize"]))
                elif "Text" in ident or "VCARD" in ident or "VCALENDAR" in ident:
                    out.append("%s:%s" % (ident, hexs(entry["Buffer"])))
                else:
                    out.append("%s:" % ident)
            print(name, *out)


if __name__ == "__main__":
    if sys.argv[1:] == ["vectors"]:
        for name, pdus in vectors():
            print(name, *(pdu.hex().upper() for pdu in pdus))
    elif len(sys.argv) == 3 and sys.argv[1] == "decode":
        decode(sys.argv[2])
    else:
        sys.exit("usage: smart.py vectors | decode FILE")
