#!/usr/bin/env bash
# Core benchmarks (issue: the migrun binary and the db module), as ratios against psql, the two
# interleaved (ab in lib.sh: median of the per-pair ratios):
#  - stream 1M rows through conn:rows in a Lua loop vs psql -At > /dev/null; peak RSS
#  - 10,000 single-row parameterized queries vs psql -f of the same 10,000 statements
#  - migrun --version; sandbox ready time
. "$(dirname "$0")/lib.sh"
start_sandbox
SQL="SELECT g, md5(g::text) FROM generate_series(1, 1000000) g"
tmp=$(mktemp -d /tmp/migrun-bench-XXXXXX)
trap '"$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

cat > "$tmp/stream.lua" <<LUA
local n = 0
for row in db:rows("$SQL") do n = n + #row.md5 end
assert(n == 32 * 1000000)
for line in io.lines("/proc/self/status") do
  local kb = line:match("^VmHWM:%s+(%d+)")
  if kb then io.stderr:write(kb, "\n") end
end
LUA
stream() { "$MIGRUN" "$tmp/stream.lua"; }
stream_psql() { psql -X -At -c "$SQL"; }
ab "stream 1M rows (conn:rows) vs psql -At" 1.3 stream stream_psql
rss_kb=$("$MIGRUN" "$tmp/stream.lua" 2>&1 >/dev/null | tail -1)
printf '%-48s %7s MB   goal <= 30 MB\n' "  peak RSS of that migrun run" "$(( rss_kb / 1024 ))"

cat > "$tmp/many.lua" <<'LUA'
local s = 0
for i = 1, 10000 do s = s + db:query("SELECT $1::int + 1 AS x", i)[1].x end
assert(s == 10000 * 10001 // 2 + 10000)
LUA
for i in $(seq 10000); do echo "SELECT $i + 1 AS x;"; done > "$tmp/many.sql"
many() { "$MIGRUN" "$tmp/many.lua"; }
many_psql() { psql -X -q -f "$tmp/many.sql"; }
ab "10,000 parameterized queries vs psql -f" 1.2 many many_psql

t0=$(date +%s%N)
for _ in $(seq 100); do "$MIGRUN" --version >/dev/null; done
t1=$(date +%s%N)
printf '%-48s %7s ms   goal < 5 ms\n' "migrun --version (mean of 100)" "$(awk -v n=$(( t1 - t0 )) 'BEGIN { printf "%.2f", n / 100 / 1e6 }')"
printf '%-48s %7s ms   goal < 3000 ms\n' "sandbox ready (initdb + start + accepting)" "$SANDBOX_MS"
