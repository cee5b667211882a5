#!/usr/bin/env bash
# bench/all.sh: every row of bench/README.md's table, one script after the other (it takes a
# long while: the backup rows alone restore and dump a ~440 MB database several times). Not
# in CI. Each script starts its own sandbox cluster; the rows land in $BENCH_TSV, printed as
# the README's table (markdown) at the end, with the date and the load.
#   bench/all.sh                 ROUNDS=5 (interleaved pairs per row), MIGRUN=path/to/migrun
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export BENCH_TSV=${BENCH_TSV:-$(mktemp /tmp/migrun-bench-all-XXXXXX.tsv)}
export ROUNDS=${ROUNDS:-5}
: > "$BENCH_TSV"
status=0
step() { echo "== $*"; "$@" || status=1; }
step bash "$here/engine.sh"
LATENCY_US=500 ROWS=0 LEDGER_ROW=0 step bash "$here/engine.sh"
step bash "$here/check.sh"
step bash "$here/core.sh"
step bash "$here/lint.sh"
step bash "$here/backfill.sh" 200000
step bash "$here/backfill-shape.sh" 200000 10000
MIGRUN_BIN=${MIGRUN:-} step bash "$here/backup.sh" "${BACKUP_ROUNDS:-3}"
echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| row | migrun | floor | ratio (median of pairs) [min-max] | goal | load |"
echo "|---|---|---|---|---|---|"
awk -F'\t' '{ printf "| %s | %s ms | %s ms | **%s** [%s-%s] %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $8, $7, $9 }' "$BENCH_TSV"
exit $status
