--- migrun.ledger: what lands in the database, schema `migrun` (DESIGN.md): runs, steps,
-- expectations. Steps are written in the same transaction as their work, so the ledger
-- says exactly what is applied. Nothing of the user's schema is touched here.
local M = {}

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

--- ledger.exists(db) -> true when schema migrun holds the ledger
function M.exists(db)
  return db:query("SELECT to_regclass('migrun.steps') IS NOT NULL AS e")[1].e
end

--- ledger.ensure(db): create schema migrun and its tables on first use
function M.ensure(db)
  if M.exists(db) then return end
  db:tx(function() db:script(SCHEMA, { name = "migrun ledger" }) end)
end

--- ledger.start_run(db, info) -> run id (committed at once: the run is visible while it runs)
function M.start_run(db, info)
  -- runs left 'running' by a process that died are no longer running: we hold the lock
  db:exec([[UPDATE migrun.runs SET status = 'abandoned', finished_at = clock_timestamp()
            WHERE status = 'running']])
  return db:query([[INSERT INTO migrun.runs (playbook, playbook_checksum, target, host, os_user,
                      migrun_version, dry_run)
                    VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id]],
                  info.playbook, info.checksum, info.target, info.host, info.os_user,
                  info.version, info.dry_run or false)[1].id
end

--- ledger.finish_run(db, id, status, error, summary_json)
function M.finish_run(db, id, status, err, summary)
  db:exec([[UPDATE migrun.runs SET finished_at = clock_timestamp(), status = $2, error = $3,
              summary = $4::jsonb WHERE id = $1]], id, status, err, summary)
end

--- ledger.record_step(db, rec): one row; rec = {run_id, playbook, phase, step, kind,
-- checksum, status, duration_ms, rows, attempt, error}
function M.record_step(db, r)
  db:exec([[INSERT INTO migrun.steps (run_id, playbook, phase, step, kind, checksum, status,
              duration_ms, rows, attempt, error)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)]],
          r.run_id, r.playbook, r.phase, r.step, r.kind, r.checksum, r.status,
          r.duration_ms, r.rows, r.attempt or 1, r.error)
end

--- ledger.record_expectations(db, run_id, phase, results)
function M.record_expectations(db, run_id, phase, results)
  for _, r in ipairs(results) do
    db:exec([[INSERT INTO migrun.expectations (run_id, phase, description, ok, expected, actual)
              VALUES ($1, $2, $3, $4, $5, $6)]],
            run_id, phase, r.description, r.ok, M.show(r.expected), M.show(r.actual))
  end
end

--- ledger.batch_sql(db, steps, results) -> one SQL text inserting all these step records and
-- expectation results (JSON literals, so it can share a round trip with COMMIT), or nil
function M.batch_sql(db, steps, results)
  local cjson = require "cjson"
  local parts = {}
  if #steps > 0 then
    parts[#parts + 1] = [[INSERT INTO migrun.steps (run_id, playbook, phase, step, kind, checksum, status,
        duration_ms, rows, attempt, error)
      SELECT run_id, playbook, phase, step, kind, checksum, status, duration_ms, rows,
             coalesce(attempt, 1), error
      FROM json_populate_recordset(NULL::migrun.steps, ]] .. db:quote_literal(cjson.encode(steps)) .. ")"
  end
  if #results > 0 then
    local rows = {}
    for i, r in ipairs(results) do
      rows[i] = { run_id = r.run_id, phase = r.phase, description = r.description, ok = r.ok and true or false,
                  expected = M.show(r.expected), actual = M.show(r.actual) }
    end
    parts[#parts + 1] = [[INSERT INTO migrun.expectations (run_id, phase, description, ok, expected, actual)
      SELECT run_id, phase, description, ok, expected, actual
      FROM json_populate_recordset(NULL::migrun.expectations, ]] .. db:quote_literal(cjson.encode(rows)) .. ")"
  end
  if #parts == 0 then return nil end
  return table.concat(parts, "; ")
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

--- ledger.state(db, playbook) -> { [phase] = { [step] = latest row } } (empty without a ledger)
function M.state(db, playbook)
  local state = {}
  if not M.exists(db) then return state end
  local res = db:query([[
    SELECT DISTINCT ON (phase, step) phase, step, kind, checksum, status, run_id,
           started_at::text AS started_at, duration_ms::float8 AS duration_ms, rows
    FROM migrun.steps WHERE playbook = $1 AND kind <> 'phase'
    ORDER BY phase, step, id DESC]], playbook)
  for _, r in ipairs(res) do
    state[r.phase] = state[r.phase] or {}
    state[r.phase][r.step] = r
  end
  return state
end

--- ledger.runs(db [, playbook [, limit]]) -> the latest runs, newest first
function M.runs(db, playbook, limit)
  if not M.exists(db) then return {} end
  return db:query([[
    SELECT id, playbook, status, dry_run, host, os_user, db_user, target, migrun_version,
           started_at::text AS started_at, finished_at::text AS finished_at,
           (extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at) * 1000)::float8 AS ms,
           error
    FROM migrun.runs WHERE $1::text IS NULL OR playbook = $1
    ORDER BY id DESC LIMIT $2]], playbook, limit or 20)
end

--- ledger.steps(db, run_id) -> the step rows of one run, in order
function M.steps(db, run_id)
  return db:query([[SELECT phase, step, kind, status, duration_ms::float8 AS duration_ms, rows,
                           attempt, error, started_at::text AS started_at
                    FROM migrun.steps WHERE run_id = $1 ORDER BY id]], run_id)
end

--- ledger.expectations(db, run_id) -> the expectation rows of one run, in order
function M.expectations(db, run_id)
  return db:query([[SELECT phase, description, ok, expected, actual FROM migrun.expectations
                    WHERE run_id = $1 ORDER BY id]], run_id)
end

return M
