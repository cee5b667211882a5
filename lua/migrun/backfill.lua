--- migrun.backfill: a built-in, resumable, throttled batch step (policy layer).
--
--   backfill "accounts" { set = "email_normalized = lower(trim(email))",
--                         where = "email_normalized IS NULL" }
--   backfill "tools" { from = "dh_tool", select = "id, name, to_jsonb(dh_tool) - 'id'",
--                      columns = { "id", "name", "metadata" }, on_conflict = "DO NOTHING" }
--
-- Batches walk the key (the primary key by default). A single integer key (smallint, integer,
-- bigint) is walked in key ranges: each batch is `UPDATE t SET ... WHERE key >= lo AND key <= hi
-- AND (where)`, no pick, no join (bench/README.md, row 11: about half the server's work of the
-- other shape). Other keys (composite, text, uuid...) are walked in keyset batches: the next n
-- rows after the last key that still match where (ORDER BY key LIMIT n, never OFFSET), updated
-- or copied through a join. Either way each batch is one statement, so its own short
-- transaction under lock_timeout, that also moves the checkpoint in migrun.backfill: after
-- kill -9, Ctrl-C or a lost connection a rerun continues from the checkpoint, never repeating a
-- batch, never skipping one. Both store the last key done as {"migrun_k1": ...}, so a run
-- interrupted under one form resumes under the other. The batch size (rows, or for ranges the
-- width in keys) tunes itself to 70% of a target duration (200 ms), and the target is a hard
-- limit: a batch still running then is cancelled by its statement_timeout, rolls back with its
-- checkpoint and is tried again at half the size, so no batch holds its row locks longer; a
-- batch that meets a lock timeout is retried as a phase is.
-- Throttles: max_rate (rows/s), max_replica_lag (replay lag of the slowest standby),
-- pause_if(db). Progress: a live line on a terminal, JSON events, and in the
-- report the throughput over time and every pause with its reason.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local hash = require "migrun.hash"
local cjson = require "cjson"
local ident = require "migrun.ident"
local json = require "migrun.json"
local sys = require "migrun.core.sys"
local term = require "migrun.core.term"
local executor = require "migrun.run.executor"

local M = {}

local KEYS = { set = "string", where = "string", key = "string|table", batch = "string|number",
               target = "string", max_rate = "string|number", max_replica_lag = "string",
               pause_if = "function", from = "string", select = "string", columns = "table",
               on_conflict = "string", name = "string", budget = "budget" }

local function parse_rate(v)
  if type(v) == "number" then return v end
  local n, k, unit = tostring(v):match("^%s*([%d%.]+)%s*([kKmM]?)%s*/%s*(%a+)%s*$")
  if not n or (unit ~= "s" and unit ~= "sec" and unit ~= "second") then return nil end
  local f = (k == "k" or k == "K") and 1e3 or (k == "m" or k == "M") and 1e6 or 1
  return tonumber(n) * f
end

--- backfill.new(tbl, t, at, helpers) -> a step {kind = "backfill", ...}; validates at load
-- (helpers: fail(at, fmt, ...), check_keys(at, what, t, keys), parse_budget, parse_duration)
function M.new(tbl, t, at, h)
  local what = string.format("backfill '%s'", tostring(tbl))
  local target, err = ident.check(tbl)
  if not target then h.fail(at, "%s: %s", what, err) end
  if type(t) ~= "table" then h.fail(at, "%s: expects a table { set = ..., where = ... }", what) end
  h.check_keys(at, what, t, KEYS)
  local copy = t.from ~= nil
  if copy then
    if not t.select then h.fail(at, "%s: the copy form needs select = \"expressions\" (from %s)", what, t.from) end
    if t.set then h.fail(at, "%s: give set (an update) or from/select (a copy), not both", what) end
    local src, serr = ident.check(t.from)
    if not src then h.fail(at, "%s: from: %s", what, serr) end
  elseif not t.set then
    h.fail(at, "%s: needs set = \"column = expression\" (an update) or from = \"table\" (a copy)", what)
  end
  if not copy and not t.where then
    h.fail(at, "%s: needs where = \"<what still needs doing>\" (e.g. \"col IS NULL\"): it makes a rerun " ..
               "skip the rows already done", what)
  end
  local keys = t.key
  if type(keys) == "string" then keys = { keys } end
  for i, k in ipairs(keys or {}) do
    if type(k) ~= "string" or k == "" then h.fail(at, "%s: key item %d must be a column name", what, i) end
  end
  local step = {
    kind = "backfill", table = tbl, name = t.name or ("backfill " .. tbl), line = at.line,
    set = t.set, where = t.where, keys = keys, from = t.from, select = t.select, columns = t.columns,
    on_conflict = t.on_conflict, pause_if = t.pause_if,
    budget = h.parse_budget(at, what, t.budget),
    target_ns = h.parse_duration(at, what .. ": target", t.target or "200ms"),
  }
  if t.batch ~= nil and t.batch ~= "auto" then
    if math.type(t.batch) ~= "integer" or t.batch < 1 then
      h.fail(at, "%s: batch must be \"auto\" or a number of rows, not %s", what, tostring(t.batch))
    end
    step.fixed_batch = t.batch
  end
  if t.max_rate ~= nil then
    step.max_rate = parse_rate(t.max_rate)
    if not step.max_rate or step.max_rate <= 0 then
      h.fail(at, "%s: max_rate is rows per second, like \"50k/s\" or 2000, not %s", what, tostring(t.max_rate))
    end
  end
  if t.max_replica_lag then step.max_lag_ns = h.parse_duration(at, what .. ": max_replica_lag", t.max_replica_lag) end
  -- what it does is its identity: a changed backfill is drift like a changed SQL file
  step.fields = { table = tbl, set = t.set, where = t.where, key = keys, from = t.from, select = t.select,
                  columns = t.columns, on_conflict = t.on_conflict }
  step.body = M.body(step.fields)
  step.checksum = hash.text(step.body)
  return step
