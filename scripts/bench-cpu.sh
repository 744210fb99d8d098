#!/usr/bin/env bash
# Where the two cores go at a fixed rate: `posguard loadgen` against `posguard serve`
# (embedded store, AES DUKPT terminals: every request and answer MACed, 10% with a PIN;
# risk on), and the CPU each process spends per request, user and kernel apart.
#
#   scripts/bench-cpu.sh                       # 12,000 purchases/s for 30 s
#   RATE=8000 SECONDS_RUN=60 scripts/bench-cpu.sh
#
# The last line is the ceiling those costs put on this machine: its cores divided by the
# CPU one request takes, host and load generator together, when both share the machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
RATE=${RATE:-12000}
SECONDS_RUN=${SECONDS_RUN:-30}
CARDS=${CARDS:-100000}
CONNECTIONS=${CONNECTIONS:-200}
LOADGEN_ARGS=${LOADGEN_ARGS:---dukpt aes128 --pin-percent 10}
LINK=127.0.0.1:${LINK_PORT:-39583}
HTTP=127.0.0.1:${HTTP_PORT:-39080}
cargo build --release --quiet -p posguard
bin=$root/target/release/posguard
# shellcheck source=scripts/lib-bench.sh
. "$root/scripts/lib-bench.sh"

dir=$(mktemp -d /tmp/posguard-bench-cpu.XXXXXX)
trap 'stop_pid "${POSGUARD_PID:-}"; rm -rf "$dir"' EXIT
start_posguard "$dir"
# shellcheck disable=SC2086
"$bin" loadgen --link "$LINK" --api "http://$HTTP" --token "$POSGUARD_TOKEN" --setup \
  --connections "$CONNECTIONS" --duration-secs 0 --cards "$CARDS" $LOADGEN_ARGS >/dev/null
# Warm-up, not measured (first burst after a start; see bench-host.sh).
# shellcheck disable=SC2086
"$bin" loadgen --link "$LINK" --connections "$CONNECTIONS" --duration-secs 5 --rate "$RATE" \
  --mix purchase=100 --cards "$CARDS" --seed 5 $LOADGEN_ARGS >/dev/null

ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12, $13}'; }
read -r host_user0 host_sys0 < <(ticks "$POSGUARD_PID")
# shellcheck disable=SC2086
/usr/bin/time -f '%U %S' -o "$dir/loadgen.time" "$bin" loadgen --link "$LINK" \
  --connections "$CONNECTIONS" --duration-secs "$SECONDS_RUN" --rate "$RATE" \
  --mix purchase=100 --cards "$CARDS" --seed 7 $LOADGEN_ARGS >"$dir/loadgen.out"
read -r host_user1 host_sys1 < <(ticks "$POSGUARD_PID")
# The applier drains what the run left in its backlog: its CPU belongs to the run.
sleep 3
read -r host_user2 host_sys2 < <(ticks "$POSGUARD_PID")
grep -E 'throughput|latency' "$dir/loadgen.out"
answered=$(grep -o 'answered [0-9]*' "$dir/loadgen.out" | head -1 | awk '{print $2}')
python3 - "$answered" "$(getconf CLK_TCK)" "$(nproc)" \
  "$host_user0" "$host_sys0" "$host_user2" "$host_sys2" "$(cat "$dir/loadgen.time")" <<'EOF'
import sys
answered, hz, cores = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
hu0, hs0, hu2, hs2 = (int(x) for x in sys.argv[4:8])
lu, ls = (float(x) for x in sys.argv[8].split())
us = lambda seconds: seconds * 1e6 / answered
host_user, host_sys = us((hu2 - hu0) / hz), us((hs2 - hs0) / hz)
gen_user, gen_sys = us(lu), us(ls)
print(f"CPU per request (us): host user {host_user:.1f} + kernel {host_sys:.1f} = {host_user + host_sys:.1f}; "
      f"loadgen user {gen_user:.1f} + kernel {gen_sys:.1f} = {gen_user + gen_sys:.1f}")
total = host_user + host_sys + gen_user + gen_sys
print(f"ceiling on {cores} cores with both on them: {cores * 1e6 / total:,.0f} requests/s "
      f"(host alone on {cores} cores: {cores * 1e6 / (host_user + host_sys):,.0f}/s)")
EOF
