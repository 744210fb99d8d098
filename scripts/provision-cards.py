#!/usr/bin/env python3
"""Provisions loadgen's cards FIRST..FIRST+COUNT-1 (scripts/posguard_fixtures.py) through
posguard's API, with THREADS requests in flight so the host commits them in groups.
Used by scripts/bench-memory.sh; `posguard loadgen --setup` posts one card at a time.

  python3 scripts/provision-cards.py --api http://127.0.0.1:39280 --token pgt_... --count 100000
Standard library only.
"""

import argparse
import concurrent.futures
import http.client
import json
import threading
import time
import urllib.parse

from posguard_fixtures import CARD_EXPIRY, CARD_LIMIT_MINOR, card_pan

local = threading.local()


def post_card(api, token, index):
    conn = getattr(local, "conn", None)
    if conn is None:
        url = urllib.parse.urlsplit(api)
        conn = local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    body = json.dumps({
        "pan": card_pan(index), "expiry": CARD_EXPIRY, "kind": "debit", "currency": "156",
        "limit_minor": CARD_LIMIT_MINOR, "daily_limit_minor": CARD_LIMIT_MINOR,
    })
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn.request("POST", "/v1/cards", body, headers)
    answer = conn.getresponse()
    text = answer.read()
    if not 200 <= answer.status < 300:
        raise RuntimeError(f"POST /v1/cards answered {answer.status}: {text[:200]!r}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--api", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--threads", type=int, default=32)
    args = ap.parse_args()
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(args.threads) as pool:
        indexes = range(args.first, args.first + args.count)
        for _ in pool.map(lambda i: post_card(args.api, args.token, i), indexes):
            pass
    secs = time.monotonic() - started
    print(f"provisioned {args.count} cards in {secs:.1f} s ({args.count / secs:,.0f}/s)")


if __name__ == "__main__":
    main()
