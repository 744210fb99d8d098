"""End to end over TCP: a DUKPT terminal written in Python sends PIN purchases to
`posguard serve --demo`, as docs/terminal-security.md says a terminal does.

- Messages: pyiso8583 with specs/posguard-ascii.json, 2-byte binary length framing.
- TDES DUKPT: pydukpt (IPEK, KSN counter, PIN and MAC variants, format 0 PIN block);
  the retail MAC (ISO 9797-1 algorithm 3, padding 1) on pycryptodome's DES.
- AES DUKPT: paycrypto_aes_dukpt_ref.py (pycryptodome, from the X9.24-3 layout); format 4
  PIN block and AES-CMAC on pycryptodome.

Against the demo's TDES0001 and AES00001 and its first card (PIN 1234): the right PIN
is approved (00) and the answer's MAC verifies here; a wrong PIN is answered 55; a
message changed after its MAC was computed 63; an unregistered terminal 58; a KSN of
another key id 58. The tests of the Python terminal itself against the published vectors
(shared/docs/VECTORS.md) run without a server.

Run: .venv/bin/python -m pytest conformance/test_terminal_dukpt.py
POSGUARD_BIN names a prebuilt posguard; otherwise `cargo build -p posguard` runs and
target/debug/posguard is used.
"""

import itertools
import json
import os
import pathlib
import queue
import socket
import struct
import subprocess
import sys
import threading
import time

import iso8583
import psec
import pydukpt
import pytest
from Crypto.Cipher import AES, DES
from Crypto.Hash import CMAC

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import paycrypto_aes_dukpt_ref as aes_ref  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "specs/posguard-ascii.json").read_text())
SERVER_START_TIMEOUT_S = 120
ANSWER_TIMEOUT_S = 10

# The demo (crates/host/src/demo.rs, docs/terminal-security.md): well-known test keys.
MERCHANT = "MERCHANT0000001"
CARD_PAN, CARD_EXPIRY = "4761739001010010", "2812"  # debit, approved; PIN 1234
PIN = "1234"
WRONG_PIN = "4321"
AMOUNT = "000000002500"  # 25.00 CNY: far below the card's limits, above card testing's small amounts
TDES_BDK = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
TDES_KEY_ID = bytes.fromhex("FFFF9876543210E00000")
AES_BDK = bytes.fromhex("FEDCBA9876543210F1F1F1F1F1F1F1F1")
AES_KEY_ID = bytes.fromhex("1234567890123456")
# Devices under the same BDKs whose key ids no profile names.
TDES_OTHER_KEY_ID = bytes.fromhex("FFFF9876543211E00000")
AES_OTHER_KEY_ID = bytes.fromhex("1234567800000001")
UNKNOWN_TERMINAL = "NOTERM01"

AES_COUNTER_ONES_MAX = 16
AES_COUNTER_MAX = 0xFFFFFFFF


# ---- MACs and PIN blocks -------------------------------------------------------------


def retail_mac(key: bytes, data: bytes) -> bytes:
    """ISO 9797-1 MAC algorithm 3 (X9.19), padding method 1, 8 bytes."""
    k1, k2 = key[:8], key[8:16]
    if not data or len(data) % 8:
        data += bytes(8 - len(data) % 8)
    h = DES.new(k1, DES.MODE_CBC, iv=bytes(8)).encrypt(data)[-8:]
    return DES.new(k1, DES.MODE_ECB).encrypt(DES.new(k2, DES.MODE_ECB).decrypt(h))


def aes_cmac8(key: bytes, data: bytes) -> bytes:
    """AES-CMAC cut to its first 8 bytes."""
    return CMAC.new(key, data, ciphermod=AES).digest()[:8]


def format4_pin_block(key: bytes, pin: str, pan: str) -> bytes:
    """ISO 9564-1 format 4: C = E(K, E(K, PIN field) XOR PAN field)."""
    pin_field = bytes.fromhex(f"4{len(pin):X}{pin}".ljust(16, "A")) + os.urandom(8)
    m = max(len(pan) - 12, 0)
    pan_field = bytes.fromhex((f"{m}" + pan.rjust(12, "0")).ljust(32, "0"))
    aes = AES.new(key, AES.MODE_ECB)
    first = aes.encrypt(pin_field)
    return aes.encrypt(bytes(a ^ b for a, b in zip(first, pan_field)))


# ---- DUKPT terminals -----------------------------------------------------------------


