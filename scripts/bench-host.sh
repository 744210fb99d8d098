#!/usr/bin/env bash
# End-to-end host benchmark: `posguard loadgen` (200 terminal connections over TCP,
# purchases, durable commit) against `posguard serve`, on the embedded backend and,
# when POSGUARD_BENCH_PG_URL is set, on PostgreSQL.
#
#   scripts/bench-host.sh                 # 60 s at 21,000 purchases/s, then 30 s open throttle
#   RATE=20000 SECONDS_RATED=60 scripts/bench-host.sh
#   CARDS=100000 LOADGEN_ARGS="--dukpt aes128 --pin-percent 10" scripts/bench-host.sh
#   RATES="10000 20000 30000" SECONDS_RATED=60 scripts/bench-host.sh   # a fresh host per rate
#                                        # issue 6's line: MAC on every message, risk on
#   SERVE_ARGS="--risk off" LOADGEN_ARGS="--dukpt tdes --pin-percent 10" SECONDS_OPEN=0 \
#     scripts/bench-host.sh              # DUKPT terminals (MAC on every message, 10% PINs)
#   SERVE_ARGS="--link-profile unionpay" LOADGEN_ARGS="--unionpay" scripts/bench-host.sh
#                                        # UnionPay terminals (sign-on, ECB MAC both ways)
#   scripts/bench-unionpay.sh            # the generic and UnionPay profiles side by side
# SERVE_ARGS go to `posguard serve`, LOADGEN_ARGS to every `posguard loadgen`;
# SECONDS_OPEN=0 skips the open-throttle run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RATE=${RATE:-21000}
SECONDS_RATED=${SECONDS_RATED:-60}
SECONDS_OPEN=${SECONDS_OPEN:-30}
SECONDS_WARM=${SECONDS_WARM:-5}
SERVE_ARGS=${SERVE_ARGS:-}
LOADGEN_ARGS=${LOADGEN_ARGS:-}
CONNECTIONS=${CONNECTIONS:-200}
# Cards the load draws from (provisioned through the API before the runs).
CARDS=${CARDS:-1000}
LINK=127.0.0.1:${LINK_PORT:-39583}
HTTP=127.0.0.1:${HTTP_PORT:-39080}
cargo build --release --quiet -p posguard
bin=target/release/posguard

run() {
  local label=$1 store_args=$2
  local dir
  dir=$(mktemp -d /tmp/posguard-bench.XXXXXX)
  # A production start needs a master key (KEK): a fresh one per run, mode 0600.
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/kek.hex")
  # shellcheck disable=SC2086
  "$bin" serve --data-dir "$dir" --kek-file "$dir/kek.hex" $SERVE_ARGS $store_args --link-listen "$LINK" --http-listen "$HTTP" >"$dir/serve.out" 2>"$dir/serve.err" &
  local pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  for _ in $(seq 50); do grep -q 'pgt_' "$dir/serve.out" 2>/dev/null && break; sleep 0.2; done
  local token
  token=$(grep -o 'pgt_[0-9a-f]*' "$dir/serve.out")
  # shellcheck disable=SC2086
  "$bin" loadgen --link "$LINK" --api "http://$HTTP" --token "$token" --setup \
    --connections "$CONNECTIONS" --duration-secs 0 --cards "$CARDS" $LOADGEN_ARGS >/dev/null
  # Warm-up, not reported: the first burst after a start fills fresh tables and
  # connection state (a one-time pause of up to ~0.2 s here), which is not the
  # steady state this measures.
  # shellcheck disable=SC2086
  "$bin" loadgen --link "$LINK" --connections "$CONNECTIONS" --duration-secs "$SECONDS_WARM" \
    --rate "$RATE" --mix purchase=100 --cards "$CARDS" --seed 5 $LOADGEN_ARGS >/dev/null
  echo "== $label: $CONNECTIONS connections, $RATE purchases/s for $SECONDS_RATED s"
  # shellcheck disable=SC2086
  "$bin" loadgen --link "$LINK" --connections "$CONNECTIONS" --duration-secs "$SECONDS_RATED" \
    --rate "$RATE" --mix purchase=100 --cards "$CARDS" --seed 7 $LOADGEN_ARGS | grep -E 'throughput|latency|dukpt|unionpay|answers|VIOLATION'
  if [ "$SECONDS_OPEN" -gt 0 ]; then
    echo "== $label: open throttle for $SECONDS_OPEN s"
    # shellcheck disable=SC2086
    "$bin" loadgen --link "$LINK" --connections "$CONNECTIONS" --duration-secs "$SECONDS_OPEN" \
      --mix purchase=100 --cards "$CARDS" --seed 8 $LOADGEN_ARGS | grep -E 'throughput|latency|dukpt|unionpay|answers|VIOLATION'
  fi
  kill "$pid"; wait "$pid" 2>/dev/null || true
  trap - EXIT
  # Keep the data until the end: deleting gigabytes mid-run stalls this disk for a while.
  echo "$dir" >>"$root/target/bench-host-dirs"
}

: >"$root/target/bench-host-dirs"
# RATES="10000 15000 20000": one fresh server per rate (rated runs only), to find the
# highest rate whose p99 stays within a target.
for RATE in ${RATES:-$RATE}; do
  [ -n "${RATES:-}" ] && SECONDS_OPEN=0
  run "embedded (SQLite + journal)" ""
  if [ -n "${POSGUARD_BENCH_PG_URL:-}" ]; then
    run "PostgreSQL" "--store-url ${POSGUARD_BENCH_PG_URL}"
  fi
done
echo "data directories (remove when done): $(tr '\n' ' ' <"$root/target/bench-host-dirs")"
