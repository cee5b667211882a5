#!/usr/bin/env bash
# bench/backfill.sh [ROWS...]: migrun's `backfill` against one UPDATE of the same rows, on
# tables of 1M and 10M rows (default), in a sandbox. Prints each time, the ratio (goal <= 1.10),
# the longest batch against its 200 ms target, the growth from the first size to the last
# (goal: linear, <= 10.5x for 10x the rows) and migrun's peak RSS (goal < 30 MB).
. "$(dirname "$0")/lib.sh"
start_sandbox
tmp=$(mktemp -d /tmp/migrun-bench-XXXXXX)
trap '"$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000000 10000000)
cat > "$tmp/pb.lua" <<'LUA'
playbook "backfill bench" {
  phase "fill" { transaction = false,
    backfill "accounts" { set = "norm = lower(trim(email))", where = "norm IS NULL" },
    rollback = backfill "accounts" { set = "norm = NULL", where = "norm IS NOT NULL" } },
}
LUA
createdb src
first_ms= first_update=
for n in "${sizes[@]}"; do
  psql -X -q -d src -c "DROP TABLE IF EXISTS seed; CREATE TABLE seed AS SELECT g::bigint AS id, ' User' || g || '@Example.COM ' AS email, NULL::text AS norm FROM generate_series(1, $n) g;"
  fresh() {   # $1: database name; a copy of the seed table with its primary key, analysed
    dropdb --if-exists "$1"; createdb "$1"
    psql -X -q -d src -c "COPY seed TO STDOUT" | psql -X -q -d "$1" -c "CREATE TABLE accounts (id bigint PRIMARY KEY, email text, norm text); COPY accounts FROM STDIN; ANALYZE accounts"
  }
  best_update= best_fill= max_batch= rss= ratios=() cuts=0 batches=0
  for _ in $(seq "$RUNS"); do
    fresh u
    t0=$(date +%s%N); psql -X -q -d u -c "UPDATE accounts SET norm = lower(trim(email)) WHERE norm IS NULL" >/dev/null; t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 )); { [ -z "$best_update" ] || [ "$ms" -lt "$best_update" ]; } && best_update=$ms
    u_ms=$ms
    fresh b
    t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$tmp/rss" "$MIGRUN" --db "dbname=b" --quiet --report "$tmp/r.md" "$tmp/pb.lua" >/dev/null
    t1=$(date +%s%N)
    ms=$(( (t1 - t0) / 1000000 )); { [ -z "$best_fill" ] || [ "$ms" -lt "$best_fill" ]; } && best_fill=$ms
    ratios+=("$(ratio "$ms" "$u_ms")")
    batch=$(lua5.4 -e 'local f = io.open(arg[1]); local s = f:read("a"); print(s:match([["max_batch_ms":([%d%.]+)]]))' "$tmp/r.json" 2>/dev/null ||
            grep -o '"max_batch_ms":[0-9.]*' "$tmp/r.json" | cut -d: -f2)
    max_batch=$(awk -v a="${max_batch:-0}" -v b="${batch:-0}" 'BEGIN { print (a > b ? a : b) }')
    # batches that ran past the target: cancelled by its statement_timeout, tried again smaller
    cuts=$(( cuts + $(grep -o '"cut":[0-9]*' "$tmp/r.json" | head -1 | cut -d: -f2) ))
    batches=$(( batches + $(grep -o '"batches":[0-9]*' "$tmp/r.json" | head -1 | cut -d: -f2) ))
    r=$(cat "$tmp/rss"); { [ -z "$rss" ] || [ "$r" -gt "$rss" ]; } && rss=$r
  done
  report "backfill, $n rows (best of $RUNS each)" "$best_fill" "$best_update" 1.10
  printf '%-48s %7s     per round [%s], %s\n' "  median of the per-round ratios" "$(median "${ratios[@]}")" \
    "${ratios[*]}" "$(load)"
  printf '%-48s %7.0f ms   target 200 ms\n' "  longest batch" "$max_batch"
  printf '%-48s %7d      of %d batches, in all the rounds\n' "  batches cut at the target and redone" "$cuts" "$batches"
  printf '%-48s %7d MB   goal < 30 MB\n' "  migrun peak RSS" "$(( rss / 1024 ))"
  if [ -z "$first_ms" ]; then first_ms=$best_fill; first_update=$best_update; first_n=$n; else
    printf '%-48s %7s x   for %sx the rows (goal <= 10.5x for 10x)\n' "  growth from $first_n rows" \
      "$(ratio "$best_fill" "$first_ms")" "$(( n / first_n ))"
    printf '%-48s %7s x   the server alone, for comparison\n' "  the UPDATE's growth from $first_n rows" \
      "$(ratio "$best_update" "$first_update")"
  fi
done
