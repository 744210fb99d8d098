#!/usr/bin/env bash
# The UnionPay profile's figure beside the generic one, same machine, same load:
# scripts/bench-host.sh twice, first with plain generic terminals, then with UnionPay
# terminals (`posguard serve --link-profile unionpay`, `posguard loadgen --unionpay`:
# sign-on for working keys under each terminal's TMK, the ECB MAC on every request and
# checked on every answer, PINs under the PIK on 10% of purchases).
#
#   scripts/bench-unionpay.sh                      # 100 connections, 2,000/s for 30 s, 20 s open
#   RATE=5000 CONNECTIONS=200 scripts/bench-unionpay.sh
#   UNIONPAY_ARGS="--unionpay-keys double-tdk --unionpay-mac ecb" scripts/bench-unionpay.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export RATE=${RATE:-2000}
export SECONDS_RATED=${SECONDS_RATED:-30}
export SECONDS_OPEN=${SECONDS_OPEN:-20}
export CONNECTIONS=${CONNECTIONS:-100}
UNIONPAY_ARGS=${UNIONPAY_ARGS:-}
echo "### generic profile"
SERVE_ARGS="${SERVE_ARGS:-}" LOADGEN_ARGS="${LOADGEN_ARGS:-}" "$root/scripts/bench-host.sh"
echo "### unionpay profile"
# shellcheck disable=SC2086
SERVE_ARGS="${SERVE_ARGS:-} --link-profile unionpay" \
  LOADGEN_ARGS="${LOADGEN_ARGS:-} --unionpay $UNIONPAY_ARGS" "$root/scripts/bench-host.sh"
