#!/usr/bin/env bash
# The conformance suite: posguard cross-checked against independent implementations
# (pyiso8583, pydukpt, psec, pycryptodome, numpy/pandas) on thousands of random cases,
# and a Python DUKPT terminal against `posguard serve --demo` over TCP.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash conformance/setup.sh
cargo build --quiet -p iso8583 --bin iso8583-conform
cargo build --quiet -p paycrypto --bin paycrypto-conform
# test_terminal_dukpt.py starts `posguard serve --demo` (target/debug/posguard).
cargo build --quiet -p posguard
"$root/.venv/bin/python" -m pytest -q conformance "$@"