end

local BODY_ORDER = { "table", "set", "where", "key", "from", "select", "columns", "on_conflict" }

-- "key":value pairs of the fields present, in the order given
local function body_of(fields, order)
  local parts = {}
  for _, k in ipairs(order) do
    if fields[k] ~= nil then parts[#parts + 1] = cjson.encode(k) .. ":" .. cjson.encode(fields[k]) end
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

--- backfill.body(fields) -> the JSON text a backfill's checksum is taken over, its keys always
-- in one order (a Lua table's own order changes from one process to the next)
function M.body(fields)
  return body_of(fields, BODY_ORDER)
end

--- backfill.same_text(st, checksum) -> true when checksum is st's text as migrun 0.1 recorded
-- it: the same fields in whatever order that process's table gave them (its checksum was not
-- stable, so an applied backfill could look changed to a later run)
function M.same_text(st, checksum)
  if checksum == st.checksum then return true end
  -- seven fields at most (set and from exclude each other): 5,040 orders, one hash each
  local present = {}
  for _, k in ipairs(BODY_ORDER) do if st.fields[k] ~= nil then present[#present + 1] = k end end
  local function permute(i)
    if i > #present then return hash.text(body_of(st.fields, present)) == checksum end
    for j = i, #present do
      present[i], present[j] = present[j], present[i]
      if permute(i + 1) then return true end
      present[i], present[j] = present[j], present[i]
    end
    return false
  end
  return permute(1)
end

--- backfill.describe(st) -> what it does in one line: "SET x = ... WHERE ..." or "FROM t SELECT ..."
function M.describe(st)
  if st.from then return string.format("FROM %s SELECT %s", st.from, st.select) end
  return string.format("SET %s WHERE %s", st.set, st.where)
end

--- backfill.checkpoints(db, playbook) -> {[phase .. "\0" .. step] = "after KEY, N rows done"}: where
-- each interrupted backfill of the playbook resumes (none without a ledger)
function M.checkpoints(db, playbook)
  local out = {}
  if not db:query("SELECT to_regclass('migrun.backfill') IS NOT NULL AS e")[1].e then return out end
  for _, r in ipairs(db:query([[
      SELECT phase, step, rows_done, (SELECT string_agg(value, ', ' ORDER BY key)
                                      FROM jsonb_each_text(last_key)) AS k
      FROM migrun.backfill WHERE playbook = $1]], playbook)) do
    out[r.phase .. "\0" .. r.step] = string.format("after key %s, %d rows done", r.k or "?", r.rows_done)
  end
  return out
end

-- ---------------------------------------------------------------------------------------
-- running it

-- the key columns (given, else the primary key) with their types, quoted for SQL
local function key_columns(db, rel, given)
  local oid = ident.oid(db, rel)
  if not oid then
    errors.raise("sql", "relation " .. ident.display(rel) .. " does not exist", { sqlstate = "42P01" })
  end
  local cols = {}
  if given then
    for _, k in ipairs(given) do
      local r = db:query([[SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute
                           WHERE attrelid = $1 AND attname = $2 AND attnum > 0 AND NOT attisdropped]], oid, k)[1]
      if not r then
        errors.raise("playbook", string.format("backfill: %s has no column %s (key)", ident.display(rel), k))
      end
      cols[#cols + 1] = { name = k, type = r.t }
    end
  else
    for _, r in ipairs(db:query([[
        SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS t
        FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = $1 AND i.indisprimary ORDER BY k.pos]], oid)) do
      cols[#cols + 1] = { name = r.name, type = r.t }
    end
    if #cols == 0 then
      errors.raise("playbook", string.format("backfill: %s has no primary key: give key = \"column\" " ..
        "(a unique, indexed column the batches can walk)", ident.display(rel)))
    end
  end
  for _, c in ipairs(cols) do c.q = db:quote_ident(c.name) end
  return cols
end

local function list(cols, fmt)
  local out = {}
  for i, c in ipairs(cols) do out[i] = fmt(c, i) end
  return table.concat(out, ", ")
end

-- the checkpoint's upsert, as a CTE over the batch's work w; last: the SQL of the last key done,
-- from: what it is taken from ("" or " FROM l", where no row means no checkpoint moved)
local function checkpoint_cte(last, from)
  return string.format([[
c AS (INSERT INTO migrun.backfill (playbook, phase, step, run_id, last_key, rows_done, batches, updated_at)
      SELECT $1, $2, $3, $4, %s, (SELECT count(*) FROM w), 1, clock_timestamp()%s
      ON CONFLICT (playbook, phase, step) DO UPDATE SET last_key = EXCLUDED.last_key, run_id = EXCLUDED.run_id,
        rows_done = migrun.backfill.rows_done + EXCLUDED.rows_done, batches = migrun.backfill.batches + 1,
        updated_at = EXCLUDED.updated_at
      RETURNING 1)]], last, from)
end

-- the copy form's target columns, " (a, b)", or "" when it names none
local function column_list(db, st)
  if not st.columns then return "" end
  local q = {}
  for i, c in ipairs(st.columns) do q[i] = db:quote_ident(c) end
  return " (" .. table.concat(q, ", ") .. ")"
end

-- the statement of one batch: the next n keys after $last, the work, the checkpoint. One
-- statement: one transaction, atomic with its checkpoint, one round trip.
local function batch_sql(db, st, keys, nparams_before)
  -- no aliases on the tables: set, where and select name them as the playbook's author knows
  -- them; the batch's keys are migrun_k1.. so they never clash with the table's own columns
  local scan_rel = st.from and ident.quote(db, st.from) or ident.quote(db, st.table)
  local target = ident.quote(db, st.table)
  local k = list(keys, function(c) return scan_rel .. "." .. c.q end)
  local bk = list(keys, function(_, i) return "b.migrun_k" .. i end)
  local params = list(keys, function(c, i) return string.format("$%d::%s", nparams_before + i, c.type) end)
  local n = nparams_before + #keys + 1                -- the batch size
  local after = string.format("($%d::boolean OR (%s) > (%s))", n + 1, k, params)
  local where = st.where and (" AND (" .. st.where .. ")") or ""
  local pick = string.format("SELECT %s FROM %s WHERE %s%s ORDER BY %s LIMIT $%d",
    list(keys, function(c, i) return scan_rel .. "." .. c.q .. " AS migrun_k" .. i end), scan_rel, after, where, k, n)
  local function joined(rel)
    local q = {}
    for i, c in ipairs(keys) do q[i] = string.format("%s.%s = b.migrun_k%d", rel, c.q, i) end
    return table.concat(q, " AND ")
  end
  local work
  if st.from then
    local cols = column_list(db, st)
    work = string.format("INSERT INTO %s%s SELECT %s FROM %s JOIN b ON %s ORDER BY %s%s RETURNING 1",
      target, cols, st.select, scan_rel, joined(scan_rel), bk,
      st.on_conflict and (" ON CONFLICT " .. st.on_conflict) or "")
  else
    work = string.format("UPDATE %s SET %s FROM b WHERE %s RETURNING 1", target, st.set, joined(target))
  end
  local desc = list(keys, function(_, i) return "b.migrun_k" .. i .. " DESC" end)
  return string.format([[
WITH b AS (%s),
w AS (%s),
l AS (SELECT %s FROM b ORDER BY %s LIMIT 1),
%s
SELECT (SELECT count(*) FROM b) AS picked, (SELECT count(*) FROM w) AS done,
       (SELECT json_build_array(%s)::text FROM l) AS last]], pick, work, bk, desc,
    checkpoint_cte("to_jsonb(l)", " FROM l"),
    list(keys, function(_, i) return "l.migrun_k" .. i .. "::text" end))
end

-- the last key done as text, one string a key column: a number past 2^53 (a bigint, a
-- numeric) would lose digits as a Lua float; the batch's $n::type casts read the text exactly
local function key_texts(array_json, n)
  local k = json.decode(array_json)
  local out = {}
  for i = 1, n do
    if type(k[i]) ~= "string" then return nil end
    out[i] = k[i]
  end
  return out
end

-- key ranges: the types whose keys the batches can walk as ranges of numbers
local RANGE_TYPES = { smallint = true, integer = true, bigint = true }
local WIDTH_MAX = 1 << 48     -- keys in one range (tuning on a sparse table grows it past any row count)
local ROWS_MAX = 200000       -- rows one batch may touch when the width is tuned (as the keyset form's n)

-- one key-range batch: every row with lo <= key <= hi still matching where, and the checkpoint
-- moved to hi (the range is done, whatever it held), in one message and one transaction (a
-- simple-protocol message is one implicit transaction). The work runs as itself, in a DO
-- block that counts it (GET DIAGNOSTICS) and moves the checkpoint: an UPDATE ... RETURNING in
-- a CTE, counted, cost 8% more on the server. Returns function(pb, phase, step, run_id, lo,
-- hi) -> the DO statement, and the statement after it that gives the rows done.
local function range_sql(db, st, key)
  local scan_rel = st.from and ident.quote(db, st.from) or ident.quote(db, st.table)
  local target = ident.quote(db, st.table)
  local k = scan_rel .. "." .. key.q
  -- the work is head .. lo .. middle .. hi .. tail (no format: the user's SQL may hold a %)
  local head, middle = k .. " >= ", " AND " .. k .. " <= "
  local tail = st.where and (" AND (" .. st.where .. ")") or ""
  if st.from then
    head = "INSERT INTO " .. target .. column_list(db, st) .. " SELECT " .. st.select .. " FROM " .. scan_rel ..
           " WHERE " .. head
    tail = tail .. " ORDER BY " .. k .. (st.on_conflict and (" ON CONFLICT " .. st.on_conflict) or "")
  else
    head = "UPDATE " .. target .. " SET " .. st.set .. " WHERE " .. head
  end
  return function(pb, phase, step, run_id, lo, hi)
    local q = function(v) return db:quote_literal(v) end
    local work = head .. string.format("%d", lo) .. middle .. string.format("%d", hi) .. tail
    local body = string.format([[
DECLARE migrun_n bigint;
BEGIN
  EXECUTE %s;
  GET DIAGNOSTICS migrun_n = ROW_COUNT;
  INSERT INTO migrun.backfill (playbook, phase, step, run_id, last_key, rows_done, batches, updated_at)
  VALUES (%s, %s, %s, %s, jsonb_build_object('migrun_k1', %d::bigint), migrun_n, 1, clock_timestamp())
  ON CONFLICT (playbook, phase, step) DO UPDATE SET last_key = EXCLUDED.last_key, run_id = EXCLUDED.run_id,
    rows_done = migrun.backfill.rows_done + EXCLUDED.rows_done, batches = migrun.backfill.batches + 1,
    updated_at = EXCLUDED.updated_at;
  PERFORM set_config('migrun.backfill_done', migrun_n::text, true);
END]], q(work), q(pb), q(phase), q(step), run_id and string.format("%d", run_id) or "NULL", hi)
    return "DO " .. q(body), "SELECT current_setting('migrun.backfill_done')::bigint AS done"
  end
end

-- the first key after `after` (nil: the first key) of a row still matching where; nil when none.
-- One read, no row locks: it skips gaps in the keys and stretches already done in one go.
local function next_key(db, st, key, after)
  local rel = ident.quote(db, st.from or st.table)
  local k = rel .. "." .. key.q
  local conds = {}
  if after then conds[1] = k .. " > $1::bigint" end
  if st.where then conds[#conds + 1] = "(" .. st.where .. ")" end
  local sql = string.format("SELECT min(%s) AS k FROM %s%s", k, rel,
                            #conds > 0 and (" WHERE " .. table.concat(conds, " AND ")) or "")
  if after then return db:query(sql, after)[1].k end
  return db:query(sql)[1].k
end

local function estimate(db, st)
  local rel = ident.quote(db, st.from or st.table)
  local ok, r = pcall(db.query, db, "EXPLAIN (FORMAT JSON) SELECT 1 FROM " .. rel ..
                      (st.where and (" WHERE " .. st.where) or ""))
  if not ok then return nil end
  local plan = json.decode(r[1][r.columns[1]])
  return plan[1] and plan[1].Plan and math.floor(plan[1].Plan["Plan Rows"])
end

-- the slowest standby's replay lag, in ns (0 without standbys): pg_stat_replication's
-- replay_lag, or, for a standby that has stopped replaying (its replay position stuck behind
-- the primary's WAL, where replay_lag is not updated), how long it has been stuck there
local function replica_lag(db, seen)
  local worst = 0
  for _, r in ipairs(db:query([[
      SELECT application_name || ':' || pid AS who, replay_lsn::text AS replay,
             coalesce(extract(epoch FROM replay_lag), 0)::float8 AS lag,
             replay_lsn < pg_current_wal_lsn() AS behind
      FROM pg_stat_replication]])) do
    local lag = math.floor(r.lag * 1e9)
    local s = seen[r.who]
    if r.behind then
      if not s or s.replay ~= r.replay then
        seen[r.who] = { replay = r.replay, since = clock.now() }
      else
        lag = math.max(lag, clock.since(s.since))
      end
    else
      seen[r.who] = nil
    end
    worst = math.max(worst, lag)
  end
  return worst
end

local function fmt_rate(r)
  if r >= 1e6 then return string.format("%.1fM", r / 1e6) end
  if r >= 1e3 then return string.format("%.1fk", r / 1e3) end
  return string.format("%.0f", r)
end

--- backfill.forget(run, ph [, st]): drop the checkpoint of st, or of every backfill of ph.
-- A finished backfill's goes; so does one whose phase was rolled back: the rows it counted as
-- done may be undone, and a rerun that resumed after its key would skip them for good.
function M.forget(run, ph, st)
  local steps = st and { st } or ph.steps or {}
  for _, s in ipairs(steps) do
    if s.kind == "backfill" then
      run.db:exec("DELETE FROM migrun.backfill WHERE playbook = $1 AND phase = $2 AND step = $3",
                  run.pb.name, ph.name, s.name)
    end
  end
end

-- who holds a lock on a table ($1, quoted) that a batch may have waited for: the sessions with
-- a granted lock that conflicts with ROW EXCLUSIVE (conflicting = true), else those with an open
-- transaction that took ROW EXCLUSIVE (a write) more than a moment ago
local HOLDERS = [[
WITH held AS (
  SELECT l.pid, l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock') AS conflicting
  FROM pg_catalog.pg_locks l
  WHERE l.locktype = 'relation' AND l.relation = $1::regclass AND l.granted AND l.pid <> pg_backend_pid()
    AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock', 'RowExclusiveLock'))
SELECT a.pid, a.usename AS "user", a.application_name AS app, a.state,
       extract(epoch FROM now() - a.xact_start)::int AS xact_seconds, left(a.query, 300) AS query,
       bool_or(h.conflicting) AS conflicting
FROM held h JOIN pg_catalog.pg_stat_activity a ON a.pid = h.pid
WHERE a.xact_start < now() - interval '50 milliseconds'
GROUP BY a.pid, a.usename, a.application_name, a.state, a.xact_start, a.query
HAVING bool_or(h.conflicting) = (SELECT bool_or(conflicting) FROM held)
ORDER BY a.xact_start LIMIT 5]]

--- backfill.run(run, ph, st, t_phase) -> rows done by this run
function M.run(run, ph, st, t_phase)
  local db = run.db
  local out = run.out
  local keys = key_columns(db, st.from or st.table, st.keys)
  local cp = db:query([[SELECT last_key::text AS last, last_key->>'migrun_k1' AS k1, rows_done, batches,
                          (SELECT json_agg(last_key->>('migrun_k' || g) ORDER BY g)
                           FROM generate_series(1, $4::int) g)::text AS keys
                        FROM migrun.backfill WHERE playbook = $1 AND phase = $2 AND step = $3]],
                     run.pb.name, ph.name, st.name, #keys)[1]
  -- a single integer key: key ranges; any other: keyset batches. Both checkpoints are the last
  -- key done, {"migrun_k1": ...}: a run interrupted under one form resumes under the other.
  local ranged = #keys == 1 and RANGE_TYPES[keys[1].type] and true or false
  local last = {}
  if cp and cp.last then
    if ranged then
      -- read as text: a bigint past 2^53 would lose digits as a JSON number
      last[1] = cp.k1 and math.tointeger(tonumber(cp.k1))
      if not last[1] then
        errors.raise("playbook", string.format("backfill: %s: the checkpoint in migrun.backfill holds the last " ..
          "key %s, not an integer of %s (was the key changed?); delete that row to start the step afresh",
          st.name, cp.last, keys[1].name))
      end
    else
      last = key_texts(cp.keys, #keys)
      if not last then
        errors.raise("playbook", string.format("backfill: %s: the checkpoint in migrun.backfill holds the last " ..
          "key %s, not one value for each of the %d key column(s) (was the key changed?); delete that row to " ..
          "start the step afresh", st.name, cp.last, #keys))
      end
    end
    -- changed since (its set, where, key...): the rows done keep what the old text did
    local before = db:query([[SELECT checksum FROM migrun.steps WHERE playbook = $1 AND phase = $2 AND step = $3
                                AND run_id IS DISTINCT FROM $4 ORDER BY id DESC LIMIT 1]],
                            run.pb.name, ph.name, st.name, run.id)[1]
    if before and before.checksum and not M.same_text(st, before.checksum) then
      out:warn(string.format("%s changed since its checkpoint: the %d rows done keep what the old text did " ..
        "(to redo them all, stop here and `migrun rollback` the phase first)", st.name, cp.rows_done))
    end
    local shown = {}
    for i, c in ipairs(keys) do shown[i] = c.name .. " " .. tostring(last[i]) end
    out:info(string.format("  %s: resuming after %s (%d rows in %d batches before)", st.name,
                           table.concat(shown, ", "), cp.rows_done, cp.batches))
  end
  -- once a batch with rows is committed (an earlier run's, or this one's), the step is partly
  -- applied should it fail: its rollback runs under on_failure = "rollback", checkpoint and all
  local committed = false
  local function commits(rows)
    if rows > 0 and not committed then
      committed = true
      run.committed = run.committed + 1
    end
  end
  commits(cp and cp.rows_done or 0)
  local total = estimate(db, st)
  local n = st.fixed_batch or 1000
  -- Each batch runs under a statement_timeout, set before it and restored after it in its own
  -- pipeline (one implicit transaction: when it fails, the first set_config rolls back with
  -- it). A tuned batch's is its target, a hard limit: one still running then is cut (below).
  -- Its lock_timeout becomes half the target at most, so a batch that waits for a lock from its
  -- start (a table lock: it holds no row yet) meets a lock timeout, retried at its size, rather
  -- than the target, which halves it. A fixed batch's (batch = N), or where it is tighter, is
  -- what the playbook's statement_timeout and the budgets leave, as for an SQL step's
  -- statement: a batch past it fails the step; a budget that has run out stops the backfill
  -- before its next batch.
  local session = db:query([[SELECT (SELECT setting FROM pg_settings WHERE name = 'statement_timeout') AS st,
                                    (SELECT setting FROM pg_settings WHERE name = 'lock_timeout')::int AS lt]])[1]
  local SETTINGS = "SELECT set_config('statement_timeout', '%s', false), set_config('lock_timeout', '%s', false)"
  local reset = string.format(SETTINGS, math.tointeger(tonumber(session.st)) or 0, session.lt)
  local target_ms = not st.fixed_batch and math.max(1, st.target_ns // 1000000) or nil
  local limit = {}     -- the last batch's: ms, cut (it is the target), source (the budget that set it)
  local function limits()
    local ms, source = executor.timeout_now(run, ph, t_phase, st)   -- raises once a budget has run out
    if target_ms and (ms == 0 or target_ms < ms) then return { ms = target_ms, cut = true } end
    return { ms = ms > 0 and ms or nil, source = source }
  end
  -- a batch: its statement (a list of items for conn:batch: the work first, the one that
  -- answers last) under its limit -> the answer's first row
  local function statement(items)
    limit = limits()
    if not limit.ms then
      if #items == 1 then return db:query(table.unpack(items[1], 1, items[1].n))[1] end
      return db:query(items[1] .. ";\n" .. items[2])[1]     -- one message, one transaction
    end
    local half = math.max(1, limit.ms // 2)
    local lt = limit.cut and (session.lt == 0 or session.lt > half) and half or session.lt
    table.insert(items, 1, string.format(SETTINGS, limit.ms, lt))
    items[#items + 1] = reset
    return db:batch(items)[#items - 1][1]
  end
  local done, batches, t0 = 0, 0, clock.now()
  local samples, pauses = json.array(), json.array()
  local last_sample, last_shown = clock.now(), 0
  local report = { table = st.table, phase = ph.name, step = st.name, samples = samples, pauses = pauses,
                  target_ms = st.target_ns // 1000000 }
  run.backfills[#run.backfills + 1] = report

  local lag_seen = {}
  local function pause(reason, fn)
    local tp = clock.now()
    local shown = false
    while fn() do
      if not shown then
        out:warn(string.format("%s: paused: %s", st.name, reason()))
        out:event("backfill_pause", { step = st.name, reason = reason() })
        shown = true
      end
      clock.sleep(500)
    end
    if shown then
      local secs = clock.since(tp) / 1e9
      pauses[#pauses + 1] = { at_seconds = clock.since(t0) / 1e9, seconds = secs, reason = reason() }
      out:info(string.format("  %s: resumed after %.1fs", st.name, secs))
    end
  end

  local batch      -- () -> rows done, ns; nil when there is nothing left
  if ranged then
    -- key ranges [lo, hi] of n keys, from the first key still to do up to the largest key there
    -- was at the start. Rows inserted meanwhile with larger keys are done too if they match
    -- where, like the keyset form does: at the end, and after a range with nothing to do, one
    -- read finds the next key still to do (skipping gaps in the keys and stretches already done),
    -- and the end moves on to the largest key there is then.
    local key = keys[1]
    local sql = range_sql(db, st, key)
    local rel, k = ident.quote(db, st.from or st.table), key.q
    local max_sql = string.format("SELECT max(%s) AS k FROM %s", k, rel)
    local cap_sql = string.format("SELECT %s AS k FROM %s WHERE %s >= $1::bigint ORDER BY %s OFFSET $2 LIMIT 1",
                                  k, rel, k, k)
    local kmax = db:query(max_sql)[1].k
    local lo = next_key(db, st, key, last[1])
    batch = function()
      if not lo then return nil end
      if not kmax or lo > kmax then
        kmax = db:query(max_sql)[1].k
        if not kmax or kmax < lo then kmax = lo end   -- rows deleted meanwhile: one range to the end
      end
      local room = kmax - lo      -- negative: it overflowed, the keys span more than 2^63
      local hi = (room >= 0 and room < n - 1) and kmax or lo + (n - 1)
      if not st.fixed_batch and n > ROWS_MAX then
        -- a tuned width past ROWS_MAX keys (a sparse table) could meet a dense stretch: a batch
        -- touches ROWS_MAX rows at most, as in the keyset form
        local r = db:query(cap_sql, lo, ROWS_MAX)[1]
        if r and r.k - 1 < hi then hi = r.k - 1 end
      end
      local tb = clock.now()
      local got = statement({ sql(run.pb.name, ph.name, st.name, run.id, lo, hi) }).done
      local ns = clock.since(tb)
      if got == 0 or hi >= kmax then lo = next_key(db, st, key, hi) else lo = hi + 1 end
      return got, ns
    end
  else
    local sql = batch_sql(db, st, keys, 4)
    batch = function()
      local params = { run.pb.name, ph.name, st.name, run.id }
      for i = 1, #keys do params[4 + i] = last[i] end
      params[4 + #keys + 1] = n
      params[4 + #keys + 2] = #last == 0
      local tb = clock.now()
      local r = statement({ table.pack(sql, table.unpack(params, 1, 4 + #keys + 2)) })
      local ns = clock.since(tb)
      if r.picked == 0 then return nil end
      last = assert(key_texts(r.last, #keys), "backfill: a batch returned no last key")
      return r.done, ns
    end
  end

  -- a batch that ran past the target (its statement_timeout cancelled it: not Ctrl-C, nor an
  -- operator's pg_cancel_backend, which come sooner) is tried again at once at half the size;
  -- one of a single row or key is retried as a lock timeout is, after a backoff: a lock another
  -- session holds on it is the likely cause
  local cut = 0
  local function capped()
    local from, halved = n, 0
    local unit = ranged and "key" or "row"
    while true do
      local tb = clock.now()
      local ok, got, ns = pcall(batch)
      if ok then
        if halved > 0 then
          out:info(string.format("  %s: a batch of %d %ss ran past its target %s: cancelled and halved %d time(s), " ..
                                 "it went through with %d", st.name, from, unit, clock.format(st.target_ns), halved, n))
        end
        return got, ns
      end
      if not (limit.cut and errors.is_sql(got, "57014") and got.index == 2 and not sys.interrupted()
              and clock.since(tb) >= limit.ms * 1000000) then
        error(executor.as_budget_error(got, limit.source), 0)
      end
      if n == 1 then
        got.retry_reason = string.format("its one %s ran past its target %s", unit, clock.format(st.target_ns))
        got.hint = got.hint or string.format("a lock another session holds on it, or %s is that slow for it: " ..
          "look at pg_locks, or raise target", st.set and "set" or "select")
        error(got, 0)
      end
      cut, halved = cut + 1, halved + 1
      out:event("backfill_cut", { step = st.name, batch = n, next = n // 2, target_ms = limit.ms })
      n = n // 2
    end
  end

  -- a lock timeout names who holds the lock, as a watched SQL step's does (its wait is too short
  -- to watch): the sessions holding a table lock that conflicts with the batch's, else those
  -- whose open transaction has written to the table (one of them holds the row)
  local shown_holders
  local function name_holders(err)
    if not errors.is_sql(err, "55P03") or sys.interrupted() then return end
    local ok, rows = pcall(db.query, db, HOLDERS, ident.quote(db, st.table))
    if not ok or #rows == 0 then return end
    local writers = rows[1].conflicting == false
    local text = (writers and "open transactions that wrote to " .. st.table .. ": " or "") ..
                 require("migrun.run.watch").blockers_text(rows)
    err.hint = err.hint or ((writers and "" or "blocked by ") .. text)
    local pids = {}
    for i, r in ipairs(rows) do pids[i] = tostring(r.pid) end
    pids = table.concat(pids, ",")
    if pids ~= shown_holders then                     -- once per set of sessions
      shown_holders = pids
      out:warn(string.format("%s: %s%s", st.name, writers and "" or "its table is locked by ", text))
    end
  end

  -- the batches, until none is left; stopped (Ctrl-C, an error), it says how far it got
  local walked, err = pcall(function()
    while true do
      -- the throttles first: nothing runs while a standby lags or the playbook says wait
      if st.max_lag_ns then
        local lag = 0
        pause(function()
          return string.format("replica lag %s > max_replica_lag %s", clock.format(lag), clock.format(st.max_lag_ns))
        end, function()
          lag = replica_lag(db, lag_seen)
          return lag > st.max_lag_ns
        end)
      end
      if st.pause_if then
        pause(function() return "pause_if says wait" end, function() return st.pause_if(db) and true or false end)
      end
      -- a batch that meets a lock timeout, a deadlock or a serialization failure rolled back
      -- alone (its checkpoint with it): it is tried again, as a phase is, after a backoff
      local got, ns = executor.retry({ attempts = (ph.retries or run.pb.retries) + 1, out = out,
                                       what = st.name .. ": a batch", undone = "rolled back",
                                       on_fail = name_holders }, capped)
      if not got then break end
      report.max_batch_ms = math.max(report.max_batch_ms or 0, ns / 1e6)
      commits(got)
      done, batches = done + got, batches + 1
      -- tune to the target duration: aim well under it (batch times jitter by a third on a
      -- busy server: a checkpoint, autovacuum, a neighbour), halve at most, grow by a quarter at
      -- most, so a batch overshoots it rarely (a range's width too: where keys are sparse or rows
      -- done, a range of the same width holds fewer rows to do and takes less time). A batch
      -- costs one round trip and one checkpoint row: aiming at 70% rather than 85% adds about
      -- 0.2% of batches' time.
      if not st.fixed_batch then
        local factor = 0.7 * st.target_ns / math.max(ns, 1e5)
        factor = math.max(0.5, math.min(1.25, factor))
        n = math.max(10, math.min(ranged and WIDTH_MAX or ROWS_MAX, math.floor(n * factor)))
      end
      local elapsed = clock.since(t0)
      local rate = done / math.max(elapsed / 1e9, 1e-3)
      if clock.now() - last_sample >= 1e9 then
        samples[#samples + 1] = { at_seconds = elapsed / 1e9, rows = done, rate = rate, batch = n }
        last_sample = clock.now()
      end
      if clock.now() - last_shown >= 1e9 then
        last_shown = clock.now()
        local eta = total and total > done and rate > 0 and (total - done) / rate or nil
        local fields = { step = st.name, rows = done, total = total, rate = rate, batch = n, batches = batches,
                         eta_seconds = eta }
        if not out:event("backfill", fields) and not out.quiet and term.isatty(1) then
          local left = eta and (", about " .. clock.format(math.floor(eta * 1e9)) .. " left") or ""
          io.stdout:write(string.format("\r  %s: %d%s rows, %s rows/s, batch %d%s\27[K", st.name, done,
            total and (" / ~" .. total) or "", fmt_rate(rate), n, left))
          io.stdout:flush()
          run.progress_shown = true
        end
      end
      if st.max_rate then
        local ahead = done / st.max_rate - clock.since(t0) / 1e9
        if ahead > 0 then clock.sleep(math.floor(ahead * 1000)) end
      end
    end
  end)
  if run.progress_shown then
    io.stdout:write("\r\27[K")
    io.stdout:flush()
    run.progress_shown = false
  end
  local secs = clock.since(t0) / 1e9
  report.rows, report.batches, report.seconds, report.cut = done, batches, secs, cut
  report.rate = done / math.max(secs, 1e-3)
  if not walked then
    if batches > 0 then
      out:info(string.format("  %s: %d rows in %d batches before it stopped", st.name, done, batches))
    end
    error(err, 0)
  end
  -- done: the checkpoint goes (a rollback that makes the step pending again starts afresh)
  M.forget(run, ph, st)
  samples[#samples + 1] = { at_seconds = secs, rows = done, rate = report.rate, batch = n }
  out:info(string.format("  %s: %d rows in %d batches, %s rows/s%s%s", st.name, done, batches, fmt_rate(report.rate),
                         #pauses > 0 and string.format(", %d pause(s)", #pauses) or "",
                         cut > 0 and string.format(", %d batch(es) cut at the target", cut) or ""))
  return done
end

return M
