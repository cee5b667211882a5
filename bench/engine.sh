#!/usr/bin/env bash
# Engine benchmark (issue: the playbook engine): a playbook of 300 phases, each one small DDL
# statement plus one expectation, on a fresh database, against `psql -1 -f` of the same 300
# statements; and the rerun (everything applied), which should take under 0.3 s.
. "$(dirname "$0")/lib.sh"
start_sandbox
tmp=$(mktemp -d /tmp/migrun-bench-XXXXXX)
trap '"$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
N=${N:-300}
{
  echo 'playbook "bench300" {'
  for i in $(seq -w 1 "$N"); do
    echo "  phase \"p$i\" { sql [[CREATE TABLE t$i (id int PRIMARY KEY, note text)]], verify = { expect.exists \"t$i\" } },"
  done
  echo '}'
} > "$tmp/pb.lua"
for i in $(seq -w 1 "$N"); do echo "CREATE TABLE t$i (id int PRIMARY KEY, note text);"; done > "$tmp/all.sql"
# the issue's other reference point: a psql script that writes a ledger row per migration
{
  echo "CREATE TABLE ledger (id serial PRIMARY KEY, name text, applied_at timestamptz DEFAULT now());"
  for i in $(seq -w 1 "$N"); do
    echo "BEGIN; CREATE TABLE t$i (id int PRIMARY KEY, note text); INSERT INTO ledger (name) VALUES ('t$i'); COMMIT;"
  done
} > "$tmp/ledger.sql"

# fresh databases are made before the clock starts: best_ms runs each command $RUNS times
for i in $(seq "$RUNS"); do createdb "m$i"; createdb "p$i"; createdb "l$i"; done
createdb rerun
m=0; p=0; l=0
run_migrun() { m=$((m + 1)); "$MIGRUN" --db "dbname=m$m" --quiet "$tmp/pb.lua"; }
run_psql() { p=$((p + 1)); psql -X -q -v ON_ERROR_STOP=1 -1 -d "p$p" -f "$tmp/all.sql"; }
run_ledger() { l=$((l + 1)); psql -X -q -v ON_ERROR_STOP=1 -d "l$l" -f "$tmp/ledger.sql"; }
mig_ms=$(best_ms run_migrun)
psql_ms=$(best_ms run_psql)
ledger_ms=$(best_ms run_ledger)
report "migrun run, $N phases (fresh database)" "$mig_ms" "$psql_ms" 1.5
printf '%-48s %7s ms   ratio %5s   (the issue quotes 1.8x for this one)\n' \
  "  psql, a transaction + ledger row per migration" "$ledger_ms" "$(ratio "$ledger_ms" "$psql_ms")"
rerun_db=rerun
"$MIGRUN" --db "dbname=$rerun_db" --quiet "$tmp/pb.lua"
rerun_ms=$(best_ms "$MIGRUN" --db "dbname=$rerun_db" --quiet "$tmp/pb.lua")
printf '%-48s %7s ms   goal < 300 ms\n' "rerun, all $N phases applied (a no-op)" "$rerun_ms"
