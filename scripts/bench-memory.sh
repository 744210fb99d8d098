#!/usr/bin/env bash
# posguard serve's resident memory (VmRSS) under load, stated per 10,000 terminal
# connections, per million cards, and per transaction held in memory:
#
#   scripts/bench-memory.sh                      # 10,000 connections, 100,000 cards
#   CONNS_BIG=20000 CARDS_BIG=200000 scripts/bench-memory.sh
#
# Steps, on one fresh `posguard serve` (embedded store, risk on unless SERVE_ARGS):
#  1. two runs of RATE purchases/s from CONNS_SMALL connections for SECONDS_RUN s each:
#     the second run's growth over its approvals is the memory per transaction (the
#     engine keeps every transaction and its exactly-once key in memory);
#  2. the same rate from CONNS_BIG connections sharing the same terminals: the peak
#     over the last step, less what step 1 says its transactions took, is what
#     CONNS_BIG - CONNS_SMALL more connections hold;
#  3. CARDS_BIG more cards provisioned through the API (scripts/provision-cards.py),
#     then a run over all of them: growth at rest and after each card was used.
# RSS is sampled every 0.5 s (scripts/lib-bench.sh). loadgen runs on the same machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CONNS_SMALL=${CONNS_SMALL:-200}
CONNS_BIG=${CONNS_BIG:-10000}
CARDS=${CARDS:-1000}
CARDS_BIG=${CARDS_BIG:-100000}
RATE=${RATE:-5000}
SECONDS_RUN=${SECONDS_RUN:-20}
SERVE_ARGS=${SERVE_ARGS:-}
LINK=127.0.0.1:${LINK_PORT:-39783}
HTTP=127.0.0.1:${HTTP_PORT:-39280}
AMOUNTS="--amount-min-minor 1500 --amount-max-minor 10000"
# shellcheck source=scripts/lib-bench.sh
. "$root/scripts/lib-bench.sh"

cargo build --release --quiet -p posguard
bin=$root/target/release/posguard
out=$root/target/bench-memory
rm -rf "$out" && mkdir -p "$out"
# Each connection is a socket in loadgen and one in the server (separate processes).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((CONNS_BIG + 1024)) ]; then
  echo "CONNS_BIG=$CONNS_BIG needs $((CONNS_BIG + 1024)) open files; the limit is $(ulimit -n)" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/posguard-memory.XXXXXX)
# shellcheck disable=SC2086
start_posguard "$dir" $SERVE_ARGS
trap 'stop_pid $POSGUARD_PID; rm -rf "$dir"' EXIT
"$bin" loadgen --link "$LINK" --api "http://$HTTP" --token "$POSGUARD_TOKEN" --setup \
  --connections "$CONNS_SMALL" --duration-secs 0 --cards "$CARDS" >/dev/null
sleep 1
rss_kib "$POSGUARD_PID" >"$out/start.rss"

# run NAME CONNECTIONS CARDS: RATE purchases/s for SECONDS_RUN s; NAME.loadgen, NAME.peak
# (largest RSS during the run) and NAME.rss (after it).
run() {
  local name=$1 conns=$2 cards=$3
  sample_rss "$POSGUARD_PID" "$out/$name.peak" &
  local sampler=$!
  # shellcheck disable=SC2086
  "$bin" loadgen --link "$LINK" --connections "$conns" --terminal-count "$CONNS_SMALL" \
    --duration-secs "$SECONDS_RUN" --rate "$RATE" --mix purchase=100 --cards "$cards" \
    --seed 11 $AMOUNTS >"$out/$name.loadgen" 2>&1 || true
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  sleep 1
  rss_kib "$POSGUARD_PID" >"$out/$name.rss"
}

echo "$CONNS_SMALL connections, two runs ..." >&2
run small1 "$CONNS_SMALL" "$CARDS"
run small2 "$CONNS_SMALL" "$CARDS"
echo "$CONNS_BIG connections ..." >&2
run big "$CONNS_BIG" "$CARDS"
echo "$CARDS_BIG cards ..." >&2
rss_kib "$POSGUARD_PID" >"$out/cards-before.rss"
python3 scripts/provision-cards.py --api "http://$HTTP" --token "$POSGUARD_TOKEN" \
  --first "$CARDS" --count "$CARDS_BIG" >"$out/provision.out"
sleep 2
rss_kib "$POSGUARD_PID" >"$out/cards-after.rss"
run cards "$CONNS_SMALL" $((CARDS + CARDS_BIG))

python3 - "$out" "$CONNS_SMALL" "$CONNS_BIG" "$CARDS_BIG" "$RATE" "$SECONDS_RUN" <<'EOF'
import pathlib, re, sys

out = pathlib.Path(sys.argv[1])
small, big, cards_big, rate, secs = (int(v) for v in sys.argv[2:])
kib = lambda name: int((out / name).read_text())
mib = lambda k: f"{k / 1024:,.1f} MiB"

def answered(name):
    m = re.search(r"answered (\d+)", (out / f"{name}.loadgen").read_text())
    return int(m[1]) if m else 0

per_txn = (kib("small2.rss") - kib("small1.rss")) / max(answered("small2"), 1)
big_txns = answered("big")
conns = kib("big.peak") - kib("small2.rss") - per_txn * big_txns
per_10k_conns = conns * 10_000 / (big - small)
cards_rest = kib("cards-after.rss") - kib("cards-before.rss")
cards_used = kib("cards.rss") - kib("cards-before.rss") - per_txn * answered("cards")
print(f"posguard serve resident memory (VmRSS): {rate:,} purchases/s offered, {secs} s per run")
print()
print("| measure | figure |")
print("|---|---|")
print(f"| after start and setup | {mib(kib('start.rss'))} |")
print(f"| after 2 x {secs} s from {small:,} connections ({answered('small1') + answered('small2'):,} transactions) | {mib(kib('small2.rss'))} |")
print(f"| peak with {big:,} connections | {mib(kib('big.peak'))} |")
print(f"| per transaction held (second run's growth / its {answered('small2'):,} answers) | {per_txn * 1024:,.0f} bytes |")
print(f"| per 10,000 connections (peak with {big:,} less {small:,}-connection level, less its transactions) | {mib(per_10k_conns)} |")
print(f"| per million cards, provisioned ({cards_big:,} cards: {mib(cards_rest)}) | {mib(cards_rest * 1_000_000 / cards_big)} |")
print(f"| per million cards, after a run over all of them (less its transactions) | {mib(cards_used * 1_000_000 / cards_big)} |")
for name in ["small1", "small2", "big", "cards"]:
    text = (out / f"{name}.loadgen").read_text()
    t = re.search(r"throughput (\d+)/s", text)
    lat = re.search(r"p99 (\d+)", text)
    print(f"  {name}: {t[1] if t else '?'} answers/s, p99 {lat[1] if lat else '?'} us")
EOF
cat "$out/provision.out"
