# bench/lib.sh: shared by the benchmark scripts. These machines are shared and noisy: a figure
# is a ratio against its floor measured in the same run, the two interleaved (ab: A B, B A, ...)
# and the median of the per-pair ratios quoted, with the load average beside it. best_ms (the
# best of $RUNS) stays for the scripts that quote absolute times.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIGRUN=${MIGRUN:-$root/build/bin/migrun}
RUNS=${RUNS:-3}
[ -x "$MIGRUN" ] || { echo "build first: scripts/build.sh build" >&2; exit 2; }
# the psql binary itself, of the newest installed major: Debian's /usr/bin/psql is a Perl
# wrapper (pg_wrapper) that adds about 50 ms of CPU to every start, which would flatter migrun
PSQL=${PSQL:-$(ls -d /usr/lib/postgresql/*/bin/psql 2>/dev/null | sort -V | tail -1)}
[ -x "${PSQL:-}" ] || PSQL=$(command -v psql)
PGBIN=$(dirname "$PSQL")
export PATH="$PGBIN:$PATH"      # psql, createdb, pg_dump, pg_restore: the binaries, every script

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

# load: the machine's load average and core count, for every printed figure
load() { printf 'load %s on %s cores' "$(cut -d' ' -f1-3 /proc/loadavg)" "$(nproc)"; }

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ms_of CMD...: one timed run (wall ms); a failing command stops the bench
ms_of() {
  local t0 t1 err
  err=$(mktemp /tmp/migrun-bench-err-XXXXXX)
  t0=$(date +%s%N)
  if ! "$@" >/dev/null 2>"$err"; then
    echo "bench: command failed: $*" >&2
    cat "$err" >&2
    rm -f "$err"
    exit 1
  fi
  t1=$(date +%s%N)
  rm -f "$err"
  echo $(( (t1 - t0) / 1000000 ))
}

# ab NAME GOAL A B: the row of a table. A (migrun) and B (its floor) are commands (functions)
# run ROUNDS times each, interleaved and taking turns at going first (A B, B A, ...), so load
# that drifts hits both alike. $PREP_A / $PREP_B (function names) run untimed before each run
# of their side (a fresh database, a dropped output). Prints the medians, the median of the
# per-pair ratios A/B (the verdict) with its min and max, and the load; appends a TSV line to
# $BENCH_TSV when set (bench/all.sh builds the README table from it). Sets AB_RATIO.
ROUNDS=${ROUNDS:-5}
ab() {
  local name=$1 goal=$2 a=$3 b=$4 i ta tb
  local -a as=() bs=() rs=()
  local load0; load0=$(cut -d' ' -f1 /proc/loadavg)
  for ((i = 1; i <= ROUNDS; i++)); do
    if (( i % 2 )); then
      [ -z "${PREP_A:-}" ] || "$PREP_A" >/dev/null 2>&1; ta=$(ms_of "$a")
      [ -z "${PREP_B:-}" ] || "$PREP_B" >/dev/null 2>&1; tb=$(ms_of "$b")
    else
      [ -z "${PREP_B:-}" ] || "$PREP_B" >/dev/null 2>&1; tb=$(ms_of "$b")
      [ -z "${PREP_A:-}" ] || "$PREP_A" >/dev/null 2>&1; ta=$(ms_of "$a")
    fi
    as+=("$ta"); bs+=("$tb"); rs+=("$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')")
  done
  local ma mb r lo hi verdict load1
  ma=$(median "${as[@]}"); mb=$(median "${bs[@]}"); r=$(median "${rs[@]}")
  lo=$(printf '%s\n' "${rs[@]}" | sort -g | head -1); hi=$(printf '%s\n' "${rs[@]}" | sort -g | tail -1)
  verdict=$(awk -v r="$r" -v l="$goal" 'BEGIN { print (l == "-" ? "info" : (r <= l + 0 ? "ok" : "OVER")) }')
  load1=$(cut -d' ' -f1 /proc/loadavg)
  printf '%-46s %7s ms  floor %7s ms  ratio %5.2f [%.2f-%.2f]  goal <= %-4s %-4s load %s-%s\n' \
    "$name" "$ma" "$mb" "$r" "$lo" "$hi" "$goal" "$verdict" "$load0" "$load1"
  if [ -n "${BENCH_TSV:-}" ]; then
    printf '%s\t%s\t%s\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s-%s\t%s\n' "$name" "$ma" "$mb" "$r" "$lo" "$hi" \
      "$goal" "$verdict" "$load0" "$load1" "$ROUNDS" >> "$BENCH_TSV"
  fi
  AB_RATIO=$r
}

# report NAME MS FLOOR_MS LIMIT: one line, ratio against the floor and the goal
report() {
  local r; r=$(ratio "$2" "$3")
  local verdict; verdict=$(awk -v r="$r" -v l="$4" 'BEGIN { print (r <= l ? "ok" : "OVER") }')
  printf '%-48s %7s ms   floor %7s ms   ratio %5s   goal <= %s  %s\n' "$1" "$2" "$3" "$r" "$4" "$verdict"
  if [ -n "${BENCH_TSV:-}" ]; then     # best of $RUNS each: no per-pair spread to give
    printf '%s\t%s\t%s\t%s\t-\t-\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$r" "$4" "$verdict" \
      "$(cut -d' ' -f1 /proc/loadavg)" "${RUNS}" >> "$BENCH_TSV"
  fi
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

# behind_proxy DIR: when LATENCY_US is set, put the sandbox behind bench/delayproxy.c (built in
# DIR; LATENCY_US each way) and point PGHOST/PGPORT at it; proxy_pid is its pid ("" without)
proxy_pid=
behind_proxy() {
  [ -n "${LATENCY_US:-}" ] || return 0
  cc -O2 -o "$1/delayproxy" "$root/bench/delayproxy.c"
  local port
  port=$("$MIGRUN" -e 'io.write(require("migrun.core.sys").free_port())')
  "$1/delayproxy" "$port" "$PGHOST/.s.PGSQL.$PGPORT" "$LATENCY_US" &
  proxy_pid=$!
  export PGHOST=127.0.0.1 PGPORT=$port
  for _ in $(seq 50); do psql -X -q -c 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
  echo "through bench/delayproxy.c: ${LATENCY_US} us each way ($(awk -v u="$LATENCY_US" 'BEGIN { print 2 * u / 1000 }') ms round trip)"
}
