# Shared by scripts/bench-peers.sh and scripts/bench-memory.sh (source it, do not run it).
# Starts and stops `posguard serve` on a fresh data directory, samples resident memory.

# How long a started server may take to print its API token, in 0.2 s steps.
SERVE_START_STEPS_MAX=150

# start_posguard DIR EXTRA_ARGS...: a fresh production start in DIR (new KEK, mode 0600)
# on $LINK / $HTTP; sets POSGUARD_PID and POSGUARD_TOKEN.
start_posguard() {
  local dir=$1
  shift
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/kek.hex")
  "$bin" serve --data-dir "$dir" --kek-file "$dir/kek.hex" --link-listen "$LINK" \
    --http-listen "$HTTP" "$@" >"$dir/serve.out" 2>"$dir/serve.err" &
  POSGUARD_PID=$!
  for _ in $(seq "$SERVE_START_STEPS_MAX"); do
    grep -q 'pgt_' "$dir/serve.out" 2>/dev/null && break
    sleep 0.2
  done
  POSGUARD_TOKEN=$(grep -o 'pgt_[0-9a-f]*' "$dir/serve.out") || {
    echo "posguard serve did not start; see $dir/serve.err" >&2
    return 1
  }
}

# stop_pid PID: SIGTERM, then wait for it.
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# wait_port HOST:PORT: until something listens there (at most 30 s).
wait_port() {
  local host=${1%:*} port=${1##*:}
  for _ in $(seq 150); do
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null && return 0
    sleep 0.2
  done
  echo "nothing listens on $1" >&2
  return 1
}

# rss_kib PID: resident set size now, KiB (VmRSS of /proc/PID/status).
rss_kib() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# peak_kib PID: the most it has been resident, KiB (VmHWM).
peak_kib() {
  awk '/^VmHWM:/ {print $2}' "/proc/$1/status"
}

# sample_rss PID OUT: writes the largest VmRSS seen every 0.5 s to OUT until PID exits
# or the sampler is killed. Run in the background.
sample_rss() {
  local pid=$1 out=$2 max=0 now
  while now=$(rss_kib "$pid" 2>/dev/null) && [ -n "$now" ]; do
    [ "$now" -gt "$max" ] && max=$now && echo "$max" >"$out"
    sleep 0.5
  done
}

# cpu_ticks PID: user + system CPU time PID has used, in clock ticks (getconf CLK_TCK),
# threads included (fields 14 and 15 of /proc/PID/stat, after the command name).
cpu_ticks() {
  sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'
}
