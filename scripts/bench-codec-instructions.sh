#!/usr/bin/env bash
# Instructions per operation of each codec benchmark (crates/iso8583/benches/compare.rs),
# counted by valgrind's callgrind: repeatable to a few instructions even on a loaded
# machine, where times move 1.5-2x. Use it for before/after figures of codec changes.
#
#   scripts/bench-codec-instructions.sh                       # every benchmark
#   scripts/bench-codec-instructions.sh decode_read_all_posguard encode_posguard
#
# Each benchmark runs twice under callgrind, with 100 samples of 100 and of 1,100
# iterations; the difference over the 100,000 extra iterations is the figure, so
# divan's own start-up and per-sample costs cancel out.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
bin=$(cargo bench -p iso8583 --bench compare --no-run 2>&1 |
  grep -o 'target/[a-z/]*deps/compare-[0-9a-f]*' | tail -1)
bin=${CARGO_TARGET_DIR:-$root/target}/${bin#target/}
benches=("$@")
if [ ${#benches[@]} -eq 0 ]; then
  mapfile -t benches < <("$bin" --list | sed -n 's/^[├╰]─ //p')
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" --bench --exact \
    "compare::$1" --sample-count 100 --sample-size "$2" >/dev/null 2>"$tmp/err"
  sed -n 's/.*Collected : *//p' "$tmp/err" | tr -d ,
}
echo "| benchmark | instructions per operation |"
echo "|---|---|"
for b in "${benches[@]}"; do
  small=$(count "$b" 100)
  large=$(count "$b" 1100)
  echo "| $b | $(((large - small) / 100000)) |"
done