class TdesTxn:
    pin_field = "52"

    def __init__(self, ksn: bytes, key: bytes):
        self.ksn, self._key = ksn, key

    @property
    def ksn_hex(self) -> str:
        return self.ksn.hex().upper()

    def pin_block(self, pin: str, pan: str) -> str:
        return pydukpt.encrypt_pin(self._key, pin, pan).hex().upper()

    def request_mac(self, data: bytes) -> bytes:
        return retail_mac(pydukpt.mac_request_key(self._key), data)

    def response_mac(self, data: bytes) -> bytes:
        return retail_mac(pydukpt.mac_response_key(self._key), data)


class TdesTerminal:
    """A TDES DUKPT device: pydukpt's next_ksn skips counters with more than ten 1 bits."""

    def __init__(self, bdk: bytes, key_id: bytes):
        self._ipek = pydukpt.derive_ipek(bdk, key_id)
        self._ksn = pydukpt.ksn_with_counter(key_id, 0)

    def next(self) -> TdesTxn:
        self._ksn = pydukpt.next_ksn(self._ksn)
        return TdesTxn(self._ksn, pydukpt.derive_key(self._ipek, self._ksn))


class AesTxn:
    pin_field = "110"

    def __init__(self, key_id: bytes, counter: int, txn_key: bytes):
        self.key_id, self.counter = key_id, counter

        def working(usage):
            return aes_ref.working_key(txn_key, key_id, counter, usage, "AES128")

        self._pin, self._gen, self._ver = working("PIN"), working("MAC_GEN"), working("MAC_VER")

    @property
    def ksn_hex(self) -> str:
        return (self.key_id + self.counter.to_bytes(4, "big")).hex().upper()

    def pin_block(self, pin: str, pan: str) -> str:
        return format4_pin_block(self._pin, pin, pan).hex().upper()

    def request_mac(self, data: bytes) -> bytes:
        return aes_cmac8(self._gen, data)

    def response_mac(self, data: bytes) -> bytes:
        return aes_cmac8(self._ver, data)


class AesTerminal:
    """An AES-128 DUKPT device: 32-bit counter, at most sixteen 1 bits, never wraps."""

    def __init__(self, bdk: bytes, key_id: bytes):
        self._ik = aes_ref.initial_key(bdk, key_id)
        self._key_id = key_id
        self._counter = 0

    def next(self) -> AesTxn:
        counter = self._counter + 1
        while bin(counter).count("1") > AES_COUNTER_ONES_MAX:
            counter += counter & -counter
        assert counter <= AES_COUNTER_MAX, "AES DUKPT counter exhausted"
        self._counter = counter
        key = aes_ref.transaction_key(self._ik, self._key_id, counter)
        return AesTxn(self._key_id, counter, key)


# ---- messages --------------------------------------------------------------------------

_stans = itertools.count(int(time.time() * 1000) % 900_000 + 1)


def purchase(txn, terminal_id: str, pin: str | None = PIN, mac: bool = True,
             ksn: bool = True, mti: str = "0200", stan: str | None = None,
             f7: str | None = None) -> bytes:
    """A signed purchase: field 62 KSN, the PIN block, the MAC as the last field (64, or
    128 when the message has fields above 64, like the AES PIN block in 110)."""
    doc = {
        "t": mti,
        "2": CARD_PAN,
        "3": "000000",
        "4": AMOUNT,
        "7": f7 or time.strftime("%m%d%H%M%S", time.gmtime()),
        "11": stan or f"{next(_stans) % 1_000_000:06d}",
        "14": CARD_EXPIRY,
        "22": "011",
        "41": terminal_id,
        "42": MERCHANT,
        "49": "156",
    }
    if ksn:
        doc["62"] = txn.ksn_hex
    if pin is not None:
        doc[txn.pin_field] = txn.pin_block(pin, CARD_PAN)
    if not mac:
        return bytes(iso8583.encode(doc, SPEC)[0])
    secondary = any(int(k) > 64 for k in doc if k.isdigit())
    doc["128" if secondary else "64"] = "0" * 16
    raw = bytes(iso8583.encode(doc, SPEC)[0])
    # The MAC covers everything from the MTI (no header in this spec) to the MAC data.
    return raw[:-16] + txn.request_mac(raw[:-16]).hex().upper().encode()


def tamper_amount(raw: bytes) -> bytes:
    """The message with its amount changed after the MAC was computed."""
    changed = AMOUNT[:-1] + str((int(AMOUNT[-1]) + 1) % 10)
    assert raw.count(AMOUNT.encode()) == 1
    return raw.replace(AMOUNT.encode(), changed.encode())


