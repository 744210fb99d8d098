"""Cross-checks paycrypto (via its paycrypto-conform driver) against independent Python
implementations on thousands of seeded random cases:

- TDES DUKPT (IPEK, transaction keys, PIN/MAC/data variants, PIN encryption): pydukpt
- PIN blocks 0/3/4, retail MAC, IBM 3624 offset, Visa PVV, TR-31 B/D, TDES KCV: psec
- AES DUKPT: conformance/paycrypto_aes_dukpt_ref.py (pycryptodome); AES-CMAC: pycryptodome

Run: .venv/bin/python -m pytest conformance/test_paycrypto.py
Set PAYCRYPTO_SEED to replay a failure, PAYCRYPTO_CONFORM_BIN to skip the cargo build.
"""

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import psec
import pydukpt
import pytest
from Crypto.Cipher import AES
from Crypto.Hash import CMAC

sys.path.insert(0, str(Path(__file__).parent))
import paycrypto_aes_dukpt_ref as aes_ref  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("PAYCRYPTO_SEED", "20240611"))
CASES = int(os.environ.get("PAYCRYPTO_CASES", "2000"))
print(f"paycrypto conformance seed={SEED} cases={CASES}", file=sys.stderr)


@pytest.fixture(scope="session")
def driver():
    path = os.environ.get("PAYCRYPTO_CONFORM_BIN")
    if not path:
        subprocess.run(["cargo", "build", "-q", "-p", "paycrypto", "--bin", "paycrypto-conform"],
                       cwd=ROOT, check=True)
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        path = str(target / "debug" / "paycrypto-conform")

    def run(requests):
        text = "".join(json.dumps(r) + "\n" for r in requests)
        out = subprocess.run([path], input=text, capture_output=True, text=True, check=True)
        replies = [json.loads(line) for line in out.stdout.splitlines()]
        assert len(replies) == len(requests)
        return replies

    return run


def rng(name):
    # One stream per test, so adding cases to one test does not shift the others.
    return random.Random(f"{SEED}:{name}")


def rand_bytes(r, n):
    return bytes(r.getrandbits(8) for _ in range(n))


def rand_digits(r, lo, hi):
    return "".join(r.choice("0123456789") for _ in range(r.randint(lo, hi)))


def ok(reply):
    assert reply["ok"], reply
    return reply


def usable_counter(r, bits, ones_max):
    ones = r.randint(1, ones_max)
    c = 0
    for b in r.sample(range(bits), ones):
        c |= 1 << b
    return c


def test_tdes_dukpt_against_pydukpt(driver):
    r = rng("tdes_dukpt")
    cases, reqs = [], []
    for _ in range(CASES):
        bdk = rand_bytes(r, 16)
        ksn = pydukpt.ksn_with_counter(rand_bytes(r, 10), usable_counter(r, 21, 10))
        pin, pan = rand_digits(r, 4, 12), rand_digits(r, 8, 19)
        ipek = pydukpt.derive_ipek(bdk, ksn)
        cases.append((bdk, ksn, ipek, pin, pan))
        reqs.append({"op": "tdes_ipek", "bdk": bdk.hex(), "ksn": ksn.hex()})
        reqs.append({"op": "tdes_key", "ipek": ipek.hex(), "ksn": ksn.hex()})
        reqs.append({"op": "tdes_encrypt_pin", "ipek": ipek.hex(), "ksn": ksn.hex(),
                     "pin": pin, "pan": pan})
    replies = driver(reqs)
    for i, (bdk, ksn, ipek, pin, pan) in enumerate(cases):
        a, k, p = (ok(x) for x in replies[3 * i: 3 * i + 3])
        assert a["ipek"] == ipek.hex().upper()
        key = pydukpt.derive_key(ipek, ksn)
        assert k["key"] == key.hex().upper(), ksn.hex()
        assert k["pin"] == pydukpt.pin_key(key).hex().upper()
        assert k["mac_request"] == pydukpt.mac_request_key(key).hex().upper()
        assert k["mac_response"] == pydukpt.mac_response_key(key).hex().upper()
        assert k["data_request"] == pydukpt.data_request_key(key).hex().upper()
        assert k["data_response"] == pydukpt.data_response_key(key).hex().upper()
        assert p["block"] == pydukpt.encrypt_pin(key, pin, pan).hex().upper()
    # And decryption of pydukpt's blocks.
    dec = driver([{"op": "tdes_decrypt_pin", "ipek": ipek.hex(), "ksn": ksn.hex(), "pan": pan,
                   "block": pydukpt.encrypt_pin(pydukpt.derive_key(ipek, ksn), pin, pan).hex()}
                  for (_, ksn, ipek, pin, pan) in cases[:500]])
    for (_, _, _, pin, _), d in zip(cases, dec):
        assert ok(d)["pin"] == pin


