#!/usr/bin/env python3
"""Times pyiso8583 4.0.1 on the reference message of crates/iso8583/benches/codec.rs.

Run: .venv/bin/python scripts/bench-pyiso8583.py   (compare: cargo bench -p iso8583)
Prints the best of several timeit repeats, in ns per operation.
"""

import copy
import json
import pathlib
import timeit

import iso8583

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "specs/posguard-ascii.json").read_text())
DOC = {
    "t": "0200",
    "2": "4761739001010010",
    "3": "000000",
    "4": "000000012500",
    "7": "1121230101",
    "11": "000123",
    "12": "230101",
    "13": "1121",
    "14": "2812",
    "22": "051",
    "25": "00",
    "35": "4761739001010010=28122011143844400000",
    "37": "000000000123",
    "41": "TERM0001",
    "42": "MERCHANT0000001",
    "43": "ACME STORE".ljust(40),
    "49": "156",
}


def best_ns(stmt, number):
    runs = timeit.repeat(stmt, number=number, repeat=7)
    return min(runs) / number * 1e9


def main():
    encoded = bytes(iso8583.encode(copy.deepcopy(DOC), SPEC)[0])
    assert len(encoded) == 208, len(encoded)
    decode_ns = best_ns(lambda: iso8583.decode(encoded, SPEC), 2000)
    # encode() mutates its input (adds "p"), so each run gets a fresh shallow copy,
    # whose cost is timed separately and subtracted.
    copy_ns = best_ns(lambda: dict(DOC), 2000)
    encode_ns = best_ns(lambda: iso8583.encode(dict(DOC), SPEC), 2000) - copy_ns
    print(f"pyiso8583 {iso8583.__version__}: reference message, {len(encoded)} bytes")
    print(f"decode (all fields)  {decode_ns:10.0f} ns/op")
    print(f"encode               {encode_ns:10.0f} ns/op")


if __name__ == "__main__":
    main()
