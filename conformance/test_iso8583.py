"""Conformance of posguard's ISO 8583 codec (crates/iso8583) with pyiso8583 4.0.1.

Run: .venv/bin/python -m pytest conformance/test_iso8583.py

posguard is driven through the `iso8583-conform` binary (JSON lines on stdin/stdout),
built here with cargo unless ISO8583_CONFORM_BIN names a prebuilt one. Random documents
come from random.Random(seed); set ISO8583_SEED to replay a failure.
"""

import copy
import json
import os
import pathlib
import random
import subprocess

import iso8583
import pytest
from iso8583.specs import default_ascii

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("ISO8583_SEED", "8583"))
DOCS_PER_SPEC = int(os.environ.get("ISO8583_DOCS", "2500"))
MUTATIONS_PER_SPEC = 1500

SPEC_FILES = {
    "posguard-ascii": ROOT / "specs/posguard-ascii.json",
    "posguard-binary": ROOT / "specs/posguard-binary.json",
    # Binary MTI and bitmaps, header, BCD/binary/cp500/latin-1 data and lengths, tertiary bitmap.
    "ebcdic-bcd": ROOT / "crates/iso8583/tests/specs/ebcdic-bcd.json",
    # Everything EBCDIC: hex-text bitmaps, MTI, data and lengths; variable header.
    "cp500-text": ROOT / "crates/iso8583/tests/specs/cp500-text.json",
}


@pytest.fixture(scope="session")
def driver():
    binary = os.environ.get("ISO8583_CONFORM_BIN")
    if not binary:
        subprocess.run(
            ["cargo", "build", "-q", "-p", "iso8583", "--bin", "iso8583-conform"],
            cwd=ROOT,
            check=True,
        )
        target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        binary = str(target / "debug" / "iso8583-conform")

    def run(requests):
        lines = "".join(json.dumps(r) + "\n" for r in requests)
        done = subprocess.run([binary], input=lines, capture_output=True, text=True, check=True)
        # split on "\n" only: str.splitlines() also splits on U+0085 etc. inside values
        answers = [json.loads(line) for line in done.stdout.split("\n") if line]
        assert len(answers) == len(requests), done.stderr
        return answers

    return run


def load(name):
    with open(SPEC_FILES[name]) as f:
        return json.load(f)


def strip_posguard(spec):
    return {k: {p: v for p, v in f.items() if not p.startswith("posguard_")} for k, f in spec.items()}


def test_shipped_specs_are_pyiso8583_default_ascii():
    # posguard_* properties are posguard's documented extension; pyiso8583 ignores them.
    assert strip_posguard(load("posguard-ascii")) == default_ascii
    binary = copy.deepcopy(default_ascii)
    for key in ("p", "1"):
        binary[key].update(data_enc="b", max_len=8)
    assert strip_posguard(load("posguard-binary")) == binary


def random_text(rng, spec_field, count):
    kind = spec_field.get("posguard_type")
    if kind == "n":
        return "".join(rng.choice("0123456789") for _ in range(count))
    if kind == "an":
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(rng.choice(alphabet) for _ in range(count))
    top = 128 if spec_field["data_enc"] == "ascii" else 256
    return "".join(chr(rng.randrange(top)) for _ in range(count))


def random_value(rng, spec_field):
    """A valid python value for the field, or None when none exists (odd fixed, no pad)."""
    nibbles = spec_field.get("len_count") == "nibbles"
    pad = spec_field.get("left_pad", "")[:1] or spec_field.get("right_pad", "")[:1]
    max_len = spec_field["max_len"]
    if spec_field["len_type"] == 0:
        length = max_len
    else:
        length = rng.choice([0, max_len, rng.randint(0, max_len), rng.randint(0, min(max_len, 24))])
    if spec_field["data_enc"] == "b":
        if nibbles and length % 2 and not pad:
            if spec_field["len_type"] == 0:
                return None
            length -= 1
        digits = length if nibbles else 2 * length
        numeric = spec_field.get("posguard_type") == "n"
        alphabet = "0123456789" if numeric else "0123456789ABCDEFabcdef"
        return "".join(rng.choice(alphabet) for _ in range(digits))
    if nibbles:
        if length % 2:
            if spec_field["len_type"] == 0:
                return None
            length -= 1
        length //= 2
    return random_text(rng, spec_field, length)


