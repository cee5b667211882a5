--- migrun.ledger: what lands in the database, schema `migrun` (DESIGN.md): runs, steps,
-- expectations, gate answers, and the steps each playbook has shown a run. Steps are written
-- in the same transaction as their work, so the ledger says exactly what is applied. Nothing
-- of the user's schema is touched here.
local cjson = require "cjson"

local M = {}

M.VERSION = 3

local SCHEMA = [[
CREATE SCHEMA IF NOT EXISTS migrun;
CREATE TABLE IF NOT EXISTS migrun.runs (
  id                bigserial PRIMARY KEY,
  playbook          text NOT NULL,
  playbook_checksum text NOT NULL,
  target            text NOT NULL,
  started_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at       timestamptz,
  status            text NOT NULL DEFAULT 'running',
  host              text,
  os_user           text,
  db_user           text NOT NULL DEFAULT current_user,
  migrun_version    text NOT NULL,
  dry_run           boolean NOT NULL DEFAULT false,
  error             text,
  summary           jsonb
);
CREATE TABLE IF NOT EXISTS migrun.steps (
  id          bigserial PRIMARY KEY,
  run_id      bigint NOT NULL,            -- migrun.runs(id); no FK: a check per row on every phase
  playbook    text NOT NULL,
  phase       text NOT NULL,
  step        text NOT NULL,
  kind        text NOT NULL,
  checksum    text,
  status      text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  duration_ms numeric,
  rows        bigint,
  attempt     int NOT NULL DEFAULT 1,
  error       text
);
CREATE INDEX IF NOT EXISTS steps_lookup ON migrun.steps (playbook, phase, step, id);
CREATE TABLE IF NOT EXISTS migrun.expectations (
  id          bigserial PRIMARY KEY,
  run_id      bigint NOT NULL,            -- migrun.runs(id); no FK: a check per row on every phase
  phase       text NOT NULL,
  description text NOT NULL,
  ok          boolean NOT NULL,
  expected    text,
  actual      text,
  checked_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
]]

-- version 2: what a run is (run, dry run, rehearsal, rollback, baseline, ...), its --set
-- values and note; each step's text (for reports and accept-drift's diff) and a note (why it
-- was baselined or accepted); the gate answers; the steps a playbook has shown a run (a new
-- step before applied ones is drift, one skipped by --only is not)
local V2 = [[
ALTER TABLE migrun.runs ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'run';
ALTER TABLE migrun.runs ADD COLUMN IF NOT EXISTS vars jsonb;
ALTER TABLE migrun.runs ADD COLUMN IF NOT EXISTS note text;
ALTER TABLE migrun.runs ADD COLUMN IF NOT EXISTS baseline jsonb;   -- run-start snapshot (fresh starts)
ALTER TABLE migrun.steps ADD COLUMN IF NOT EXISTS body text;
ALTER TABLE migrun.steps ADD COLUMN IF NOT EXISTS note text;
CREATE TABLE IF NOT EXISTS migrun.gates (
  id          bigserial PRIMARY KEY,
  run_id      bigint NOT NULL,
  gate        text NOT NULL,
  items       jsonb NOT NULL,             -- [{question, answer}]
  answer      text NOT NULL,              -- yes | no | yes (--yes) | no terminal
  answered_by text,                       -- os user@host
  waited_ms   numeric,
  answered_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS migrun.backfill (  -- a backfill's checkpoint, moved with each batch
  playbook    text NOT NULL,
  phase       text NOT NULL,
  step        text NOT NULL,
  run_id      bigint,
  last_key    jsonb,
  rows_done   bigint NOT NULL DEFAULT 0,
  batches     bigint NOT NULL DEFAULT 0,
  updated_at  timestamptz,
  PRIMARY KEY (playbook, phase, step)
);
CREATE TABLE IF NOT EXISTS migrun.plan_steps (
  playbook    text NOT NULL,
  phase       text NOT NULL,
  step        text NOT NULL,
  first_run   bigint NOT NULL,
  PRIMARY KEY (playbook, phase, step)
);
]]

-- version 3: what a run did outside the database (hook calls and notifications: migrun.calls)
-- and what its watch window saw (migrun.watch_samples, one row per tick)
local V3 = [[
CREATE TABLE IF NOT EXISTS migrun.calls (
  id          bigserial PRIMARY KEY,
  run_id      bigint NOT NULL,
  kind        text NOT NULL,              -- hook | notify
  event       text NOT NULL,              -- before, after, on_failure, always | start, gate, ...
  name        text NOT NULL,              -- what was called: a function's name, METHOD url
  ok          boolean NOT NULL,
  detail      text,                       -- HTTP status, or the error (secrets redacted)
  duration_ms numeric,
  called_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TABLE IF NOT EXISTS migrun.watch_samples (
  id          bigserial PRIMARY KEY,
  run_id      bigint NOT NULL,
  watch       text NOT NULL,
  tick        int NOT NULL,
  at_seconds  numeric NOT NULL,           -- since the window opened
  metrics     jsonb NOT NULL,             -- {figure = value}
  breaches    jsonb,                      -- [{metric, value, limit, why}]
  sampled_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
]]

-- version 4: a run's rows found by its id. `status` reads the step rows of the latest 20 runs,
-- a report those of one run: without these, each was a scan of the whole table (0.49 s for
-- `status` on a ledger of 200,000 step rows, growing with every run)
local V4 = [[
CREATE INDEX IF NOT EXISTS steps_run ON migrun.steps (run_id, id);
CREATE INDEX IF NOT EXISTS expectations_run ON migrun.expectations (run_id, id);
CREATE INDEX IF NOT EXISTS calls_run ON migrun.calls (run_id, id);
CREATE INDEX IF NOT EXISTS watch_samples_run ON migrun.watch_samples (run_id, id);
]]

--- ledger.exists(db) -> true when schema migrun holds the ledger
function M.exists(db)
  return db:query("SELECT to_regclass('migrun.steps') IS NOT NULL AS e")[1].e
end

--- ledger.ensure(db): create schema migrun and its tables on first use, bring an older ledger
-- up to this version (one query when it is current)
function M.ensure(db)
  local r = db:query([[SELECT to_regclass('migrun.steps') IS NOT NULL AS e,
                              to_regclass('migrun.backfill') IS NOT NULL AS v2,
                              to_regclass('migrun.watch_samples') IS NOT NULL AS v3,
                              to_regclass('migrun.steps_run') IS NOT NULL AS v4]])[1]
  if r.e and r.v2 and r.v3 and r.v4 then return end
  -- one round trip, not one per statement: the scripts go as one simple-protocol message,
  -- which PostgreSQL runs as one implicit transaction (all or nothing), or in the caller's
  local parts = {}
  if not r.e then parts[#parts + 1] = SCHEMA end
  if not r.v2 then parts[#parts + 1] = V2 end
  if not r.v3 then parts[#parts + 1] = V3 end
  parts[#parts + 1] = V4
  db:exec(table.concat(parts, "\n"))
end

--- ledger.start_run(db, info) -> run id (committed at once: the run is visible while it runs).
-- info: playbook, checksum, target, host, os_user, version, kind, dry_run, vars, note, plan
-- (the phase/step pairs of the playbook as this run sees it)
function M.start_run(db, info)
  -- runs left 'running' by a process that died are no longer running: we hold the lock
  local id = db:query([[
    WITH abandoned AS (UPDATE migrun.runs SET status = 'abandoned', finished_at = clock_timestamp()
                       WHERE status = 'running')
    INSERT INTO migrun.runs (playbook, playbook_checksum, target, host, os_user, migrun_version,
                             dry_run, kind, vars, note)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10) RETURNING id]],
    info.playbook, info.checksum, info.target, info.host, info.os_user, info.version,
    info.dry_run or false, info.kind or "run",
    info.vars and next(info.vars) and cjson.encode(info.vars) or nil, info.note)[1].id
  if info.plan and #info.plan > 0 then
    db:exec([[INSERT INTO migrun.plan_steps (playbook, phase, step, first_run)
              SELECT $1, p->>0, p->>1, $2 FROM json_array_elements($3::json) AS p
              ON CONFLICT DO NOTHING]], info.playbook, id, cjson.encode(info.plan))
  end
  return id
end

--- ledger.save_baseline(db, id, snapshot_json): the run-start snapshot a resumed run compares with
function M.save_baseline(db, id, json)
  db:exec("UPDATE migrun.runs SET baseline = $2::jsonb WHERE id = $1", id, json)
end

--- ledger.baseline(db, playbook) -> {run_id, json} of the newest run that started this
-- playbook from the beginning, or nil
function M.baseline(db, playbook)
  local r = db:query([[SELECT id, baseline::text AS b FROM migrun.runs
                       WHERE playbook = $1 AND baseline IS NOT NULL ORDER BY id DESC LIMIT 1]], playbook)[1]
  return r and { run_id = r.id, json = r.b } or nil
end

--- ledger.finish_run(db, id, status, error, summary_json): the run's last commit, and a
-- durable one: its WAL flush makes every earlier phase (committed with synchronous_commit =
-- off) durable too. Raises when it fails: exit 0 must mean everything is on disk.
function M.finish_run(db, id, status, err, summary)
  local q = function(v) return v == nil and "NULL" or db:quote_literal(v) end
  db:exec(string.format([[BEGIN;
    SELECT set_config('synchronous_commit', CASE current_setting('synchronous_commit')
                        WHEN 'off' THEN 'on' WHEN 'local' THEN 'on'
                        ELSE current_setting('synchronous_commit') END, true);
    UPDATE migrun.runs SET finished_at = clock_timestamp(), status = %s, error = %s, summary = %s::jsonb
    WHERE id = %d;
    COMMIT]], q(status), q(err), q(summary), id))
end

local STEP_LIST = { "run_id", "playbook", "phase", "step", "kind", "checksum", "status", "duration_ms",
                    "rows", "attempt", "error", "body", "note" }
local STEP_COLUMNS = table.concat(STEP_LIST, ", ")

--- ledger.record_step(db, rec): one row; rec = {run_id, playbook, phase, step, kind,
-- checksum, status, duration_ms, rows, attempt, error, body, note}
function M.record_step(db, r)
  db:exec("INSERT INTO migrun.steps (" .. STEP_COLUMNS .. ") VALUES " ..
          "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
          r.run_id, r.playbook, r.phase, r.step, r.kind, r.checksum, r.status,
          r.duration_ms, r.rows, r.attempt or 1, r.error, r.body, r.note)
end

--- ledger.show(v) -> a value as the ledger and reports print it
function M.show(v)
  if v == nil then return nil end
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = M.show(x) end
    if #parts == 0 then
      for k, x in pairs(v) do parts[#parts + 1] = tostring(k) .. "=" .. M.show(x) end
      table.sort(parts)
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

local function expectation_rows(run_id, phase, results)
  local rows = {}
  for i, r in ipairs(results) do
    rows[i] = { run_id = r.run_id or run_id, phase = r.phase or phase, description = r.description,
                ok = r.ok and true or false, expected = M.show(r.expected), actual = M.show(r.actual) }
  end
  return rows
end

-- a value as an SQL literal of a VALUES list (the column gives it its type): VALUES costs the
-- server less than json_populate_recordset over the same rows (pgbench: 0.13 against 0.18-0.33
-- ms for a phase's three rows), and a phase's rows go with its COMMIT in every run
local function literal(db, v)
  if v == nil or v == cjson.null then return "NULL" end
  local t = type(v)
  if t == "boolean" then return v and "true" or "false" end
  if math.type(v) == "integer" then return tostring(v) end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "NULL" end
    return string.format("%.14g", v)                -- as lua-cjson wrote it
  end
  return db:quote_literal(tostring(v))
end

local function values_sql(db, head, columns, rows, default)
  local list = {}
  for i, r in ipairs(rows) do
    local vals = {}
    for k, c in ipairs(columns) do
      local v = r[c]
      if v == nil and default then v = default[c] end
      vals[k] = literal(db, v)
    end
    list[i] = "(" .. table.concat(vals, ", ") .. ")"
  end
  return head .. " VALUES " .. table.concat(list, ", ")
end

local EXPECTATION_LIST = { "run_id", "phase", "description", "ok", "expected", "actual" }

local function steps_sql(db, steps)
  return values_sql(db, "INSERT INTO migrun.steps (" .. STEP_COLUMNS .. ")", STEP_LIST, steps, { attempt = 1 })
end

local function expectations_sql(db, rows)
  return values_sql(db, "INSERT INTO migrun.expectations (" .. table.concat(EXPECTATION_LIST, ", ") .. ")",
                    EXPECTATION_LIST, rows)
end

--- ledger.record_expectations(db, run_id, phase, results): one statement for all of them
function M.record_expectations(db, run_id, phase, results)
  if #results == 0 then return end
  db:exec(expectations_sql(db, expectation_rows(run_id, phase, results)))
end

--- ledger.batch_sql(db, steps, results) -> one SQL text inserting all these step records and
-- expectation results (literals, so it can share a round trip with COMMIT), or nil
function M.batch_sql(db, steps, results)
  local parts = {}
  if #steps > 0 then parts[#parts + 1] = steps_sql(db, steps) end
  if #results > 0 then parts[#parts + 1] = expectations_sql(db, expectation_rows(nil, nil, results)) end
  if #parts == 0 then return nil end
  return table.concat(parts, "; ")
end

--- ledger.record_gate(db, run_id, g): g = {gate, items = {{question, answer}}, answer,
-- answered_by, waited_ms}
function M.record_gate(db, run_id, g)
  db:exec([[INSERT INTO migrun.gates (run_id, gate, items, answer, answered_by, waited_ms)
            VALUES ($1, $2, $3::jsonb, $4, $5, $6)]], run_id, g.gate, cjson.encode(g.items),
          g.answer, g.answered_by, g.waited_ms)
end

--- ledger.record_call(db, run_id, c): c = {kind, event, name, ok, detail, duration_ms}
function M.record_call(db, run_id, c)
  db:exec([[INSERT INTO migrun.calls (run_id, kind, event, name, ok, detail, duration_ms)
            VALUES ($1, $2, $3, $4, $5, $6, $7)]], run_id, c.kind, c.event, c.name, c.ok == true,
          c.detail, c.duration_ms)
end

--- ledger.record_sample(db, run_id, s): s = {watch, tick, at_seconds, metrics, breaches}
function M.record_sample(db, run_id, s)
  db:exec([[INSERT INTO migrun.watch_samples (run_id, watch, tick, at_seconds, metrics, breaches)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)]], run_id, s.watch, s.tick, s.at_seconds,
          cjson.encode(s.metrics), s.breaches and #s.breaches > 0 and cjson.encode(s.breaches) or nil)
end

--- ledger.state(db, playbook) -> {steps = {[phase] = {[step] = latest row}}, known = {set of
-- phase.."\0"..step a run has seen}}; empty without a ledger
function M.state(db, playbook)
  local state = { steps = {}, known = {} }
  local have = db:query([[SELECT to_regclass('migrun.steps') IS NOT NULL AS e,
                                 to_regclass('migrun.plan_steps') IS NOT NULL AS v2]])[1]
  if not have.e then return state end
  local v2 = have.v2
  local res = db:query([[
    SELECT DISTINCT ON (phase, step) phase, step, kind, checksum, status, run_id]] ..
           (v2 and ", id" or "") .. [[
    FROM migrun.steps WHERE playbook = $1 AND kind <> 'phase'
    ORDER BY phase, step, id DESC]], playbook)
  for _, r in ipairs(res) do
    state.steps[r.phase] = state.steps[r.phase] or {}
    state.steps[r.phase][r.step] = r
  end
  if v2 then
    for _, r in ipairs(db:query("SELECT phase, step FROM migrun.plan_steps WHERE playbook = $1", playbook)) do
      state.known[r.phase .. "\0" .. r.step] = true
    end
  end
  return state
end

--- ledger.body(db, row) -> the text a step had when its ledger row was written (nil for rows
-- of an older migrun, which kept only checksums)
function M.body(db, row)
  if not row.id then return nil end
  return db:query("SELECT body FROM migrun.steps WHERE id = $1", row.id)[1].body
end

-- each run's step rows as a JSON array, for ledger.runs{steps = true}
local RUN_STEPS = [[,
           (SELECT json_agg(json_build_object('phase', s.phase, 'step', s.step, 'kind', s.kind,
                      'status', s.status, 'duration_ms', s.duration_ms, 'note', s.note) ORDER BY s.id)
            FROM migrun.steps s WHERE s.run_id = r.id) AS steps]]

--- ledger.runs(db [, playbook [, limit [, {steps = true}]]]) -> the latest runs, newest first;
-- steps = true: each with .steps, its step rows in order (phase, step, kind, status,
-- duration_ms, note), in the same query
function M.runs(db, playbook, limit, o)
  -- outside a transaction a missing ledger is the query's own 42P01 (one round trip, not two).
  -- `migrun status` is this query on a new connection, where every function, operator and cast
  -- it names is a catalog lookup: timestamps come as text without a ::text, json without one,
  -- and `* 1000.0` is numeric * numeric where `* 1000` made the server resolve numeric * int
  local idle = db:status() == "idle"
  if not idle and not M.exists(db) then return {} end
  local with_steps = o and o.steps
  local ok, res = pcall(db.query, db, [[
    SELECT id, playbook, status, dry_run, host, os_user, db_user, target, migrun_version,
           started_at, finished_at,
           (extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at) * 1000.0)::float8 AS ms,
           error]] .. (with_steps and RUN_STEPS or "") .. [[

    FROM migrun.runs r WHERE $1::text IS NULL OR playbook = $1
    ORDER BY id DESC LIMIT $2]], playbook, limit or 20)
  if not ok then
    if idle and type(res) == "table" and res.sqlstate == "42P01" then return {} end
    error(res, 0)
  end
  if with_steps then
    for _, r in ipairs(res) do
      r.steps = r.steps and cjson.decode(r.steps) or {}        -- NULL: a run with no step rows
      for _, st in ipairs(r.steps) do
        for k, v in pairs(st) do if v == cjson.null then st[k] = nil end end
      end
    end
  end
  return res
end

--- ledger.steps(db, run_id) -> the step rows of one run, in order
function M.steps(db, run_id)
  return db:query([[SELECT phase, step, kind, status, duration_ms::float8 AS duration_ms, rows,
                           attempt, error, note, started_at::text AS started_at
                    FROM migrun.steps WHERE run_id = $1 ORDER BY id]], run_id)
end

--- ledger.expectations(db, run_id) -> the expectation rows of one run, in order
function M.expectations(db, run_id)
  return db:query([[SELECT phase, description, ok, expected, actual FROM migrun.expectations
                    WHERE run_id = $1 ORDER BY id]], run_id)
end

--- ledger.calls(db, run_id) -> the hook calls and notifications of one run, in order
function M.calls(db, run_id)
  if db:query("SELECT to_regclass('migrun.calls') IS NOT NULL AS c")[1].c == false then return {} end
  return db:query([[SELECT kind, event, name, ok, detail, duration_ms::float8 AS duration_ms,
                           to_char(called_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS called_at
                    FROM migrun.calls WHERE run_id = $1 ORDER BY id]], run_id)
end

--- ledger.gates(db, run_id) -> the gate answers of one run, in order
function M.gates(db, run_id)
  if db:query("SELECT to_regclass('migrun.gates') IS NOT NULL AS g")[1].g == false then return {} end
  local rows = db:query([[SELECT gate, items::text AS items, answer, answered_by,
                                 waited_ms::float8 AS waited_ms,
                                 to_char(answered_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS answered_at
                          FROM migrun.gates WHERE run_id = $1 ORDER BY id]], run_id)
  local out = {}
  for i, r in ipairs(rows) do
    out[i] = { gate = r.gate, items = cjson.decode(r.items), answer = r.answer,
               answered_by = r.answered_by, waited_ms = r.waited_ms, answered_at = r.answered_at }
  end
  return out
end

return M
