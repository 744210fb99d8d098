#!/usr/bin/env python3
"""iso8583sim 1.6.0's own load tool (its `run_load`, `ISO8583Client` and framing, the code
behind `iso8583sim load`), pointed at a host. Used by scripts/bench-peers.sh.

  target/peers-venv/bin/python scripts/peer-load.py --port 39583 --count 100000 \
      --connections 200 --concurrency 200 [--posguard-fixtures 200,1000]

What differs from `iso8583sim load`, and why:
- The requests are iso8583sim's own `sample_message("financial", ...)` (0200 with local
  date and time, fields 12 and 13), not its default 0100 authorization: that one has no
  transmission time (field 7, or 12 and 13), which posguard answers 30 (format error), so
  it would measure refusals. `--posguard-fixtures TERMINALS,CARDS` swaps in the terminals
  (field 41), merchant (42), cards (2, 14) and currency that `posguard loadgen --setup`
  provisions, so posguard approves them; without it the message is iso8583sim's sample.
- The CLI prints p50/p95/p99 only; this prints p99.9 too, from the same `LoadReport`
  (nearest-rank percentiles over every latency), so the table has one set of columns.
Wire format and framing are the CLI's defaults: ASCII with a binary bitmap (posguard's
`posguard-binary` spec), 2-byte binary length header (posguard's `binary2`).
"""

import argparse
import asyncio
import json

from iso8583sim.core.samples import sample_message
from iso8583sim.net import ISO8583Client, run_load

from posguard_fixtures import CARD_EXPIRY, MERCHANT_ID, card_pan, terminal_id

CURRENCY = "156"
# Above card testing's small amounts (rules/card_testing.rules: <= 10.00), as loadgen's
# purchases in scripts/bench-peers.sh are, so risk scoring does not decline a benchmark.
AMOUNT_MINOR = 2500


def make_messages(fixtures):
    """Request i: iso8583sim's sample purchase with a unique STAN (6 digits, as its own
    load tool numbers them), on posguard's fixtures when given."""
    if fixtures is None:
        return lambda i: sample_message("financial", stan=f"{i % 999999 + 1:06d}")
    terminals, cards = fixtures
    pans = [card_pan(i) for i in range(cards)]

    def build(i):
        msg = sample_message(
            "financial",
            pan=pans[i % cards],
            amount_minor_units=AMOUNT_MINOR,
            currency=CURRENCY,
            stan=f"{i % 999999 + 1:06d}",
        )
        msg.fields[14] = CARD_EXPIRY
        msg.fields[41] = terminal_id(i % terminals)
        msg.fields[42] = MERCHANT_ID
        return msg

    return build


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--posguard-fixtures", help="TERMINALS,CARDS of posguard loadgen --setup")
    args = ap.parse_args()
    fixtures = None
    if args.posguard_fixtures:
        terminals, cards = (int(v) for v in args.posguard_fixtures.split(","))
        fixtures = (terminals, cards)
    report = asyncio.run(
        run_load(
            lambda: ISO8583Client(args.host, args.port, timeout=args.timeout),
            count=args.count,
            concurrency=args.concurrency,
            connections=args.connections,
            make_message=make_messages(fixtures),
        )
    )
    codes = dict(sorted(report.response_codes.items()))
    approved = codes.get("00", 0)
    result = {
        "sent": report.sent,
        "responses": report.responses,
        "timeouts": report.timeouts,
        "errors": report.errors,
        "elapsed_s": round(report.duration_s, 2),
        "throughput_per_s": round(report.throughput),
        "approved_per_s": round(approved / report.duration_s) if report.duration_s else 0,
        "p50_ms": round(report.percentile(50), 2),
        "p99_ms": round(report.percentile(99), 2),
        "p999_ms": round(report.percentile(99.9), 2),
        "codes": codes,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