def random_doc(rng, spec):
    doc = {}
    if spec["h"]["max_len"] > 0:
        doc["h"] = random_value(rng, spec["h"])
    if spec["t"]["data_enc"] == "b":
        doc["t"] = "".join(rng.choice("0123456789ABCDEF") for _ in range(4))
    else:
        doc["t"] = "".join(rng.choice("0123456789") for _ in range(4))
    numbers = [int(k) for k in spec if k.isdigit() and int(k) not in (1, 65)]
    density = rng.choice([0.02, 0.1, 0.3, 0.6])
    if "1" not in spec:
        numbers = [n for n in numbers if n < 65]
    for n in numbers:
        if rng.random() < density:
            value = random_value(rng, spec[str(n)])
            if value is not None:
                doc[str(n)] = value
    return doc


@pytest.mark.parametrize("name", SPEC_FILES)
def test_random_documents_match_pyiso8583(driver, name):
    spec = load(name)
    path = str(SPEC_FILES[name])
    rng = random.Random(f"{SEED}-{name}")
    docs = [random_doc(rng, spec) for _ in range(DOCS_PER_SPEC)]
    encoded = [bytes(iso8583.encode(copy.deepcopy(d), spec)[0]) for d in docs]
    decoded = [iso8583.decode(s, spec)[0] for s in encoded]
    requests = [{"op": "decode", "spec": path, "hex": s.hex()} for s in encoded]
    requests += [{"op": "encode", "spec": path, "fields": d} for d in docs]
    answers = driver(requests)
    for i, doc in enumerate(docs):
        where = f"spec {name} seed {SEED} doc {i}: {doc!r}"
        got = answers[i]
        assert got.get("ok"), f"posguard failed to decode {encoded[i].hex()}: {got} ({where})"
        assert got["fields"] == decoded[i], where
        got = answers[len(docs) + i]
        assert got.get("ok"), f"posguard failed to encode: {got} ({where})"
        assert got["hex"] == encoded[i].hex().upper(), where


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(4)
        if op == 0 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 1 and data:
            del data[rng.randrange(len(data)) :]
        elif op == 2:
            data.insert(rng.randint(0, len(data)), rng.randrange(256))
        elif data:
            i = rng.randrange(len(data))
            data[i] = rng.choice(b"0123456789ABCDEF")
    return bytes(data)


@pytest.mark.parametrize("name", SPEC_FILES)
def test_posguard_accepts_only_what_pyiso8583_accepts(driver, name):
    # posguard is deliberately stricter (length digits, bitmap hex, posguard_type), so the
    # property is one-way: whatever posguard decodes, pyiso8583 decodes identically.
    spec = load(name)
    path = str(SPEC_FILES[name])
    rng = random.Random(f"{SEED}-mutate-{name}")
    samples = []
    for _ in range(MUTATIONS_PER_SPEC):
        doc = random_doc(rng, spec)
        samples.append(mutate(rng, bytes(iso8583.encode(doc, spec)[0])))
    answers = driver([{"op": "decode", "spec": path, "hex": s.hex()} for s in samples])
    accepted = 0
    for i, (sample, got) in enumerate(zip(samples, answers)):
        if not got["ok"]:
            continue
        accepted += 1
        where = f"spec {name} seed {SEED} sample {i}: {sample.hex()}"
        try:
            expected = iso8583.decode(sample, spec)[0]
        except Exception as e:  # noqa: BLE001 - any pyiso8583 failure is a mismatch
            pytest.fail(f"posguard accepted what pyiso8583 rejects ({e}): {where}")
        assert got["fields"] == expected, where
    assert accepted > 0, "mutations never produced a valid message; the test proves nothing"


def test_errors_name_the_field(driver):
    path = str(SPEC_FILES["posguard-ascii"])
    answers = driver(
        [
            {"op": "decode", "spec": path, "hex": b"02002000000000000000".hex()},
            {"op": "encode", "spec": path, "fields": {"t": "0200", "3": "12345"}},
        ]
    )
    assert answers[0]["ok"] is False and answers[0]["field"] == "3"
    assert answers[1]["ok"] is False and answers[1]["field"] == "3"
