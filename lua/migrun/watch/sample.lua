--- migrun.watch.sample: the figures a watch window reads, each read ONE statement (policy
-- layer over migrun.db). pg_stat_database (commits, rollbacks, deadlocks, temp bytes) and
-- pg_stat_activity (client connections but migrun's own session, sessions waiting on a lock)
-- for the target database, and from pg_stat_statements the per-query calls and time, summed
-- over users and nesting levels by queryid.
--
-- The per-query part never crosses the wire in full after the baseline: the baseline's arrays
-- go back once, when the window opens, into a temporary table of this session
-- (pg_temp.migrun_watch_queries: baseline and window-open figures per query), so each tick
-- joins on the server and returns one row: the counters, how many queries it compared and the
-- five that slowed down most. pg_stat_statements(false) skips the query texts file; the texts
-- are read at the baseline (to leave migrun's own statements out) and for a named breach.
local M = {}

local TEMP = "pg_temp.migrun_watch_queries"

--- sample.probe(db) -> {preloaded, extension, schema, all_stats, server_version}: can this
-- session read pg_stat_statements for every user of the database
function M.probe(db)
  local r = db:query([[
    SELECT current_setting('shared_preload_libraries') ~ '(^|[\s,"])pg_stat_statements($|[\s,"])' AS preloaded,
           (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
            WHERE e.extname = 'pg_stat_statements') AS schema,
           coalesce((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)
             OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER') AS all_stats]])[1]
  return { preloaded = r.preloaded, extension = r.schema ~= nil, schema = r.schema, all_stats = r.all_stats,
           server_version = db:server_version() }
end

-- the counters of the database and its sessions: a FROM list both statements share
local COUNTERS = [[
  d.xact_commit AS commits, d.xact_rollback AS rollbacks, d.deadlocks, d.temp_bytes,
  a.connections, a.lock_waits]]
local ACTIVITY = [[
  pg_stat_database d,
  LATERAL (SELECT count(*) FILTER (WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'
                                    AND application_name NOT LIKE 'migrun %') AS connections,
                  count(*) FILTER (WHERE wait_event_type = 'Lock') AS lock_waits
           FROM pg_stat_activity WHERE datname = d.datname) a]]

local function per_query(fn, texts)
  return string.format([[
    SELECT s.queryid, sum(s.calls)::int8 AS calls, sum(s.total_exec_time)::float8 AS total%s
    FROM %s(%s) s
    WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.queryid IS NOT NULL
    GROUP BY s.queryid]], texts and [[,
           bool_and(s.query NOT LIKE '%migrun.%' AND s.query NOT ILIKE '%pg_stat_statements%') AS theirs]] or "",
    fn, texts and "true" or "false")
end

-- schema.pg_stat_statements, quoted
local function fn_of(db, pgss)
  return db:quote_ident(pgss.schema) .. ".pg_stat_statements"
end

--- sample.baseline(db, pgss | nil, min_calls) -> {counters..., statements, q = {ids, calls,
-- totals} (array literals, kept as text for the window to send back)}: one statement. The
-- queries kept are those called at least min_calls times, migrun's own left out.
function M.baseline(db, pgss, min_calls)
  if not pgss then
    return db:query("SELECT " .. COUNTERS .. " FROM " .. ACTIVITY .. " WHERE d.datname = current_database()")[1]
  end
  local r = db:query(string.format([[
    SELECT %s, q.n AS statements, q.kept, q.ids, q.calls AS q_calls, q.totals
    FROM %s,
    LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE theirs AND calls >= $1) AS kept,
                    coalesce(array_agg(queryid) FILTER (WHERE theirs AND calls >= $1), '{}')::text AS ids,
                    coalesce(array_agg(calls) FILTER (WHERE theirs AND calls >= $1), '{}')::text AS calls,
                    coalesce(array_agg(total) FILTER (WHERE theirs AND calls >= $1), '{}')::text AS totals
             FROM (%s) x) q
    WHERE d.datname = current_database()]], COUNTERS, ACTIVITY, per_query(fn_of(db, pgss), true)), min_calls)[1]
  r.q = { ids = r.ids, calls = r.q_calls, totals = r.totals }
  r.ids, r.q_calls, r.totals = nil, nil, nil
  return r
end

--- sample.open(db, pgss, base): the window's reference on the server, this session's
-- temporary table of baseline and window-open figures per query (two statements, once)
function M.open(db, pgss, base)
  db:exec("DROP TABLE IF EXISTS " .. TEMP)
  db:exec(string.format([[
    CREATE TEMP TABLE migrun_watch_queries AS
    SELECT b.queryid, b.calls AS base_calls, b.total AS base_total,
           coalesce(q.calls, 0) AS open_calls, coalesce(q.total, 0) AS open_total
    FROM unnest($1::int8[], $2::int8[], $3::float8[]) AS b(queryid, calls, total)
    LEFT JOIN (%s) q USING (queryid)]], per_query(fn_of(db, pgss), false)), base.q.ids, base.q.calls, base.q.totals)
end

--- sample.close(db): the temporary table goes (it would with the session anyway)
function M.close(db)
  if db:status() == "idle" then pcall(db.exec, db, "DROP TABLE IF EXISTS " .. TEMP) end
end

--- sample.FLUSH: this session's statistics reach the shared counters when the statement that
-- calls it ends (PostgreSQL 15+), so migrun's own transactions are counted when it knows them
-- (without it they arrive up to a second later, and would be counted as the application's)
M.FLUSH = "pg_stat_force_next_flush()"

local function flush(db)
  return db:server_version() >= 150000 and (", " .. M.FLUSH .. " AS flushed") or ""
end

--- sample.flush(db): this session's pending statistics go to the shared counters now
function M.flush(db)
  if db:server_version() >= 150000 then db:exec("SELECT " .. M.FLUSH) end
end

--- sample.tick_sql(db, pgss | nil) -> the statement of one tick ($1: min_calls when pgss):
-- one row, the counters, and with pg_stat_statements `compared` (queries with min_calls calls
-- before and in the window) and `worst` (JSON: the five that slowed down most, queryid as text)
function M.tick_sql(db, pgss)
  if not pgss then
    return "SELECT " .. COUNTERS .. flush(db) .. " FROM " .. ACTIVITY .. " WHERE d.datname = current_database()"
  end
  return string.format([[
    WITH q AS (%s),
    w AS (SELECT b.queryid, b.base_calls, b.base_total / b.base_calls AS base_mean,
                 CASE WHEN q.calls >= b.open_calls THEN q.calls - b.open_calls ELSE q.calls END AS calls,
                 CASE WHEN q.calls >= b.open_calls THEN q.total - b.open_total ELSE q.total END AS total
          FROM %s b JOIN q USING (queryid)
          WHERE b.base_calls >= $1),
    c AS (SELECT queryid, base_calls, base_mean, calls, total / calls AS mean,
                 (total / calls / nullif(base_mean, 0) - 1) * 100 AS slower_pct
          FROM w WHERE calls >= $1)
    SELECT %s%s,
           (SELECT count(*) FROM c) AS compared,
           (SELECT json_agg(t)::text FROM (SELECT queryid::text AS queryid, base_calls, base_mean, calls, mean,
                                                  slower_pct
                                           FROM c ORDER BY slower_pct DESC NULLS LAST LIMIT 5) t) AS worst
    FROM %s
    WHERE d.datname = current_database()]], per_query(fn_of(db, pgss), false), TEMP, COUNTERS, flush(db), ACTIVITY)
end

--- sample.take(db, sql, pgss, min_calls) -> one row of tick_sql, `worst` decoded (a list)
function M.take(db, sql, pgss, min_calls)
  local r = pgss and db:query(sql, min_calls)[1] or db:query(sql)[1]
  if pgss then
    r.worst = r.worst and require("migrun.json").decode(r.worst) or {}
  end
  return r
end

--- sample.query_texts(db, pgss, ids) -> {[queryid] = text on one line, at most 300 bytes}
-- (reads the texts file: for breaches and the report, never each tick)
function M.query_texts(db, pgss, ids)
  local r = db:query(string.format([[
    SELECT DISTINCT ON (queryid) queryid::text AS id, left(regexp_replace(query, '\s+', ' ', 'g'), 300) AS query
    FROM %s(true)
    WHERE queryid = ANY ($1::int8[]) AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY queryid]], fn_of(db, pgss)), "{" .. table.concat(ids, ",") .. "}")
  local map = {}
  for i = 1, r.n do map[r[i].id] = r[i].query end
  return map
end

return M
