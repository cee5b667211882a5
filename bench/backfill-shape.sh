#!/usr/bin/env bash
# bench/backfill-shape.sh [ROWS] [BATCH]: the two batch shapes of migrun's backfill on the
# server alone (psql, no migrun): ROWS/BATCH batches in keyset form (a pick with ORDER BY ...
# LIMIT, the UPDATE joined to it, a checkpoint, counts; one statement each: what backfill sends
# for a key that is not one integer column) and in key-range form (UPDATE ... WHERE id > lo AND
# id <= lo + BATCH and the checkpoint: what it sends for a single integer key), each against one
# UPDATE of the same rows; interleaved, fresh copies of the table before each run.
. "$(dirname "$0")/lib.sh"
start_sandbox
tmp=$(mktemp -d /tmp/migrun-bench-XXXXXX)
trap '"$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
n=${1:-200000}
B=${2:-10000}
createdb src
psql -X -q -d src -c "CREATE TABLE seed AS SELECT g::bigint AS id, ' User' || g || '@Example.COM ' AS email, NULL::text AS norm FROM generate_series(1, $n) g"
fresh() {
  dropdb --if-exists "$1" 2>/dev/null; createdb "$1"
  psql -X -q -d src -c "COPY seed TO STDOUT" | psql -X -q -d "$1" -c "CREATE TABLE accounts (id bigint PRIMARY KEY, email text, norm text); COPY accounts FROM STDIN; ANALYZE accounts; CREATE TABLE ck (k bigint)"
  psql -X -q -d "$1" -c CHECKPOINT
}
for lo in $(seq 0 "$B" $((n - 1))); do
  echo "WITH b AS (SELECT id AS k FROM accounts WHERE id > $lo AND norm IS NULL ORDER BY id LIMIT $B), w AS (UPDATE accounts SET norm = lower(trim(email)) FROM b WHERE accounts.id = b.k RETURNING 1), c AS (INSERT INTO ck SELECT max(k) FROM b RETURNING 1) SELECT (SELECT count(*) FROM b), (SELECT count(*) FROM w), (SELECT count(*) FROM c);"
done > "$tmp/keyset.sql"
for lo in $(seq 0 "$B" $((n - 1))); do
  echo "WITH w AS (UPDATE accounts SET norm = lower(trim(email)) WHERE id > $lo AND id <= $((lo + B)) AND norm IS NULL RETURNING 1), c AS (INSERT INTO ck VALUES ($((lo + B))) RETURNING 1) SELECT (SELECT count(*) FROM w), (SELECT count(*) FROM c);"
done > "$tmp/range.sql"
prep_a() { fresh a; }
prep_b() { fresh b; }
update() { psql -X -q -d b -c "UPDATE accounts SET norm = lower(trim(email)) WHERE norm IS NULL"; }
keyset() { psql -X -q -v ON_ERROR_STOP=1 -d a -f "$tmp/keyset.sql"; }
ranges() { psql -X -q -v ON_ERROR_STOP=1 -d a -f "$tmp/range.sql"; }
PREP_A=prep_a PREP_B=prep_b ab "keyset batches of $B vs one UPDATE" - keyset update
PREP_A=prep_a PREP_B=prep_b ab "key-range batches of $B vs one UPDATE" - ranges update