def test_tdes_dukpt_rejects_unusable_counters(driver):
    ipek = "6AC292FAA1315B4D858AB3A3D7D5933A"
    replies = driver([{"op": "tdes_key", "ipek": ipek, "ksn": "FFFF9876543210E00000"},
                      {"op": "tdes_key", "ipek": ipek, "ksn": "FFFF9876543210E007FF"}])
    assert not replies[0]["ok"] and not replies[1]["ok"]


def test_pin_blocks_against_psec(driver):
    r = rng("pin_blocks")
    cases, reqs = [], []
    for _ in range(CASES):
        pin, pan = rand_digits(r, 4, 12), rand_digits(r, 13, 19)
        key = rand_bytes(r, r.choice([16, 24, 32]))
        fill = rand_bytes(r, 64)
        f3 = psec.pinblock.encode_pinblock_iso_3(pin, pan)
        f4 = psec.pinblock.encipher_pinblock_iso_4(key, pin, pan)
        cases.append((pin, pan, key, fill))
        reqs += [
            {"op": "pin_f0_encode", "pin": pin, "pan": pan},
            {"op": "pin_f3_encode", "pin": pin, "pan": pan, "rand": fill.hex()},
            {"op": "pin_f3_decode", "block": f3.hex(), "pan": pan},
            {"op": "pin_f4_encipher", "key": key.hex(), "pin": pin, "pan": pan, "rand": fill.hex()},
            {"op": "pin_f4_decipher", "key": key.hex(), "block": f4.hex(), "pan": pan},
        ]
    replies = driver(reqs)
    for i, (pin, pan, key, fill) in enumerate(cases):
        f0, f3e, f3d, f4e, f4d = (ok(x) for x in replies[5 * i: 5 * i + 5])
        assert f0["block"] == psec.pinblock.encode_pinblock_iso_0(pin, pan).hex().upper()
        assert psec.pinblock.decode_pinblock_iso_0(bytes.fromhex(f0["block"]), pan) == pin
        assert f3e["block"][0] == "3"
        assert psec.pinblock.decode_pinblock_iso_3(bytes.fromhex(f3e["block"]), pan) == pin
        assert f3d["pin"] == pin
        # Format 4 with the same fill bytes, built from psec's field encoders and AES.
        pin_field = bytes.fromhex(f"4{len(pin):X}{pin}".ljust(16, "A")) + fill[:8]
        a = AES.new(key, AES.MODE_ECB).encrypt(pin_field)
        b = psec.tools.xor(a, psec.pinblock.encode_pan_field_iso_4(pan))
        assert f4e["block"] == AES.new(key, AES.MODE_ECB).encrypt(b).hex().upper()
        assert psec.pinblock.decipher_pinblock_iso_4(key, bytes.fromhex(f4e["block"]), pan) == pin
        assert f4d["pin"] == pin


def test_pin_block_short_pans_format4(driver):
    r = rng("short_pans")
    cases = []
    for _ in range(300):
        pin, pan, key = rand_digits(r, 4, 12), rand_digits(r, 1, 11), rand_bytes(r, 16)
        cases.append((pin, pan, key, psec.pinblock.encipher_pinblock_iso_4(key, pin, pan)))
    replies = driver([{"op": "pin_f4_decipher", "key": k.hex(), "block": b.hex(), "pan": pan}
                      for (_, pan, k, b) in cases])
    for (pin, *_), rep in zip(cases, replies):
        assert ok(rep)["pin"] == pin


def test_pin_block_decoders_reject_wrong_pan(driver):
    block = psec.pinblock.encode_pinblock_iso_0("1234", "5544332211009966").hex()
    rep = driver([{"op": "pin_f0_decode", "block": block, "pan": "5544332211009977"}])[0]
    # A different PAN breaks the F fill (or the length nibble): never a silent wrong PIN.
    assert not rep["ok"]


