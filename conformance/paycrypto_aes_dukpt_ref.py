"""Independent AES DUKPT (ANSI X9.24-3:2017) reference on pycryptodome, written from
the derivation-data layout in shared/docs/VECTORS.md, to cross-check paycrypto."""

from Crypto.Cipher import AES

USAGE = {"KEK": 0x0002, "PIN": 0x1000, "MAC_GEN": 0x2000, "MAC_VER": 0x2001,
         "MAC_BOTH": 0x2002, "ENC": 0x3000, "DEC": 0x3001, "ENC_DEC": 0x3002}
# key type -> (algorithm code, length in bits)
KEY_TYPES = {"TDES2": (0, 128), "TDES3": (1, 192), "AES128": (2, 128), "AES192": (3, 192),
             "AES256": (4, 256), "HMAC128": (5, 128), "HMAC192": (5, 192), "HMAC256": (5, 256)}
_AES_BY_LEN = {16: "AES128", 24: "AES192", 32: "AES256"}


def _derive(key: bytes, usage: int, key_type: str, tail: bytes) -> bytes:
    alg, bits = KEY_TYPES[key_type]
    out = b""
    for counter in range(1, (bits + 127) // 128 + 1):
        data = bytes([1, counter]) + usage.to_bytes(2, "big") + alg.to_bytes(2, "big")
        data += bits.to_bytes(2, "big") + tail
        out += AES.new(key, AES.MODE_ECB).encrypt(data)
    return out[: bits // 8]


def initial_key(bdk: bytes, key_id: bytes) -> bytes:
    return _derive(bdk, 0x8001, _AES_BY_LEN[len(bdk)], key_id)


def transaction_key(ik: bytes, key_id: bytes, counter: int) -> bytes:
    key, register = ik, 0
    for bit in range(31, -1, -1):
        if counter >> bit & 1:
            register |= 1 << bit
            key = _derive(key, 0x8000, _AES_BY_LEN[len(ik)], key_id[4:] + register.to_bytes(4, "big"))
    return key


def working_key(txn: bytes, key_id: bytes, counter: int, usage: str, key_type: str) -> bytes:
    return _derive(txn, USAGE[usage], key_type, key_id[4:] + counter.to_bytes(4, "big"))
