# bench/lib.sh: shared by the benchmark scripts. Timing is the best of N runs (these machines
# are noisy); every figure is printed next to the floor measured in the same run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIGRUN=${MIGRUN:-$root/build/bin/migrun}
RUNS=${RUNS:-3}
[ -x "$MIGRUN" ] || { echo "build first: scripts/build.sh build" >&2; exit 2; }

# best_ms CMD...: the fastest wall time of $RUNS runs, in milliseconds
best_ms() {
  local best=
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N)
    local err
    err=$(mktemp /tmp/migrun-bench-err-XXXXXX)
    if ! "$@" >/dev/null 2>"$err"; then
      echo "bench: command failed: $*" >&2
      cat "$err" >&2
      rm -f "$err"
      exit 1
    fi
    rm -f "$err"
    t1=$(date +%s%N)
    local ms=$(( (t1 - t0) / 1000000 ))
    if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
  done
  echo "$best"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# report NAME MS FLOOR_MS LIMIT: one line, ratio against the floor and the goal
report() {
  local r; r=$(ratio "$2" "$3")
  local verdict; verdict=$(awk -v r="$r" -v l="$4" 'BEGIN { print (r <= l ? "ok" : "OVER") }')
  printf '%-48s %7s ms   floor %7s ms   ratio %5s   goal <= %s  %s\n' "$1" "$2" "$3" "$r" "$4" "$verdict"
}

# a sandbox cluster for the run, removed on exit
start_sandbox() {
  envfile=$(mktemp /tmp/migrun-bench-XXXXXX.env)
  local t0 t1
  t0=$(date +%s%N)
  "$MIGRUN" sandbox start --env-file "$envfile" >/dev/null
  t1=$(date +%s%N)
  SANDBOX_MS=$(( (t1 - t0) / 1000000 ))
  trap '"$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true' EXIT
  set -a; . "$envfile"; set +a
}
