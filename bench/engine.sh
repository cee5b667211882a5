#!/usr/bin/env bash
# Engine benchmark (issue 12), every row a ratio against its floor in the same run, interleaved:
#  - a playbook of $N phases, each one small DDL statement, one expectation and a rollback, on
#    a fresh database, against `psql -1 -f` of the same $N statements (goal <= 1.2x); then on a
#    database whose ledger migrun made before (every run but a database's first); and a psql
#    script that commits a ledger row per migration against psql -1 (for reference)
#  - the rerun with everything applied (a no-op; goal < 300 ms)
#  - a 1M-row INSERT ... SELECT as the one SQL step of a phase, against the same statement in
#    psql (goal <= 1.03x)
#  - `migrun status PLAYBOOK` against the psql binary running `select 1` (goal <= 1.0x), the
#    same on a ledger of 200,000 step rows, and
#    `migrun --version` against `psql --version` (process start, no work)
# LATENCY_US=500 puts both behind bench/delayproxy.c (500 us each way: a server 1 ms away).
# ROWS=0 leaves out the INSERT ... SELECT row, LEDGER_ROW=0 the psql ledger-script reference.
. "$(dirname "$0")/lib.sh"
start_sandbox
tmp=$(mktemp -d /tmp/migrun-bench-XXXXXX)
cleanup() {
  [ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true
  "$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
N=${N:-300}
ROWS=${ROWS:-1000000}
behind_proxy "$tmp"
echo "$(load) at the start; psql is $PSQL"
sfx=${LATENCY_US:+ @${LATENCY_US}us}

{
  echo 'playbook "bench" {'
  for i in $(seq -w 1 "$N"); do
    echo "  phase \"p$i\" { sql [[CREATE TABLE t$i (id bigint PRIMARY KEY, note text)]], verify = { expect.exists \"t$i\" }, rollback = sql [[DROP TABLE t$i]] },"
  done
  echo '}'
} > "$tmp/pb.lua"
for i in $(seq -w 1 "$N"); do echo "CREATE TABLE t$i (id bigint PRIMARY KEY, note text);"; done > "$tmp/all.sql"
{
  echo "CREATE TABLE ledger (id serial PRIMARY KEY, name text, applied_at timestamptz DEFAULT now());"
  for i in $(seq -w 1 "$N"); do
    echo "BEGIN; CREATE TABLE t$i (id bigint PRIMARY KEY, note text); INSERT INTO ledger (name) VALUES ('t$i'); COMMIT;"
  done
} > "$tmp/ledger.sql"

# fresh databases are made before the clock starts
fresh() { dropdb --if-exists "$1" 2>/dev/null; createdb "$1"; }
prep_m() { fresh m; }
prep_p() { fresh p; }
prep_l() { fresh l; }
run_migrun() { "$MIGRUN" --db "dbname=m" --quiet "$tmp/pb.lua"; }
run_psql() { psql -X -q -v ON_ERROR_STOP=1 -1 -d p -f "$tmp/all.sql"; }
run_ledger() { psql -X -q -v ON_ERROR_STOP=1 -d l -f "$tmp/ledger.sql"; }
PREP_A=prep_m PREP_B=prep_p ab "run, $N phases vs psql -1 -f$sfx" 1.2 run_migrun run_psql
# the same on a database migrun has run on before: its ledger is there (made once per database,
# untimed, by another playbook), as on every run but a database's first
echo 'playbook "other" { phase "one" { sql [[CREATE TABLE other (id bigint)]], rollback = sql [[DROP TABLE other]] } }' > "$tmp/other.lua"
prep_w() { fresh w; "$MIGRUN" --db "dbname=w" --quiet "$tmp/other.lua"; }
run_warm() { "$MIGRUN" --db "dbname=w" --quiet "$tmp/pb.lua"; }
PREP_A=prep_w PREP_B=prep_p ab "  the same, the ledger made before$sfx" 1.2 run_warm run_psql
[ "${LEDGER_ROW:-1}" = 0 ] || PREP_A=prep_l PREP_B=prep_p ab "  (psql, tx + ledger row per migration) vs psql -1$sfx" - run_ledger run_psql

fresh rerun
"$MIGRUN" --db "dbname=rerun" --quiet "$tmp/pb.lua" >/dev/null
rerun_ms=$(RUNS=5 best_ms "$MIGRUN" --db "dbname=rerun" --quiet "$tmp/pb.lua")
printf '%-46s %7s ms  goal < 300 ms (best of 5)\n' "rerun, all $N phases applied (a no-op)$sfx" "$rerun_ms"

if [ "$ROWS" -gt 0 ]; then
# 1M rows copied by one statement: in a phase (its transaction, ledger rows, row counts, the
# run's durable last commit) against psql's autocommit statement
cat > "$tmp/big.lua" <<'LUA'
playbook "big" {
  phase "copy" { sql [[INSERT INTO dst SELECT * FROM src]], rollback = sql [[TRUNCATE dst]] },
}
LUA
for d in bm bp; do
  fresh "$d"
  psql -X -q -d "$d" -c "CREATE TABLE src AS SELECT g AS id, md5(g::text) AS note, now() AS at FROM generate_series(1, $ROWS) g" -c "VACUUM ANALYZE src"
done
# the ledger stays (a database migrun has run on before): only this playbook's rows go, so
# each round is the same migration, new again
prep_bm() { psql -X -q -d bm -c "DROP TABLE IF EXISTS dst; CREATE TABLE dst (LIKE src)" \
                 -c "DELETE FROM migrun.steps WHERE playbook = 'big'" -c "DELETE FROM migrun.plan_steps WHERE playbook = 'big'" \
                 -c "DELETE FROM migrun.runs WHERE playbook = 'big'" -c "CHECKPOINT"; }
prep_bp() { psql -X -q -d bp -c "DROP TABLE IF EXISTS dst; CREATE TABLE dst (LIKE src); CHECKPOINT"; }
big_migrun() { "$MIGRUN" --db "dbname=bm" --quiet "$tmp/big.lua"; }
big_psql() { psql -X -q -v ON_ERROR_STOP=1 -d bp -c "INSERT INTO dst SELECT * FROM src"; }
psql -X -q -d bm -c "CREATE TABLE dst (LIKE src)"
"$MIGRUN" --db "dbname=bm" --quiet "$tmp/big.lua" >/dev/null     # the ledger, made once
PREP_A=prep_bm PREP_B=prep_bp ab "INSERT ... SELECT of $ROWS rows vs psql$sfx" 1.03 big_migrun big_psql
fi

# status: the ledger of a 10-phase playbook, against the psql binary's `select 1`
head -11 "$tmp/pb.lua" > "$tmp/small.lua"; echo '}' >> "$tmp/small.lua"
fresh st
"$MIGRUN" --db "dbname=st" --quiet "$tmp/small.lua" >/dev/null
st_migrun() { "$MIGRUN" --db "dbname=st" status "$tmp/small.lua"; }
st_bare() { "$MIGRUN" --db "dbname=st" status; }
st_psql() { psql -X -d st -c "select 1"; }
ver_migrun() { "$MIGRUN" --version; }
ver_psql() { psql --version; }
ROUNDS=$((ROUNDS * 4)) ab "status PLAYBOOK vs psql -c 'select 1'$sfx" 1.0 st_migrun st_psql
ROUNDS=$((ROUNDS * 4)) ab "  status (no playbook) vs psql -c 'select 1'$sfx" 1.0 st_bare st_psql
ROUNDS=$((ROUNDS * 4)) ab "  migrun --version vs psql --version" - ver_migrun ver_psql
# a ledger some years old: 2,000 runs of 100 steps (status reads the step rows of the latest 20)
fresh stbig
"$MIGRUN" --db "dbname=stbig" --quiet "$tmp/small.lua" >/dev/null
psql -X -q -d stbig -c "INSERT INTO migrun.runs (playbook, playbook_checksum, target, migrun_version, status)
                         SELECT 'old' || g, 'x', 't', '0', 'succeeded' FROM generate_series(1, 2000) g" \
  -c "INSERT INTO migrun.steps (run_id, playbook, phase, step, kind, status)
      SELECT r, 'old', 'p' || s, 'sql #1', 'sql', 'applied' FROM generate_series(2, 2001) r, generate_series(1, 100) s" \
  -c "VACUUM ANALYZE migrun.steps"
stbig_migrun() { "$MIGRUN" --db "dbname=stbig" status; }
stbig_psql() { psql -X -d stbig -c "select 1"; }
ROUNDS=$((ROUNDS * 2)) ab "  status, a ledger of 200,000 step rows$sfx" 1.0 stbig_migrun stbig_psql
echo "$(load) at the end"
