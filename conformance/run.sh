#!/usr/bin/env bash
# The conformance suite: posguard cross-checked against independent implementations
# (pyiso8583, pydukpt, psec, pycryptodome, numpy/pandas) on thousands of random cases.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash conformance/setup.sh
cargo build --quiet -p iso8583 --bin iso8583-conform
cargo build --quiet -p paycrypto --bin paycrypto-conform
"$root/.venv/bin/python" -m pytest -q conformance "$@"
