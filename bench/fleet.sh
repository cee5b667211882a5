#!/usr/bin/env bash
# Fleet benchmark (issue: fleets of databases with canary waves): N (50) databases over two
# sandbox clusters; a small two-phase playbook run on every one of them by a shell loop
# (`migrun run PLAYBOOK --db T --yes`, one target after the other) against
# `migrun run PLAYBOOK --fleet FLEET --yes` with concurrency = 8 (one wave). Goal: the fleet in
# at most 0.3x the loop's time. Each run of a side is a playbook of its own (a new migration on
# the same databases, their ledgers already there from an untimed warm-up); the two sides are
# interleaved, $ROUNDS pairs, and the median of the per-pair ratios is the verdict (lib.sh ab).
#   WAIT_MS=200 bench/fleet.sh    adds a phase waiting that long in the server (pg_sleep): the
#                                 share of a production migration spent in the server, not in
#                                 this machine's CPU; printed as a second line
# The children and both servers share this machine's cores: with fewer cores than the
# concurrency, the fleet is bounded by CPU (see docs/fleet.md).
. "$(dirname "$0")/lib.sh"
N=${N:-50}
CONCURRENCY=${CONCURRENCY:-8}
WAIT_MS=${WAIT_MS:-}

start_sandbox                                        # cluster A: $envfile, PG* exported
A="host=$PGHOST port=$PGPORT user=$PGUSER"
envfile2=$(mktemp /tmp/migrun-bench-XXXXXX.env)
tmp=$(mktemp -d /tmp/migrun-bench-fleet-XXXXXX)
trap '"$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true
      "$MIGRUN" sandbox stop --env-file "$envfile2" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
"$MIGRUN" sandbox start --env-file "$envfile2" >/dev/null
B=$(set -a; . "$envfile2"; echo "host=$PGHOST port=$PGPORT user=$PGUSER")

# the databases: half on each cluster, and the fleet file listing them
targets=()
for i in $(seq "$N"); do
  if (( i % 2 )); then c=$A; else c=$B; fi
  psql -X -q -d "$c dbname=postgres" -c "CREATE DATABASE fleet_$i"
  targets+=("$c dbname=fleet_$i")
done
{
  echo "fleet { name = \"bench\", concurrency = $CONCURRENCY, targets = {"
  for t in "${targets[@]}"; do echo "  \"$t\","; done
  echo "} }"
} > "$tmp/fleet.lua"

# playbook FILE NAME [WAIT_MS]: a new migration: create a table, fill it (and wait in the server)
playbook() {
  local wait=""
  [ -n "${3:-}" ] && wait="SELECT pg_sleep($3 / 1000.0);"
  cat > "$1" <<LUA
playbook "$2" {
  phase "create $2" {
    sql [[CREATE TABLE $2 (id bigint PRIMARY KEY, note text)]],
    rollback = sql [[DROP TABLE $2]],
  },
  phase "fill $2" {
    sql [[$wait INSERT INTO $2 SELECT g, md5(g::text) FROM generate_series(1, 1000) g]],
    verify = { expect.count("$2", 1000) },
    rollback = sql [[TRUNCATE $2]],
  },
}
LUA
}

# each run of a side is a new migration on the same databases: PREP_A / PREP_B write it
# (untimed, in this shell: the timed sides run in a subshell)
n=0
prep_fleet() { n=$((n + 1)); playbook "$tmp/fleet_side.lua" "f_${n}" "$wait_ms"; rm -rf "$tmp/reports"; }
prep_loop() { n=$((n + 1)); playbook "$tmp/loop_side.lua" "l_${n}" "$wait_ms"; }
fleet_side() {
  "$MIGRUN" run "$tmp/fleet_side.lua" --fleet "$tmp/fleet.lua" --yes --report "$tmp/reports/fleet.md"
}
loop_side() {
  local t
  for t in "${targets[@]}"; do "$MIGRUN" run "$tmp/loop_side.lua" --db "$t" --yes || return 1; done
}

# warm-up, untimed: every database gets its ledger (and its first connection)
playbook "$tmp/warmup.lua" warmup
"$MIGRUN" run "$tmp/warmup.lua" --fleet "$tmp/fleet.lua" --yes --report "$tmp/reports/warmup.md" >/dev/null

echo "$N databases over two clusters, concurrency $CONCURRENCY; $(load)"
PREP_A=prep_fleet PREP_B=prep_loop
wait_ms=""
ab "run --fleet vs a loop of migrun run ($N dbs)" 0.3 fleet_side loop_side
if [ -n "$WAIT_MS" ]; then
  wait_ms=$WAIT_MS
  ab "  the same, $WAIT_MS ms of server work a target" 0.3 fleet_side loop_side
fi
