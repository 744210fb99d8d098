#!/usr/bin/env bash
# posguard against a peer host on this machine, in one run, with two load tools:
#
#   scripts/bench-peers.sh                      # 200 connections, 30 s per posguard loadgen run
#   CONNECTIONS=200 SECONDS_RUN=60 SIM_COUNT=150000 scripts/bench-peers.sh
#   SERVE_ARGS="--risk off" scripts/bench-peers.sh
#   POSGUARD_LOADGEN_ARGS="--dukpt aes128 --pin-percent 10" scripts/bench-peers.sh
#                                               # posguard's rows with DUKPT terminals
#                                               # (a MAC on every request and answer)
#   POSGUARD_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test scripts/bench-peers.sh
#                                               # adds posguard serve on PostgreSQL
#
# Hosts: `posguard serve` (embedded store, every approval durable before it is answered,
# risk scoring on unless SERVE_ARGS says otherwise) and `iso8583sim serve` 1.6.0 from PyPI
# (approves everything, stores nothing, checks nothing), installed into target/peers-venv
# from scripts/peers-requirements.txt.
# Load tools: `posguard loadgen` (CONNECTIONS terminals, one request in flight each, open
# throttle, SECONDS_RUN seconds, purchases only), and iso8583sim's own load tool
# (scripts/peer-load.py: its run_load and client; SIM_COUNT requests, CONNECTIONS
# connections, CONNECTIONS in flight), a client no one here wrote; and the unmodified
# `iso8583sim load` command, whose 0100 sample has no transmission time (field 7, or 12
# and 13): posguard answers it 30 (format error), so that row measures refusals.
# Both hosts speak iso8583sim's default wire: ASCII with a binary bitmap (posguard's
# posguard-binary spec) behind a 2-byte binary length (posguard's binary2 framing).
# Prints one table: answered/s, approved/s (field 39 = 00), p50/p99/p99.9, the host's
# CPU time per answer (user + system, all threads: the figure a loaded or shared machine
# disturbs least), and its peak resident memory (VmRSS sampled every 0.5 s) in each run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
CONNECTIONS=${CONNECTIONS:-200}
SECONDS_RUN=${SECONDS_RUN:-30}
SIM_COUNT=${SIM_COUNT:-60000}
CARDS=${CARDS:-1000}
SERVE_ARGS=${SERVE_ARGS:-}
# Extra `posguard loadgen` arguments for the runs against posguard only (setup included):
# iso8583sim's host signs nothing, so DUKPT terminals cannot run against it.
POSGUARD_LOADGEN_ARGS=${POSGUARD_LOADGEN_ARGS:-}
# Above card testing's small amounts (rules/card_testing.rules), as in peer-load.py.
AMOUNTS="--amount-min-minor 1500 --amount-max-minor 10000"
WIRE="--spec posguard-binary --framing binary2"
LINK=127.0.0.1:${LINK_PORT:-39683}
HTTP=127.0.0.1:${HTTP_PORT:-39180}
# shellcheck source=scripts/lib-bench.sh
. "$root/scripts/lib-bench.sh"

