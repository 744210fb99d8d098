"""The terminals and cards `posguard loadgen --setup` provisions (crates/loadgen/src/fixtures.rs),
for the Python bench scripts: they depend only on an index, so a host set up by loadgen
knows them."""

MERCHANT_ID = "LOADGEN00000001"
CARD_EXPIRY = "3012"
CARD_LIMIT_MINOR = 999_999_999_999
PAN_BODY_BASE = 999_000_000_000_000


def luhn_check_digit(body: str) -> int:
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def card_pan(index: int) -> str:
    body = str(PAN_BODY_BASE + index)
    return f"{body}{luhn_check_digit(body)}"


def terminal_id(index: int) -> str:
    return f"LG{index + 1:06d}"