def response_mac_ok(txn, body: bytes, doc: dict) -> bool:
    """The answer's MAC (128 if present, else 64; the last field) under the request's
    KSN, response direction."""
    field = "128" if "128" in doc else "64"
    if field not in doc or not body.endswith(doc[field].encode()):
        return False
    return txn.response_mac(body[:-16]).hex().upper() == doc[field]


class Link:
    """One terminal connection: 2-byte big-endian length, then the message."""

    def __init__(self, addr):
        self.sock = socket.create_connection(addr, timeout=ANSWER_TIMEOUT_S)

    def exchange(self, body: bytes) -> tuple[bytes, dict]:
        self.sock.sendall(struct.pack(">H", len(body)) + body)
        (length,) = struct.unpack(">H", self._read(2))
        answer = self._read(length)
        return answer, iso8583.decode(answer, SPEC)[0]

    def _read(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("posguard closed the connection")
            out += chunk
        return out

    def close(self):
        self.sock.close()


# ---- the Python terminal against the published vectors (no server) -------------------


def test_retail_mac_and_cmac_reproduce_published_vectors():
    key = bytes.fromhex("7CA110454A1A6E570131D9619DC1376E")
    assert retail_mac(key, b"Hello World !!!!").hex().upper() == "F09B856213BAB83B"
    cmac_key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert aes_cmac8(cmac_key, b"").hex() == "bb1d6929e9593728"


def test_tdes_terminal_reproduces_x9_24_vectors():
    t = TdesTerminal(TDES_BDK, TDES_KEY_ID)
    data = b"4012345678909D987"
    expected = [("1B9C1845EB993A7A", "9CCC78173FC4FB64", "20364223C1FF00FA"),
                ("10A01C8D02C69107", "F608A9BCA6FFC311", "D1FCA6BEF05D24D2")]
    for counter, (block, request, response) in enumerate(expected, start=1):
        txn = t.next()
        assert txn.ksn_hex == f"FFFF9876543210E0000{counter}"
        assert txn.pin_block("1234", "4012345678909") == block
        assert txn.request_mac(data).hex().upper() == request
        assert txn.response_mac(data).hex().upper() == response


def test_tdes_terminal_skips_counters_with_eleven_one_bits():
    t = TdesTerminal(TDES_BDK, TDES_KEY_ID)
    t._ksn = pydukpt.ksn_with_counter(TDES_KEY_ID, 0x7FE)
    assert pydukpt.ksn_counter(t.next().ksn) == 0x800


def test_aes_terminal_reproduces_x9_24_3_vectors():
    t = AesTerminal(AES_BDK, AES_KEY_ID)
    txn = t.next()
    assert txn.ksn_hex == "123456789012345600000001"
    data = b"4012345678909D987"
    assert txn.request_mac(data).hex().upper() == "A2EB5C1C35809E58"
    assert txn.response_mac(data).hex().upper() == "DD4E1895FD9BF53D"
    block = bytes.fromhex(txn.pin_block("1234", "4012345678909"))
    pin_key = bytes.fromhex("AF8CB133A78F8DC2D1359F18527593FB")
    assert psec.pinblock.decipher_pinblock_iso_4(pin_key, block, "4012345678909") == "1234"
    assert t.next().request_mac(data).hex().upper() == "4D104704C53491A6"
    t._counter = 0xFFFEFFFF
    assert t.next().counter == 0xFFFF0000


def test_messages_put_the_mac_last():
    for terminal, field in [(TdesTerminal(TDES_BDK, TDES_KEY_ID), "64"),
                            (AesTerminal(AES_BDK, AES_KEY_ID), "128")]:
        txn = terminal.next()
        raw = purchase(txn, "TDES0001")
        doc = iso8583.decode(raw, SPEC)[0]
        assert list(k for k in doc if k.isdigit())[-1] == field
        assert txn.request_mac(raw[:-16]).hex().upper().encode() == raw[-16:]
        assert tamper_amount(raw) != raw


# ---- end to end against posguard serve --demo ------------------------------------------


def posguard_binary() -> str:
    path = os.environ.get("POSGUARD_BIN")
    if path:
        return path
    subprocess.run(["cargo", "build", "-q", "-p", "posguard"], cwd=ROOT, check=True)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return str(target / "debug" / "posguard")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    binary = posguard_binary()
    data = tmp_path_factory.mktemp("posguard-dukpt")
    link = ("127.0.0.1", free_port())
    http = f"127.0.0.1:{free_port()}"
    log = open(data / "serve.err", "w")
    proc = subprocess.Popen(
        [binary, "serve", "--demo", "--data-dir", str(data / "data"),
         "--link-listen", f"{link[0]}:{link[1]}", "--http-listen", http],
        stdout=subprocess.PIPE, stderr=log, text=True,
        env={**os.environ, "RUST_LOG": "warn"})
    lines = queue.Queue()

    def pump():  # reads stdout to the end, so the server never blocks on a full pipe
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while True:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.1))
            if line is None:
                pytest.fail(f"posguard serve exited ({proc.wait()}); see {data / 'serve.err'}")
            if line.startswith("posguard serving:"):
                break
        while True:  # the link accepts connections
            try:
                socket.create_connection(link, timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the terminal link never opened"
                time.sleep(0.1)
        yield link
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


# One device per scheme for the whole module, so every message has a new KSN counter.
DEVICES = {
    "tdes": (TdesTerminal(TDES_BDK, TDES_KEY_ID), "TDES0001",
             TdesTerminal(TDES_BDK, TDES_OTHER_KEY_ID)),
    "aes128": (AesTerminal(AES_BDK, AES_KEY_ID), "AES00001",
               AesTerminal(AES_BDK, AES_OTHER_KEY_ID)),
}
SCHEMES = list(DEVICES)


@pytest.fixture
def link(server):
    conn = Link(server)
    yield conn
    conn.close()


@pytest.mark.parametrize("scheme", SCHEMES)
def test_right_pin_is_approved_and_the_answer_mac_verifies(link, scheme):
    device, terminal_id, _ = DEVICES[scheme]
    txn = device.next()
    body, doc = link.exchange(purchase(txn, terminal_id))
    assert doc.get("39") == "00", doc
    assert response_mac_ok(txn, body, doc), doc


@pytest.mark.parametrize("scheme", SCHEMES)
def test_wrong_pin_is_declined_55(link, scheme):
    device, terminal_id, _ = DEVICES[scheme]
    txn = device.next()
    body, doc = link.exchange(purchase(txn, terminal_id, pin=WRONG_PIN))
    assert doc.get("39") == "55", doc
    # A wrong PIN is a business outcome of a request whose KSN and MAC were good: the
    # answer carries a MAC under that KSN.
    assert response_mac_ok(txn, body, doc), doc


@pytest.mark.parametrize("scheme", SCHEMES)
def test_message_changed_after_its_mac_is_declined_63(link, scheme):
    device, terminal_id, _ = DEVICES[scheme]
    raw = purchase(device.next(), terminal_id)
    _, doc = link.exchange(tamper_amount(raw))
    assert doc.get("39") == "63", doc


@pytest.mark.parametrize("scheme", SCHEMES)
def test_missing_mac_is_declined_63(link, scheme):
    device, terminal_id, _ = DEVICES[scheme]
    _, doc = link.exchange(purchase(device.next(), terminal_id, mac=False))
    assert doc.get("39") == "63", doc


@pytest.mark.parametrize("scheme", SCHEMES)
def test_unregistered_terminal_is_declined_58(link, scheme):
    device, _, _ = DEVICES[scheme]
    _, doc = link.exchange(purchase(device.next(), UNKNOWN_TERMINAL))
    assert doc.get("39") == "58", doc


@pytest.mark.parametrize("scheme", SCHEMES)
def test_ksn_of_another_key_id_is_declined_58(link, scheme):
    _, terminal_id, other_device = DEVICES[scheme]
    _, doc = link.exchange(purchase(other_device.next(), terminal_id))
    assert doc.get("39") == "58", doc


@pytest.mark.parametrize("scheme", SCHEMES)
def test_missing_ksn_is_declined_58(link, scheme):
    device, terminal_id, _ = DEVICES[scheme]
    _, doc = link.exchange(purchase(device.next(), terminal_id, pin=None, ksn=False))
    assert doc.get("39") == "58", doc


@pytest.mark.parametrize("scheme", SCHEMES)
def test_repeat_with_the_original_ksn_gets_the_original_answer(link, scheme):
    """How posguard's own terminals repeat (MTI 0201): same KSN, PIN block and key."""
    device, terminal_id, _ = DEVICES[scheme]
    txn = device.next()
    stan, f7 = f"{next(_stans) % 1_000_000:06d}", time.strftime("%m%d%H%M%S", time.gmtime())
    first_body, first = link.exchange(purchase(txn, terminal_id, stan=stan, f7=f7))
    again_body, again = link.exchange(purchase(txn, terminal_id, mti="0201", stan=stan, f7=f7))
    assert first.get("39") == "00", first
    assert (again.get("39"), again.get("37")) == (first.get("39"), first.get("37")), again
    assert response_mac_ok(txn, again_body, again), again
