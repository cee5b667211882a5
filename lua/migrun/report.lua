--- migrun.report: the document that replaces a runbook's "completion report". One data
-- shape (report.data) built from the ledger, rendered as Markdown for people and JSON for
-- machines with the same content. The ledger row of a run holds a summary written when the
-- run finished; a run that died before that is rebuilt from its step and expectation rows.
-- Nothing here may print a secret: targets are stored redacted (user@host:port/db).
local cjson = require "cjson"
local clock = require "migrun.clock"
local ledger = require "migrun.ledger"
local sys = require "migrun.core.sys"

local M = {}

local function fmt_ms(v)
  if v == nil or v == cjson.null then return "" end
  return clock.format(math.floor(v * 1e6))
end

local function nz(v)
  if v == nil or v == cjson.null then return nil end
  return v
end

--- report.summary(result, run) -> the table stored in migrun.runs.summary
function M.summary(result, run)
  local exps = {}
  for _, r in ipairs(run.results) do
    exps[#exps + 1] = { phase = r.phase, description = r.description, ok = r.ok and true or false,
                        skipped = r.skipped,
                        expected = ledger.show(r.expected), actual = ledger.show(r.actual) }
  end
  local snapshot = require "migrun.snapshot"
  local tables = {}
  if result.before then
    for _, d in ipairs(snapshot.diff(result.before, result.after)) do
      tables[#tables + 1] = { table = d.table, before = d.before, after = d.after, change = d.change,
                              content = d.content }
    end
  end
  local backup = result.backup and {
    file = result.backup.file, size = result.backup.size, sha256 = result.backup.sha256,
    seconds = result.backup.seconds } or nil
  return {
    status = result.status, exit = result.exit, failed_phase = result.failed_phase,
    error = result.error and tostring(result.error) or nil, dry_run = result.dry_run or false,
    duration_ms = result.duration_ms, playbook_file = run.pb.path,
    phases = run.phases, steps = run.steps, expectations = exps, tables = tables,
    backup = backup, states = result.states,
  }
end

