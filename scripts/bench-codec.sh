#!/usr/bin/env bash
# Regenerates the README's codec performance table in one command:
#   scripts/bench-codec.sh            (RUNS=5 by default)
# Runs crates/iso8583/benches/compare.rs (posguard, iso_8583_rs 0.2.2, iso8583-codec 0.1.1
# in one process) and scripts/bench-pyiso8583.py (pyiso8583 4.0.1, from .venv made by
# `bash conformance/setup.sh`) RUNS times each, alternating, and prints the median of the
# per-run medians, with the spread (min..max of those medians) as the noise figure.
# ratio = pyiso8583 / posguard and iso_8583_rs / posguard (higher = posguard faster), on
# the medians and, in brackets, on the fastest run of each (the least disturbed: these
# VMs share their cores, and a neighbour can slow a whole run by 1.5-2x).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
runs=${RUNS:-5}
python=${PYTHON:-$root/.venv/bin/python}
if [ ! -x "$python" ]; then
  echo "no $python: run 'bash conformance/setup.sh' first" >&2
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cargo bench -p iso8583 --bench compare --no-run >/dev/null 2>&1 ||
  cargo bench -p iso8583 --bench compare --no-run
for i in $(seq 1 "$runs"); do
  echo "run $i/$runs ..." >&2
  cargo bench -q -p iso8583 --bench compare -- --sample-count 200 >"$tmp/rust.$i" 2>/dev/null
  "$python" scripts/bench-pyiso8583.py >"$tmp/py.$i"
done

"$python" - "$tmp" "$runs" <<'EOF'
import pathlib, re, statistics, sys

tmp, runs = pathlib.Path(sys.argv[1]), int(sys.argv[2])
UNIT = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6}
row = re.compile(r"[├╰]─ (\w+)\s+([\d.]+) (\S+)\s+│\s+([\d.]+) (\S+)\s+│\s+([\d.]+) (\S+)")
samples = {}
for i in range(1, runs + 1):
    for line in (tmp / f"rust.{i}").read_text().splitlines():
        m = row.search(line)
        if m:
            samples.setdefault(m[1], []).append(float(m[6]) * UNIT[m[7]])
    for line in (tmp / f"py.{i}").read_text().splitlines():
        m = re.match(r"(decode|encode)\b.*?([\d.]+) ns/op", line)
        if m:
            samples.setdefault(f"py_{m[1]}", []).append(float(m[2]))

def cell(key):
    v = samples.get(key)
    if not v:
        return None, "n/a"
    med = statistics.median(v)
    spread = f" ({min(v):,.0f}..{max(v):,.0f})" if len(v) > 1 else ""
    return med, f"{med:,.0f} ns{spread}"

print(f"Reference 0200, 208 bytes, posguard-ascii; median of {runs} runs (min..max of run medians); ratios on medians [on fastest runs]")
print()
print("| operation | posguard | iso_8583_rs 0.2.2 | pyiso8583 4.0.1 | ratio vs iso_8583_rs | ratio vs pyiso8583 |")
print("|---|---|---|---|---|---|")
for op, ours, rs, py in [
    ("decode + read every field", "decode_read_all_posguard", "decode_read_all_iso_8583_rs", "py_decode"),
    ("decode + read every field in one pass (iter_str)", "decode_read_all_iter_posguard", "decode_read_all_iso_8583_rs", "py_decode"),
    ("encode from field values (MessageBuilder)", "encode_posguard", "encode_iso_8583_rs", "py_encode"),
    ("encode from field values (streaming Writer)", "encode_writer_posguard", "encode_iso_8583_rs", "py_encode"),
]:
    o, oc = cell(ours)
    r, rc = cell(rs)
    p, pc = cell(py)
    best = lambda key: min(samples[key])
    rr = f"{r / o:.1f}x [{best(rs) / best(ours):.1f}x]" if o and r else "n/a"
    pr = f"{p / o:.0f}x [{best(py) / best(ours):.0f}x]" if o and p else "n/a"
    print(f"| {op} | {oc} | {rc} | {pc} | {rr} | {pr} |")
print()
print("Binary-bitmap form (posguard-binary, 200 bytes), against iso8583-codec 0.1.1:")
print()
print("| operation | posguard | iso8583-codec 0.1.1 | ratio |")
print("|---|---|---|---|")
for op, ours, theirs in [
    ("decode + read every field", "binary_bitmap_decode_read_all_posguard", "binary_bitmap_decode_read_all_iso8583_codec"),
    ("encode from field values", "binary_bitmap_encode_posguard", "binary_bitmap_encode_iso8583_codec"),
]:
    o, oc = cell(ours)
    t, tc = cell(theirs)
    ratio = f"{t / o:.1f}x [{min(samples[theirs]) / min(samples[ours]):.1f}x]" if o and t else "n/a"
    print(f"| {op} | {oc} | {tc} | {ratio} |")
EOF