venv=$root/target/peers-venv
if [ ! -x "$venv/bin/iso8583sim" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/peers-requirements.txt
fi
cargo build --release --quiet -p posguard
bin=$root/target/release/posguard
out=$root/target/bench-peers
rm -rf "$out" && mkdir -p "$out"
ulimit -n "$(ulimit -Hn)"
# Whatever this run started is stopped however it ends.
started=()
trap 'for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# loadgen_run NAME [ARGS...]: posguard loadgen against whatever listens on $LINK.
loadgen_run() {
  local name=$1
  shift
  # shellcheck disable=SC2086
  "$bin" loadgen --link "$LINK" --connections "$CONNECTIONS" --duration-secs "$SECONDS_RUN" \
    --mix purchase=100 --cards "$CARDS" --seed 7 $AMOUNTS $WIRE "$@" >"$out/$name.loadgen" 2>&1 || true
}

# posguard_loadgen_run NAME: loadgen_run with POSGUARD_LOADGEN_ARGS.
posguard_loadgen_run() {
  # shellcheck disable=SC2086
  loadgen_run "$1" $POSGUARD_LOADGEN_ARGS
}

# setup_posguard: provisions the plain terminals and cards (iso8583sim's load tool uses
# them too) and, with POSGUARD_LOADGEN_ARGS, whatever those runs need besides.
setup_posguard() {
  local args=("$bin" loadgen --link "$LINK" --api "http://$HTTP" --token "$POSGUARD_TOKEN"
    --setup --connections "$CONNECTIONS" --duration-secs 0 --cards "$CARDS")
  "${args[@]}" >/dev/null
  if [ -n "$POSGUARD_LOADGEN_ARGS" ]; then
    # shellcheck disable=SC2086
    "${args[@]}" $POSGUARD_LOADGEN_ARGS >/dev/null
  fi
}

# sim_load_run NAME: iso8583sim's load tool against whatever listens on $LINK.
sim_load_run() {
  "$venv/bin/python" scripts/peer-load.py --port "${LINK##*:}" --count "$SIM_COUNT" \
    --connections "$CONNECTIONS" --concurrency "$CONNECTIONS" \
    --posguard-fixtures "$CONNECTIONS,$CARDS" >"$out/$1.simload" 2>"$out/$1.simload.err" || true
}

# sim_cli_run NAME: the unmodified `iso8583sim load` command (its own 0100 sample
# requests; it prints p50/p95/p99 and max, no p99.9).
sim_cli_run() {
  COLUMNS=200 "$venv/bin/iso8583sim" load --host "${LINK%:*}" --port "${LINK##*:}" \
    --count "$SIM_COUNT" --concurrency "$CONNECTIONS" --connections "$CONNECTIONS" \
    >"$out/$1.simcli" 2>&1 || true
}

# measured NAME PID CMD...: runs CMD while sampling PID's resident memory into NAME.rss;
# the CPU time PID used meanwhile goes to NAME.cpu (ticks, ticks per second).
measured() {
  local name=$1 pid=$2
  shift 2
  sample_rss "$pid" "$out/$name.rss" &
  local sampler=$! cpu_before
  cpu_before=$(cpu_ticks "$pid")
  "$@" "$name"
  echo $(($(cpu_ticks "$pid") - cpu_before)) "$(getconf CLK_TCK)" >"$out/$name.cpu"
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
}

echo "posguard serve ($CONNECTIONS connections) ..." >&2
dir=$(mktemp -d /tmp/posguard-peers.XXXXXX)
# shellcheck disable=SC2086
start_posguard "$dir" $WIRE $SERVE_ARGS
started+=("$POSGUARD_PID")
setup_posguard
measured posguard-loadgen "$POSGUARD_PID" posguard_loadgen_run
measured posguard-simload "$POSGUARD_PID" sim_load_run
measured posguard-simcli "$POSGUARD_PID" sim_cli_run
stop_pid "$POSGUARD_PID"

if [ -n "${POSGUARD_BENCH_PG_URL:-}" ]; then
  echo "posguard serve on PostgreSQL ($CONNECTIONS connections) ..." >&2
  pgdir=$(mktemp -d /tmp/posguard-peers.XXXXXX)
  # A database of its own: a fresh KEK cannot open what an earlier run's KEK sealed.
  pgdb=posguard_bench_$$
  psql -q "$POSGUARD_BENCH_PG_URL" -c "CREATE DATABASE $pgdb"
  # shellcheck disable=SC2086
  start_posguard "$pgdir" $WIRE $SERVE_ARGS --store-url "${POSGUARD_BENCH_PG_URL%/*}/$pgdb"
  started+=("$POSGUARD_PID")
  setup_posguard
  measured posguard-pg-loadgen "$POSGUARD_PID" posguard_loadgen_run
  stop_pid "$POSGUARD_PID"
  psql -q "$POSGUARD_BENCH_PG_URL" -c "DROP DATABASE $pgdb"
  rm -rf "$pgdir"
fi

echo "iso8583sim serve ($CONNECTIONS connections) ..." >&2
"$venv/bin/iso8583sim" serve --host "${LINK%:*}" --port "${LINK##*:}" >"$out/sim-serve.out" 2>&1 &
sim=$!
started+=("$sim")
wait_port "$LINK"
measured sim-loadgen "$sim" loadgen_run
measured sim-simload "$sim" sim_load_run
measured sim-simcli "$sim" sim_cli_run
stop_pid "$sim"
rm -rf "$dir"

"$venv/bin/python" - "$out" "$CONNECTIONS" "$SECONDS_RUN" "$SIM_COUNT" "$SERVE_ARGS" "$POSGUARD_LOADGEN_ARGS" <<'EOF'
import json, pathlib, re, sys

out, conns, secs, count, serve_args, posguard_loadgen_args = pathlib.Path(sys.argv[1]), *sys.argv[2:]

def rss(name):
    f = out / f"{name}.rss"
    return f"{int(f.read_text()) / 1024:,.0f} MiB" if f.exists() else "n/a"

def cpu_us_per_answer(name, answers):
    f = out / f"{name}.cpu"
    if not f.exists() or not answers:
        return "n/a"
    ticks, hz = (int(v) for v in f.read_text().split())
    return f"{ticks / hz * 1e6 / answers:,.0f} us"

def loadgen(name):
    text = (out / f"{name}.loadgen").read_text()
    elapsed = re.search(r"elapsed ([\d.]+) s", text)
    lat = re.search(r"latency us: p50 (\d+)  p90 \d+  p99 (\d+)  p99.9 (\d+)", text)
    thr = re.search(r"throughput (\d+)/s", text)
    codes = re.search(r"answers by field 39: (.*)", text)
    if not (elapsed and lat and thr and codes):
        return None, text.strip().splitlines()[-1:] or ["no output"]
    codes = dict(c.split(":") for c in codes[1].split())
    approved = int(codes.get("00", 0)) / float(elapsed[1])
    ms = lambda us: f"{int(us) / 1000:.1f} ms"
    answers = sum(int(v) for v in codes.values())
    cpu = cpu_us_per_answer(name, answers)
    return [thr[1], f"{approved:.0f}", ms(lat[1]), ms(lat[2]), ms(lat[3]), cpu], codes

def simload(name):
    try:
        r = json.loads((out / f"{name}.simload").read_text())
    except (OSError, ValueError):
        err = (out / f"{name}.simload.err").read_text().strip().splitlines()
        return None, err[-1:] or ["no output"]
    ms = lambda v: f"{v:.1f} ms"
    cpu = cpu_us_per_answer(name, r["responses"])
    row = [str(r["throughput_per_s"]), str(r["approved_per_s"]), ms(r["p50_ms"]), ms(r["p99_ms"]), ms(r["p999_ms"]), cpu]
    return row, r["codes"] | ({"timeouts": r["timeouts"], "errors": r["errors"]} if r["timeouts"] or r["errors"] else {})

def simcli(name):
    text = (out / f"{name}.simcli").read_text()
    cell = lambda label: re.search(rf"{label}\s*│\s*([^│]+?)\s*│", text)
    got = {k: cell(k) for k in ["Responses", "Duration", "Throughput", "Latency p50", "Latency p99", "Response codes"]}
    if not all(got.values()):
        return None, text.strip().splitlines()[-1:] or ["no output"]
    responses = int(got["Responses"][1].replace(",", ""))
    codes = dict(c.split(": ") for c in got["Response codes"][1].split(", ") if ": " in c)
    approved = int(codes.get("00", "0").replace(",", "")) / float(got["Duration"][1].split()[0])
    thr = got["Throughput"][1].split()[0].replace(",", "")
    ms = lambda v: f"{float(v.split()[0]):.1f} ms"
    row = [thr, f"{approved:.0f}", ms(got["Latency p50"][1]), ms(got["Latency p99"][1]), "n/a", cpu_us_per_answer(name, responses)]
    return row, codes

print(f"{conns} connections; posguard loadgen: {secs} s open throttle per run, purchases; "
      f"iso8583sim load: {count} requests, {conns} in flight; posguard serve {serve_args or '(defaults: risk on)'}"
      + (f"; posguard loadgen against posguard: {posguard_loadgen_args}" if posguard_loadgen_args else ""))
print()
print("| load tool | host | answered/s | approved/s | p50 | p99 | p99.9 | host CPU per answer | host peak RSS | answers by field 39 |")
print("|---|---|---|---|---|---|---|---|---|---|")
for tool, host, name, parse in [
    ("posguard loadgen", "posguard serve (durable)", "posguard-loadgen", loadgen),
    ("posguard loadgen", "posguard serve (PostgreSQL)", "posguard-pg-loadgen", loadgen),
    ("posguard loadgen", "iso8583sim serve 1.6.0", "sim-loadgen", loadgen),
    ("iso8583sim load 1.6.0", "posguard serve (durable)", "posguard-simload", simload),
    ("iso8583sim load 1.6.0", "iso8583sim serve 1.6.0", "sim-simload", simload),
    ("`iso8583sim load` CLI, its 0100 sample", "posguard serve (durable)", "posguard-simcli", simcli),
    ("`iso8583sim load` CLI, its 0100 sample", "iso8583sim serve 1.6.0", "sim-simcli", simcli),
]:
    if name == "posguard-pg-loadgen" and not (out / f"{name}.loadgen").exists():
        continue
    row, codes = parse(name)
    if row is None:
        print(f"| {tool} | {host} | failed: {' '.join(codes)} | | | | | | | |")
        continue
    detail = " ".join(f"{k}:{v}" for k, v in codes.items())
    print(f"| {tool} | {host} | {' | '.join(row)} | {rss(name)} | {detail} |")
EOF