--- report.data(db, run_id | nil) -> the report's data (latest run when run_id is nil), or nil
function M.data(db, run_id)
  if not ledger.exists(db) then return nil end
  local r = db:query([[
    SELECT id, playbook, playbook_checksum, target, status, host, os_user, db_user, migrun_version,
           dry_run, error, summary::text AS summary,
           to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS started_at,
           to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS finished_at,
           (extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at) * 1000)::float8 AS ms
    FROM migrun.runs WHERE ($1::bigint IS NULL OR id = $1) ORDER BY id DESC LIMIT 1]], run_id)[1]
  if not r then return nil end
  local s = r.summary and cjson.decode(r.summary) or {}
  local doc = {
    run = { id = r.id, playbook = r.playbook, playbook_file = nz(s.playbook_file),
            playbook_checksum = r.playbook_checksum, target = r.target, status = r.status,
            dry_run = r.dry_run, started_at = r.started_at, finished_at = r.finished_at,
            duration_ms = r.ms, host = r.host, os_user = r.os_user, db_user = r.db_user,
            migrun_version = r.migrun_version },
    outcome = { status = r.status, exit = nz(s.exit), failed_phase = nz(s.failed_phase),
                error = nz(s.error) or r.error, states = nz(s.states) },
    backup = nz(s.backup),
    phases = s.phases or {},
    steps = s.steps,
    expectations = s.expectations,
    tables = s.tables or {},
  }
  if not doc.steps then                              -- no summary: the run did not finish
    doc.steps = {}
    for _, st in ipairs(ledger.steps(db, r.id)) do
      if st.status ~= "started" then doc.steps[#doc.steps + 1] = st end
    end
  end
  if not doc.expectations then doc.expectations = ledger.expectations(db, r.id) end
  return doc
end

--- report.from_result(result) -> the same data for a run the ledger does not keep (a dry run)
function M.from_result(result)
  local s = result.summary
  return {
    run = { id = not result.dry_run and result.run_id or nil, playbook = result.playbook,
            playbook_file = result.playbook_file,
            playbook_checksum = result.checksum, target = result.target, status = result.status,
            dry_run = result.dry_run or false, started_at = result.started_at,
            finished_at = result.finished_at, duration_ms = result.duration_ms,
            host = sys.hostname(), os_user = sys.username(),
            db_user = result.db_user, migrun_version = require("migrun").VERSION },
    outcome = { status = result.status, exit = result.exit, failed_phase = s.failed_phase,
                error = s.error, states = s.states },
    backup = s.backup, phases = s.phases, steps = s.steps, expectations = s.expectations,
    tables = s.tables,
  }
end

local function cell(v)
  if v == nil or v == cjson.null then return "" end
  if type(v) == "number" and v == math.floor(v) then return string.format("%d", v) end
  return (tostring(v):gsub("|", "\\|"):gsub("\n", " "))
end

local function change(v)
  if v == nil or v == cjson.null then return "" end
  if v > 0 then return "+" .. cell(v) end
  return cell(v)
end

--- report.markdown(doc) -> text
function M.markdown(doc)
  local out = {}
  local function add(...) out[#out + 1] = string.format(...) end
  local run = doc.run
  add("# migrun report: %s — %s", run.playbook, run.status)
  add("")
  if run.rehearsal then
    add("> **REHEARSAL** on `%s`, a clone of `%s` (%s, %.1fs): the target was not touched; these",
        cell(run.rehearsal.clone), cell(run.rehearsal.source), cell(run.rehearsal.method),
        tonumber(run.rehearsal.clone_seconds) or 0)
    add("> timings are the forecast for production.")
    add("")
  end
  if run.dry_run then
    add("> **DRY RUN**: every transactional phase ran inside one transaction that was rolled back;")
    add("> nothing was changed. Timings are a forecast.")
    add("")
  end
  add("| | |")
  add("|---|---|")
  add("| Playbook | %s%s |", cell(run.playbook), run.playbook_file and (" (`" .. cell(run.playbook_file) .. "`)") or "")
  add("| Playbook sha256 | `%s` |", cell(run.playbook_checksum))
  add("| Target | %s |", cell(run.target))
  add("| Run | %s |", run.id and tostring(run.id) or "not recorded (dry run)")
  add("| Started | %s |", cell(run.started_at))
  add("| Finished | %s |", cell(run.finished_at))
  add("| Duration | %s |", fmt_ms(run.duration_ms))
  add("| By | %s@%s (database user %s) |", cell(run.os_user), cell(run.host), cell(run.db_user))
  add("| migrun | %s |", cell(run.migrun_version))
  add("| Outcome | **%s** |", cell(doc.outcome.status))
  add("")
  if doc.backup then
    add("## Backup")
    add("")
    add("| File | Size | sha256 | Seconds |")
    add("|---|---:|---|---:|")
    add("| `%s` | %s | `%s` | %.1f |", cell(doc.backup.file), cell(doc.backup.size), cell(doc.backup.sha256),
        tonumber(doc.backup.seconds) or 0)
    add("")
  end
  add("## Phases")
  add("")
  add("| Phase | Status | Duration | Budget |")
  add("|---|---|---:|---:|")
  for _, p in ipairs(doc.phases) do
    add("| %s | %s | %s | %s |", cell(p.name), cell(p.status), fmt_ms(p.duration_ms), cell(p.budget))
  end
  add("")
  if #doc.steps > 0 then
    add("### Steps")
    add("")
    add("| Phase | Step | Status | Duration | Budget | Rows |")
    add("|---|---|---|---:|---:|---:|")
    for _, s in ipairs(doc.steps) do
      if s.kind ~= "phase" then
        add("| %s | %s | %s | %s | %s | %s |", cell(s.phase), cell(s.step), cell(s.status),
            fmt_ms(s.duration_ms), cell(s.budget), cell(s.rows))
      end
    end
    add("")
  end
  add("## Expectations")
  add("")
  local passed, total = 0, 0
  for _, e in ipairs(doc.expectations) do
    total = total + 1
    if e.ok then passed = passed + 1 end
  end
  add("%d of %d passed.", passed, total)
  add("")
  add("| Where | Expectation | Expected | Actual | Result |")
  add("|---|---|---|---|---|")
  for _, e in ipairs(doc.expectations) do
    add("| %s | %s | %s | %s | %s |", cell(e.phase), cell(e.description), cell(e.expected), cell(e.actual),
        e.skipped and "skipped" or e.ok and "pass" or "**FAIL**")
  end
  add("")
  if #doc.tables > 0 then
    add("## Row counts")
    add("")
    add("| Table | Before | After | Change |")
    add("|---|---:|---:|---:|")
    local tb, ta = 0, 0
    for _, t in ipairs(doc.tables) do
      add("| %s | %s | %s | %s |", cell(t.table), cell(t.before), cell(t.after), change(t.change))
      tb, ta = tb + (tonumber(nz(t.before)) or 0), ta + (tonumber(nz(t.after)) or 0)
    end
    add("| **Total** | **%d** | **%d** | **%s** |", tb, ta, change(ta - tb))
    add("")
  end
  add("## Outcome")
  add("")
  add("**%s**%s", cell(doc.outcome.status),
      doc.outcome.failed_phase and (" — failed in " .. cell(doc.outcome.failed_phase)) or "")
  if doc.outcome.error then
    add("")
    add("```")
    add("%s", tostring(doc.outcome.error))
    add("```")
  end
  if doc.outcome.states and next(doc.outcome.states) then
    add("")
    add("| Phase | State |")
    add("|---|---|")
    local names = {}
    for k in pairs(doc.outcome.states) do names[#names + 1] = k end
    table.sort(names)
    for _, k in ipairs(names) do add("| %s | %s |", cell(k), cell(doc.outcome.states[k])) end
  end
  return table.concat(out, "\n") .. "\n"
end

--- report.json(doc) -> text
function M.json(doc)
  return cjson.encode(doc) .. "\n"
end

--- report.json_path(path) -> where the JSON twin of a Markdown report goes
function M.json_path(path)
  return (path:gsub("%.md$", "")) .. ".json"
end

--- report.write(doc, path) -> md_path, json_path: both files, directories created
function M.write(doc, path)
  local lfs = require "lfs"
  local dir = path:match("^(.*)/[^/]*$")
  if dir then
    local acc = dir:sub(1, 1) == "/" and "" or "."
    for part in dir:gmatch("[^/]+") do
      acc = acc .. "/" .. part
      lfs.mkdir(acc)
    end
  end
  local jpath = M.json_path(path)
  for p, body in pairs({ [path] = M.markdown(doc), [jpath] = M.json(doc) }) do
    local f, err = io.open(p, "w")
    if not f then require("migrun.errors").raise("io", "cannot write the report: " .. err) end
    f:write(body)
    f:close()
  end
  return path, jpath
end

return M
