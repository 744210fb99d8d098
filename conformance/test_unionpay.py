"""Conformance of posguard's UnionPay field spec (specs/unionpay.json) with pyiso8583 4.0.1.

Run: .venv/bin/python -m pytest conformance/test_unionpay.py

pyiso8583 can express the spec as it is: BCD numerics (`data_enc` "b" with
`len_count` "nibbles"), left- and right-aligned pads (`left_pad`/`right_pad`), BCD length
prefixes (`len_enc` "bcd") counted in digits or bytes, GBK text (`data_enc` "gbk", any
Python codec) and the BCD MTI. The TPDU and header in front of the MTI are link framing
(docs/unionpay.md), not part of the spec, so they are stripped before decoding.

- the published terminal fixtures (vfwz/iso8583-parser PosMessageTest.java, Apache-2.0,
  read from crates/iso8583/tests/unionpay_spec.rs) decode to the same fields in both;
- random UnionPay messages encoded by posguard (BCD digits, pads, hex, ASCII and GBK
  text with Chinese characters) decode in pyiso8583 to the values posguard was given,
  and pyiso8583 encodes those values to posguard's bytes.

Random documents come from random.Random(seed); set ISO8583_SEED to replay a failure.
"""

import copy
import json
import os
import random
import re

import iso8583
from test_iso8583 import ROOT, SEED, driver, random_value  # noqa: F401 - driver is a fixture

SPEC_PATH = ROOT / "specs/unionpay.json"
FIXTURES_SOURCE = ROOT / "crates/iso8583/tests/unionpay_spec.rs"
DOCS = int(os.environ.get("UNIONPAY_DOCS", "1500"))
# The TPDU (5 bytes) and header (6 bytes) in front of each fixture's message.
PREAMBLE_BYTES = 11
CHINESE = "银联商户交易成功河南省信息技术有限公司"


def load():
    with open(SPEC_PATH) as f:
        return json.load(f)


def fixtures():
    text = FIXTURES_SOURCE.read_text()
    found = re.findall(r'\(\s*"([^"]+)",\s*"([0-9A-F]+)",\s*\)', text)
    assert len(found) == 8, "the eight vfwz fixtures"
    return found


def gbk_text(rng, spec_field):
    """Text of exactly max_len GBK bytes (fixed) or up to max_len (variable)."""
    budget = spec_field["max_len"]
    if spec_field["len_type"] > 0:
        budget = rng.randint(0, min(budget, 60))
    out = []
    while budget > 0:
        if budget >= 2 and rng.random() < 0.5:
            out.append(rng.choice(CHINESE))
            budget -= 2
        else:
            out.append(rng.choice("ABCxyz0189 -.:"))
            budget -= 1
    return "".join(out)


def random_unionpay_doc(rng, spec):
    # A BCD MTI holds decimal digits only.
    doc = {"t": rng.choice(["0100", "0200", "0220", "0320", "0400", "0500", "0800", "0820"])}
    density = rng.choice([0.1, 0.3, 0.6, 0.9])
    for key, field in spec.items():
        if not key.isdigit() or key == "1" or rng.random() >= density:
            continue
        value = gbk_text(rng, field) if field["data_enc"] == "gbk" else random_value(rng, field)
        if value is not None:
            doc[key] = value
    return doc


def expected(doc, spec):
    """The values pyiso8583 decodes: hex of binary fields in upper case."""
    out = {}
    for key, value in doc.items():
        binary = key != "t" and spec[key]["data_enc"] == "b"
        out[key] = value.upper() if binary else value
    return out


def test_fixtures_decode_alike(driver):  # noqa: F811 - the imported fixture
    spec = load()
    bodies = [(name, bytes.fromhex(h)[PREAMBLE_BYTES:]) for name, h in fixtures()]
    answers = driver([{"op": "decode", "spec": str(SPEC_PATH), "hex": b.hex()} for _, b in bodies])
    for (name, body), got in zip(bodies, answers):
        theirs = iso8583.decode(body, spec)[0]
        assert got.get("ok"), f"{name}: {got}"
        assert got["fields"] == theirs, name
    # GBK text reads as Chinese in both (purchase response, field 43).
    purchase = iso8583.decode(bodies[5][1], spec)[0]
    assert purchase["43"].rstrip() == "河南省银隆信息技术有限公司"


def test_posguard_encoded_messages_decode_in_pyiso8583(driver):  # noqa: F811
    spec = load()
    rng = random.Random(f"{SEED}-unionpay")
    docs = [random_unionpay_doc(rng, spec) for _ in range(DOCS)]
    answers = driver([{"op": "encode", "spec": str(SPEC_PATH), "fields": d} for d in docs])
    chinese = 0
    for i, (doc, got) in enumerate(zip(docs, answers)):
        where = f"seed {SEED} doc {i}: {doc!r}"
        assert got.get("ok"), f"posguard failed to encode: {got} ({where})"
        ours = bytes.fromhex(got["hex"])
        decoded = iso8583.decode(ours, spec)[0]
        decoded.pop("p")
        assert decoded == expected(doc, spec), where
        theirs = bytes(iso8583.encode(copy.deepcopy(doc), spec)[0])
        assert theirs == ours, where
        chinese += any(c in CHINESE for v in doc.values() for c in v)
    assert chinese > DOCS // 10, "GBK text with Chinese characters was exercised"