def test_retail_mac_and_cmac(driver):
    r = rng("macs")
    cases, reqs = [], []
    for _ in range(CASES):
        key, data, padding = rand_bytes(r, 16), rand_bytes(r, r.randint(0, 300)), r.choice([1, 2])
        aes_key = rand_bytes(r, r.choice([16, 24, 32]))
        cases.append((key, data, padding, aes_key))
        reqs.append({"op": "retail_mac", "key": key.hex(), "data": data.hex(), "padding": padding})
        reqs.append({"op": "aes_cmac", "key": aes_key.hex(), "data": data.hex()})
    replies = driver(reqs)
    for i, (key, data, padding, aes_key) in enumerate(cases):
        expected = psec.mac.generate_retail_mac(key[:8], key[8:], data, padding)
        assert ok(replies[2 * i])["mac"] == expected.hex().upper()
        cmac = CMAC.new(aes_key, data, ciphermod=AES).hexdigest().upper()
        assert ok(replies[2 * i + 1])["mac"] == cmac


def test_ibm3624_and_visa_pvv(driver):
    r = rng("pin_verify")
    cases, reqs = [], []
    for _ in range(CASES):
        pvk = rand_bytes(r, 16)
        table = "".join(r.choice("0123456789") for _ in range(16))
        pan = rand_digits(r, 12, 19)
        start = r.randint(0, len(pan) - 1)
        length = r.randint(1, min(16, len(pan) - start))
        pad = r.choice("0123456789ABCDEF")
        pin = rand_digits(r, 4, 12)
        pvki = str(r.randint(0, 9))
        pin4 = pin[:4]
        offset = psec.pin.generate_ibm3624_offset(pvk, table, pin, pan, start, length, pad)
        cases.append((pvk, pan, pin, offset, pvki, pin4))
        common = {"pvk": pvk.hex(), "table": table, "pad": pad,
                  "validation": pan[start:start + length], "pin": pin}
        reqs.append({"op": "ibm3624_offset", **common})
        reqs.append({"op": "ibm3624_verify", **common, "offset": offset})
        wrong = pin[:-1] + str((int(pin[-1]) + 1) % 10)
        reqs.append({"op": "ibm3624_verify", **common, "pin": wrong, "offset": offset})
        reqs.append({"op": "visa_pvv", "pvk": pvk.hex(), "pvki": pvki, "pin": pin4, "pan": pan})
    replies = driver(reqs)
    for i, (pvk, pan, pin, offset, pvki, pin4) in enumerate(cases):
        off, good, bad, pvv = (ok(x) for x in replies[4 * i: 4 * i + 4])
        assert off["offset"] == offset
        assert good["verified"] is True and bad["verified"] is False
        assert pvv["pvv"] == psec.pin.generate_visa_pvv(pvk, pvki, pin4, pan)


def rand_header(r, version):
    usage, alg, mode = r.choice([("B0", "T", "X"), ("P0", "T", "E"), ("M3", "T", "C"),
                                 ("K0", "T", "B"), ("D0", "A", "E"), ("P0", "A", "B")])
    if version == "D" and alg == "T":
        alg = r.choice(["T", "A"])
    return f"{version}0000{usage}{alg}{mode}{r.choice(['00', '01', 'c1'])}{r.choice('ENS')}"


def rand_blocks(r):
    blocks = []
    # Distinct ids: psec keeps optional blocks in a dict.
    for ident in r.sample(["KS", "KV", "TS", "DA"], r.randint(0, 3)):
        blocks.append([ident, "".join(r.choice("0123456789ABCDEF") for _ in range(r.randint(0, 40)))])
    return blocks


