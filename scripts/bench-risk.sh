#!/usr/bin/env bash
# What risk control costs end to end: `posguard loadgen` against `posguard serve` with
# `--risk off` and `--risk on`, alternating, from the same provisioned state (a data
# directory set up once and copied for every run), on the embedded backend.
#
#   scripts/bench-risk.sh                      # 200,000 cards, 2 rounds of 30 s each
#   CARDS=1000 scripts/bench-risk.sh           # an alert storm: every card far over its velocity
#   RATE=15000 SECONDS_RUN=60 scripts/bench-risk.sh
#   BASE=/tmp/posguard-bench-risk.XXXX/base scripts/bench-risk.sh   # reuse a provisioned state
#
# CARDS sets how often one card comes back: at ~15,000 purchases/s, 200,000 cards see about
# 2 purchases each in 30 s (a few percent trip the velocity and card-testing packs, as in
# a busy real fleet); 1,000 cards see hundreds each, and nearly every purchase raises an
# alert. RATE empty = open throttle (the figure is the host's capacity). Prints, per run,
# throughput, latency and risk control's counters (decisions by action, alerts).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CARDS=${CARDS:-200000}
ROUNDS=${ROUNDS:-2}
SECONDS_RUN=${SECONDS_RUN:-30}
RATE=${RATE:-}
CONNECTIONS=${CONNECTIONS:-200}
LINK=127.0.0.1:${LINK_PORT:-39583}
HTTP=127.0.0.1:${HTTP_PORT:-39080}
cargo build --release --quiet -p posguard
bin=$root/target/release/posguard
work=$(mktemp -d /tmp/posguard-bench-risk.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null || true' EXIT

serve() {
  local dir=$1 risk=$2
  "$bin" serve --data-dir "$dir" --kek-file "$dir/kek.hex" --risk "$risk" \
    --link-listen "$LINK" --http-listen "$HTTP" >>"$dir/serve.out" 2>>"$dir/serve.err" &
  pid=$!
  for _ in $(seq 100); do
    curl -fs "http://$HTTP/healthz" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "posguard serve did not come up: $(tail -3 "$dir/serve.err")" >&2
  exit 1
}

stop() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

# One provisioned state for every run (BASE: one an earlier run provisioned, same CARDS).
base=${BASE:-$work/base}
if [ -z "${BASE:-}" ]; then
  mkdir -p "$base"
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$base/kek.hex")
  serve "$base" on
  echo "== provisioning $CONNECTIONS terminals and $CARDS cards (once) ..."
  "$bin" loadgen --link "$LINK" --api "http://$HTTP" --token "$(grep -o 'pgt_[0-9a-f]*' "$base/serve.out")" \
    --setup --connections "$CONNECTIONS" --duration-secs 0 --cards "$CARDS" >/dev/null
  stop
fi
token=$(grep -o 'pgt_[0-9a-f]*' "$base/serve.out" | head -1)

rate_args=()
[ -n "$RATE" ] && rate_args=(--rate "$RATE")
for round in $(seq 1 "$ROUNDS"); do
  for risk in off on; do
    dir=$work/run-$round-$risk
    cp -a "$base" "$dir"
    serve "$dir" "$risk"
    echo "== round $round, risk $risk: $CONNECTIONS connections, ${RATE:-open throttle}, $SECONDS_RUN s, $CARDS cards"
    "$bin" loadgen --link "$LINK" --connections "$CONNECTIONS" --duration-secs "$SECONDS_RUN" \
      "${rate_args[@]}" --mix purchase=100 --cards "$CARDS" --seed "$round" |
      grep -E 'throughput|latency'
    curl -fs -H "Authorization: Bearer $token" "http://$HTTP/metrics" | grep -E '^posguard_risk_(decisions|alerts)' | tr '\n' ' '
    echo
    stop
  done
done
# Deleting gigabytes mid-run stalls some disks: the directories stay until the end.
echo "data directories (remove when done): $work"
