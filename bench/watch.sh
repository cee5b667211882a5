#!/usr/bin/env bash
# bench/watch.sh: what one tick of a watch window costs (issue 14), on a database whose
# pg_stat_statements holds ~5,000 distinct statements, every one kept for comparison (the
# worst case: min_calls = 1, and every statement called again in the window). A tick is the sampling statement (migrun.watch.sample: one round
# trip) and migrun's own small transaction (the ledger row). Measured over TICKS ticks:
#   wall ms per tick (goal < 20 ms),
#   client CPU per tick (os.clock of the migrun process),
#   server CPU per tick (utime + stime of the backend, from /proc/PID/stat; the sampling
#   statement's own mean from pg_stat_statements beside it),
#   CPU share of one core at every = "15s": (client + server) / 15 s (goal < 1%).
# The floor is `SELECT 1` over the same connection (one round trip, no work).
. "$(dirname "$0")/lib.sh"
start_sandbox
tmp=$(mktemp -d /tmp/migrun-bench-XXXXXX)
trap '"$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
STATEMENTS=${STATEMENTS:-5000}
TICKS=${TICKS:-300}

createdb w
psql -X -q -d w -c "CREATE TABLE t (c0 int, c1 int, c2 int, c3 int, c4 int, c5 int, c6 int, c7 int, c8 int, c9 int)"
# distinct shapes, not constants (pg_stat_statements folds those): the four digits of n pick
# the columns of four conditions, so each n is a different parse tree
awk -v n="$STATEMENTS" 'BEGIN { for (i = 0; i < n; i++) {
  a = int(i / 1000) % 10; b = int(i / 100) % 10; c = int(i / 10) % 10; d = i % 10
  printf "SELECT count(*) FROM t WHERE c%d = %d AND c%d = 2 AND c%d > 3 AND c%d < 4;\n", a, i, b, c, d } }' > "$tmp/shapes.sql"
psql -X -q -d w -c "SELECT pg_stat_statements_reset()" >/dev/null
psql -X -q -d w -f "$tmp/shapes.sql" >/dev/null

cat > "$tmp/tick.lua" <<'LUA'
local clock = require "migrun.clock"
local ledger = require "migrun.ledger"
local sample = require "migrun.watch.sample"
local ticks = tonumber(arg[1])
ledger.ensure(db)
local pid = db:backend_pid()
-- utime + stime of a process, in seconds (clock ticks of 1/100 s)
local function cpu_of(p)
  local f = assert(io.open("/proc/" .. p .. "/stat"))
  local s = f:read("a")
  f:close()
  local rest = s:match("%) (.*)$")
  local fields = {}
  for x in rest:gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100     -- fields 14 and 15 of stat
end
local pgss = sample.probe(db)
local t = clock.now()
local base = sample.baseline(db, pgss, 1)
local base_ms = clock.since(t) / 1e6
t = clock.now()
sample.open(db, pgss, base)
local open_ms = clock.since(t) / 1e6
-- every statement runs again once the window is open: each one is compared at every tick
for line in io.lines(arg[2]) do db:exec(line) end
local sql = sample.tick_sql(db, pgss)
local function tick(full)
  local fig = sample.take(db, sql, pgss, 1)
  if full then
    local tx <close> = db:begin()
    ledger.record_sample(db, 1, { watch = "bench", tick = 1, at_seconds = 0, metrics = { commits = fig.commits },
                                  breaches = {} })
    sample.flush(db)
    tx:commit()
  end
  return fig
end
local function measure(fn)
  for _ = 1, 10 do fn() end                           -- warm: plans, caches
  local walls = {}
  local c0, s0, w0 = os.clock(), cpu_of(pid), clock.now()
  for i = 1, ticks do
    local ti = clock.now()
    fn()
    walls[i] = clock.since(ti) / 1e6
  end
  local wall = clock.since(w0) / 1e6 / ticks
  local client = (os.clock() - c0) * 1000 / ticks
  local server = (cpu_of(pid) - s0) * 1000 / ticks
  table.sort(walls)
  return wall, walls[math.floor(ticks / 2)], walls[math.floor(ticks * 0.95)], client, server
end
local floor = { measure(function() db:query("SELECT 1") end) }
-- what reading pg_stat_statements costs by itself, without migrun's joins and aggregates
local pgss_floor = { measure(function()
  db:query("SELECT count(*) AS n FROM " .. db:quote_ident(pgss.schema) .. ".pg_stat_statements(false)")
end) }
local samp = { measure(function() tick(false) end) }
local full = { measure(function() tick(true) end) }
local fig = tick(false)
local own = db:query([[SELECT calls, mean_exec_time AS ms FROM pg_stat_statements
                       WHERE query LIKE '%migrun_watch_queries b JOIN q%' ORDER BY calls DESC LIMIT 1]])[1]
local n = db:query("SELECT count(*) AS n FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database " ..
                   "WHERE datname = current_database())")[1].n
print(string.format("statements %d kept %d compared %d baseline_ms %.1f open_ms %.1f", n, base.kept,
                    fig.compared, base_ms, open_ms))
print(string.format("floor %.3f %.3f %.3f %.3f %.3f", table.unpack(floor)))
print(string.format("pgss %.3f %.3f %.3f %.3f %.3f", table.unpack(pgss_floor)))
print(string.format("sample %.3f %.3f %.3f %.3f %.3f", table.unpack(samp)))
print(string.format("full %.3f %.3f %.3f %.3f %.3f", table.unpack(full)))
print(string.format("statement_mean_ms %.3f", own and own.ms or -1))
LUA

out=$("$MIGRUN" --db "dbname=w" "$tmp/tick.lua" "$TICKS" "$tmp/shapes.sql")
echo "$out" | head -1 | awk '{ printf "pg_stat_statements: %d statements in the database, %d kept by the baseline, %d compared a tick\n", $2, $4, $6
                               printf "once: baseline %s ms (reads the query texts), window open %s ms\n", $8, $10 }'
stmt=$(echo "$out" | awk '$1 == "statement_mean_ms" { print $2 }')
echo "$out" | awk -v stmt="$stmt" '
  $1 == "floor" { fw = $2 }
  $1 == "pgss" { pw = $2; pc = $5 + $6
    printf "%-40s wall %6.2f ms, client + server CPU %.2f ms (the floor of any per-query sampling)\n",
      "reading pg_stat_statements alone", $2, pc }
  $1 == "sample" || $1 == "full" {
    what = $1 == "sample" ? "the sampling statement" : "a whole tick (sample + ledger row)"
    cpu = $5 + $6
    printf "%-40s wall %6.2f ms (median %.2f, p95 %.2f; SELECT 1 %.2f; %.2fx reading pg_stat_statements alone)" \
      "  goal < 20 ms  %s\n", what, $2, $3, $4, fw, (pw > 0 ? $2 / pw : 0), ($2 < 20 ? "ok" : "OVER")
    printf "%-40s client CPU %.2f ms + server CPU %.2f ms = %.2f ms a tick: %.4f%% of one core at every = 15s" \
      "  goal < 1%%  %s\n", "", $5, $6, cpu, cpu / 15000 * 100, (cpu / 15000 * 100 < 1 ? "ok" : "OVER")
    printf "%-40s CPU %.2fx reading pg_stat_statements alone\n", "", (pc > 0 ? cpu / pc : 0)
  }
  END { printf "%-40s server execution %.2f ms a tick (pg_stat_statements of the statement itself)\n", "", stmt }'