def test_tr31_against_psec(driver):
    r = rng("tr31")
    cases, reqs = [], []
    for _ in range(CASES // 2):
        version = r.choice("BD")
        kbpk = rand_bytes(r, r.choice([16, 24]) if version == "B" else r.choice([16, 24, 32]))
        kind = "tdes" if version == "B" else "aes"
        header = rand_header(r, version)
        blocks = rand_blocks(r)
        key = rand_bytes(r, r.choice([16, 24]) if header[7] == "T" else r.choice([16, 24, 32]))
        h = psec.tr31.Header(header[0], header[5:7], header[7], header[8], header[9:11], header[11])
        for ident, data in blocks:
            h.blocks[ident] = data
        block = psec.tr31.KeyBlock(kbpk, h).wrap(key)
        tampered = block[:-1] + ("0" if block[-1] != "0" else "1")
        cases.append((kbpk, header, blocks, key))
        common = {"kbpk": kbpk.hex(), "kind": kind}
        reqs.append({"op": "tr31_unwrap", **common, "block": block})
        reqs.append({"op": "tr31_unwrap", **common, "block": tampered})
        reqs.append({"op": "tr31_wrap", **common, "header": header, "blocks": blocks,
                     "key": key.hex(), "rand": rand_bytes(r, 48).hex()})
    replies = driver(reqs)
    for i, (kbpk, header, blocks, key) in enumerate(cases):
        un, bad, wr = replies[3 * i: 3 * i + 3]
        ok(un)
        assert un["key"] == key.hex().upper()
        assert (un["usage"], un["algorithm"], un["mode"]) == (header[5:7], header[7], header[8])
        assert (un["key_version"], un["exportability"]) == (header[9:11], header[11])
        assert un["blocks"] == blocks
        assert not bad["ok"]
        hd, unwrapped = psec.tr31.unwrap(kbpk, ok(wr)["block"])
        assert unwrapped == key
        assert dict(hd.blocks) == dict(blocks)


def test_aes_dukpt_against_reference(driver):
    r = rng("aes_dukpt")
    cases, reqs = [], []
    for _ in range(CASES):
        bdk = rand_bytes(r, r.choice([16, 24, 32]))
        key_id = rand_bytes(r, 8)
        counter = usable_counter(r, 32, 16)
        usage = r.choice(list(aes_ref.USAGE))
        types = [t for t, (_, bits) in aes_ref.KEY_TYPES.items()
                 if t.startswith("TDES") or bits // 8 <= len(bdk)]
        key_type = r.choice(types)
        ik = aes_ref.initial_key(bdk, key_id)
        ksn = (key_id + counter.to_bytes(4, "big")).hex()
        cases.append((bdk, key_id, counter, usage, key_type, ik))
        reqs.append({"op": "aes_ik", "bdk": bdk.hex(), "id": key_id.hex()})
        reqs.append({"op": "aes_key", "ik": ik.hex(), "ksn": ksn})
        reqs.append({"op": "aes_working", "ik": ik.hex(), "ksn": ksn, "usage": usage, "type": key_type})
    replies = driver(reqs)
    for i, (bdk, key_id, counter, usage, key_type, ik) in enumerate(cases):
        a, t, w = (ok(x) for x in replies[3 * i: 3 * i + 3])
        assert a["ik"] == ik.hex().upper()
        txn = aes_ref.transaction_key(ik, key_id, counter)
        assert t["key"] == txn.hex().upper()
        assert w["key"] == aes_ref.working_key(txn, key_id, counter, usage, key_type).hex().upper()


def test_aes_dukpt_rejects_stronger_working_keys_and_bad_counters(driver):
    ik = "1273671EA26AC29AFA4D1084127652A1"
    replies = driver([
        {"op": "aes_working", "ik": ik, "ksn": "123456789012345600000001", "usage": "PIN", "type": "AES256"},
        {"op": "aes_key", "ik": ik, "ksn": "123456789012345600000000"},
        {"op": "aes_key", "ik": ik, "ksn": "12345678901234560001FFFF"},
    ])
    assert [x["ok"] for x in replies] == [False, False, False]


def test_kcv(driver):
    r = rng("kcv")
    keys = [(rand_bytes(r, r.choice([16, 24])), rand_bytes(r, r.choice([16, 24, 32]))) for _ in range(500)]
    reqs = []
    for t, a in keys:
        reqs += [{"op": "kcv", "kind": "tdes", "key": t.hex()}, {"op": "kcv", "kind": "aes", "key": a.hex()}]
    replies = driver(reqs)
    for i, (t, a) in enumerate(keys):
        assert ok(replies[2 * i])["kcv"] == psec.des.generate_kcv(t, 3).hex().upper()
        assert ok(replies[2 * i + 1])["kcv"] == CMAC.new(a, bytes(16), ciphermod=AES).hexdigest().upper()[:6]


def test_malformed_requests_are_errors_not_crashes(driver):
    r = rng("garbage")
    ops = ["tdes_ipek", "tdes_key", "pin_f0_decode", "pin_f4_decipher", "retail_mac",
           "tr31_unwrap", "aes_key", "visa_pvv", "ibm3624_offset", "kcv"]
    reqs = []
    for _ in range(1000):
        req = {"op": r.choice(ops), "kind": r.choice(["tdes", "aes"])}
        for field in ["bdk", "ksn", "ipek", "ik", "key", "kbpk", "pvk", "block", "data"]:
            req[field] = "".join(r.choice("0123456789ABCDEFXZ ") for _ in range(r.randint(0, 70)))
        req["pin"] = rand_digits(r, 0, 14)
        req["pan"] = rand_digits(r, 0, 20)
        req["block"] = r.choice([req["block"], "B0" + "".join(r.choice("0123456789ABCDEF") for _ in range(r.randint(0, 200)))])
        reqs.append(req)
    replies = driver(reqs)
    assert all("ok" in x for x in replies)
