--- migrun.report: the document that replaces a runbook's "completion report". One data
-- shape (report.data) built from the ledger, rendered as Markdown for people and JSON for
-- machines with the same content. The ledger row of a run holds a summary written when the
-- run finished; a run that died before that is rebuilt from its step and expectation rows.
-- Nothing here may print a secret: targets are stored redacted (user@host:port/db).
-- A field has one type in every document: lists are lists even when empty, expected and
-- actual values are text.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local json = require "migrun.json"
local ledger = require "migrun.ledger"
local status = require "migrun.run.status"
local sys = require "migrun.core.sys"

local M = {}

local array = json.array

local function fmt_ms(v)
  if v == nil or v == json.null then return "" end
  return clock.format(math.floor(v * 1e6))
end

local function nz(v)
  if v == nil or v == json.null then return nil end
  return v
end

local function copy_list(list, fn)
  local out = array()
  for _, x in ipairs(list or {}) do out[#out + 1] = fn and fn(x) or x end
  return out
end

--- report.expectation(r) -> an expectation result as reports and events carry it
function M.expectation(r)
  return { phase = r.phase, description = r.description, ok = r.ok and true or false,
           skipped = r.skipped or nil, expected = ledger.show(r.expected), actual = ledger.show(r.actual),
           details = r.details }
end

--- report.summary(result, run) -> the table stored in migrun.runs.summary
function M.summary(result, run)
  local snapshot = require "migrun.snapshot"
  local tables = array()
  if result.before then
    for _, d in ipairs(snapshot.diff(result.before, result.after)) do
      tables[#tables + 1] = { table = d.table, before = d.before, after = d.after, change = d.change,
                              content = d.content, estimated = d.estimated }
    end
  end
  local b = result.backup
  local backup = b and { file = b.file or b.dir, size = b.size, sha256 = b.sha256, seconds = b.seconds,
                         kind = b.dir and "tables" or "dump", proven = b.proven } or nil
  local phases = copy_list(run.phases, function(p)
    return { name = p.name, status = p.status, status_text = status.text(status.phase, p.status),
             duration_ms = p.duration_ms, budget = p.budget, transaction = p.transaction, error = p.error }
  end)
  return {
    status = result.status, status_text = status.text(status.run, result.status), exit = result.exit,
    failed_phase = result.failed_phase, error = result.error and tostring(result.error) or nil,
    dry_run = result.dry_run or false, rehearsal = result.rehearsal or false,
    dry_run_stopped_at = result.dry_run_stopped_at, baseline_run = result.baseline_run,
    duration_ms = result.duration_ms, work_ms = result.work_ms, gate_ms = result.gate_ms,
    playbook_file = run.pb.path, vars = run.pb.vars or {}, kept = result.kept,
    phases = phases, steps = copy_list(run.steps), expectations = copy_list(run.results, M.expectation),
    tables = tables, backup = backup, states = run.states, sql = copy_list(run.sql),
    logs = copy_list(run.logs), gates = copy_list(run.gates), lock_waits = copy_list(run.lock_waits),
    locks = copy_list(run.forecast), proofs = copy_list(run.proofs), backfills = copy_list(run.backfills),
    calls = copy_list(run.calls), watch = result.watch,
    lint = copy_list(run.opts.lint, function(f)
      return { rule = f.rule, severity = f.severity, file = f.file, line = f.line, col = f.col,
               message = f.message }
    end),
  }
end

local function document(run, s)
  return {
    run = run,
    outcome = { status = s.status, status_text = s.status_text or status.text(status.run, s.status),
                exit = s.exit, failed_phase = s.failed_phase, error = s.error, states = s.states or {},
                kept = s.kept, dry_run_stopped_at = s.dry_run_stopped_at, baseline_run = s.baseline_run },
    backup = s.backup, vars = s.vars or {},
    phases = copy_list(s.phases), steps = copy_list(s.steps), expectations = copy_list(s.expectations),
    tables = copy_list(s.tables), sql = copy_list(s.sql), logs = copy_list(s.logs), gates = copy_list(s.gates),
    lock_waits = copy_list(s.lock_waits), locks = copy_list(s.locks), lint = copy_list(s.lint),
    proofs = copy_list(s.proofs), backfills = copy_list(s.backfills), calls = copy_list(s.calls),
    watch = nz(s.watch),                  -- absent when the playbook has no watch (migrun.watch.report)
  }
end

--- report.data(db, run_id | nil) -> the report's data (latest run when run_id is nil), or nil
function M.data(db, run_id)
  if not ledger.exists(db) then return nil end
  local r = db:query([[
    SELECT id, playbook, playbook_checksum, target, status, host, os_user, db_user, migrun_version,
           dry_run, error, summary::text AS summary, kind,
           to_char(started_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS started_at,
           to_char(finished_at, 'YYYY-MM-DD HH24:MI:SS TZ') AS finished_at,
           (extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at) * 1000)::float8 AS ms
    FROM migrun.runs WHERE ($1::bigint IS NULL OR id = $1) ORDER BY id DESC LIMIT 1]], run_id)[1]
  if not r then return nil end
  local s = r.summary and json.decode(r.summary) or {}
  s.status = r.status
  local doc = document({ id = r.id, kind = r.kind, playbook = r.playbook, playbook_file = nz(s.playbook_file),
    playbook_checksum = r.playbook_checksum, target = r.target, status = r.status,
    dry_run = r.dry_run, rehearsal = s.rehearsal == true, started_at = r.started_at,
    finished_at = r.finished_at, duration_ms = r.ms, work_ms = nz(s.work_ms), gate_ms = nz(s.gate_ms),
    host = r.host, os_user = r.os_user, db_user = r.db_user, migrun_version = r.migrun_version }, s)
  doc.outcome.error = nz(s.error) or r.error
  if not r.summary then                              -- no summary: the run did not finish
    for _, st in ipairs(ledger.steps(db, r.id)) do
      if st.status ~= "started" then doc.steps[#doc.steps + 1] = st end
    end
    for _, e in ipairs(ledger.expectations(db, r.id)) do doc.expectations[#doc.expectations + 1] = e end
    for _, g in ipairs(ledger.gates(db, r.id)) do doc.gates[#doc.gates + 1] = g end
    doc.watch = require("migrun.watch.report").from_ledger(db, r.id)
  end
  -- from the ledger: the run's closing notification is sent after its summary is written
  doc.calls = copy_list(ledger.calls(db, r.id))      -- a list: not the result's n and columns
  return doc
end

--- report.from_result(result) -> the same data for a run the ledger does not keep (a dry run,
-- a rehearsal on a clone that is gone)
function M.from_result(result)
  local doc = document({ id = not result.dry_run and result.run_id or nil,
    kind = result.dry_run and "dry_run" or result.rehearsal and "rehearsal" or "run",
    playbook = result.playbook, playbook_file = result.playbook_file,
    playbook_checksum = result.checksum, target = result.target, status = result.status,
    dry_run = result.dry_run or false, rehearsal = result.rehearsal or false,
    started_at = result.started_at, finished_at = result.finished_at, duration_ms = result.duration_ms,
    work_ms = result.work_ms, gate_ms = result.gate_ms, host = sys.hostname(), os_user = sys.username(),
    db_user = result.db_user, migrun_version = require("migrun").VERSION }, result.summary)
  if result.run then doc.calls = copy_list(result.run.calls) end
  return doc
end

local function cell(v)
  if v == nil or v == json.null then return "" end
  if type(v) == "number" and v == math.floor(v) then return string.format("%d", v) end
  return (tostring(v):gsub("|", "\\|"):gsub("\n", " "))
end

local function change(v)
  if v == nil or v == json.null then return "" end
  if v > 0 then return "+" .. cell(v) end
  return cell(v)
end

local function fence(s)
  local ticks = "```"
  while s:find(ticks, 1, true) do ticks = ticks .. "`" end
  return ticks
end

--- report.markdown(doc) -> text
function M.markdown(doc)
  local out = {}
  local function add(...) out[#out + 1] = string.format(...) end
  local run = doc.run
  add("# migrun report: %s — %s", run.playbook, doc.outcome.status_text or run.status)
  add("")
  if run.rehearsal then
    local r = run.rehearsal_clone or {}
    add("> **REHEARSAL** on `%s`, a clone of `%s` (%s, %.1fs): the target was not touched; these",
        cell(r.clone), cell(r.source), cell(r.method), tonumber(r.clone_seconds) or 0)
    add("> timings are the forecast for production.")
    add("")
  end
  if run.dry_run then
    add("> **DRY RUN**: every transactional phase ran inside one transaction that was rolled back;")
    add("> nothing was changed. Timings are a forecast.")
    if doc.outcome.dry_run_stopped_at then
      add("> It stopped before phase `%s` (transaction = false), which a dry run cannot undo:",
          cell(doc.outcome.dry_run_stopped_at))
      add("> that phase and the ones after it were not checked; `migrun rehearse` runs them on a clone.")
    end
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
  add("| Duration | %s%s |", fmt_ms(run.duration_ms), nz(run.gate_ms) and run.gate_ms >= 1000 and
      string.format(" (of which %s waiting at gates)", fmt_ms(run.gate_ms)) or "")
  add("| By | %s@%s (database user %s) |", cell(run.os_user), cell(run.host), cell(run.db_user))
  add("| migrun | %s |", cell(run.migrun_version))
  add("| Outcome | **%s** |", cell(doc.outcome.status_text))
  add("")
  local names = {}
  for k in pairs(doc.vars or {}) do names[#names + 1] = k end
  if #names > 0 then
    table.sort(names)
    add("## Variables (--set)")
    add("")
    add("| Name | Value |")
    add("|---|---|")
    for _, k in ipairs(names) do add("| %s | `%s` |", cell(k), cell(doc.vars[k])) end
    add("")
  end
  if doc.backup then
    add("## Backup")
    add("")
    add("| File | Size | sha256 | Seconds |")
    add("|---|---:|---|---:|")
    add("| `%s` | %s | `%s` | %.1f |", cell(doc.backup.file), cell(doc.backup.size), cell(doc.backup.sha256),
        tonumber(doc.backup.seconds) or 0)
    add("")
    local p = doc.backup.proven
    if p then
      add("Proven restorable: restored into the scratch database `%s`, the row counts of all %d tables " ..
          "(%d rows) match the source at the dump's snapshot (%.1fs); the scratch database was dropped.",
          cell(p.database), p.tables, p.rows, tonumber(p.seconds) or 0)
    elseif doc.backup.kind == "dump" then
      add("Verified by a full read (pg_restore); not restored (`backup.dump { prove = true }` restores it " ..
          "into a scratch database and counts).")
    end
    add("")
  end
  if #doc.calls > 0 then
    add("## Hooks and notifications")
    add("")
    add("| Kind | Event | Call | Result | Took |")
    add("|---|---|---|---|---:|")
    for _, c in ipairs(doc.calls) do
      add("| %s | %s | %s | %s | %s |", cell(c.kind), cell(c.event), cell(c.name),
          (c.ok and "ok" or "**FAILED**") .. (nz(c.detail) and (": " .. cell(c.detail)) or ""), fmt_ms(c.duration_ms))
    end
    add("")
  end
  if #doc.gates > 0 then
    add("## Gates")
    add("")
    add("| Gate | Question | Answer | By | Waited |")
    add("|---|---|---|---|---:|")
    for _, g in ipairs(doc.gates) do
      if #g.items == 0 then
        add("| %s | | %s | %s | %s |", cell(g.gate), cell(g.answer), cell(g.answered_by), fmt_ms(g.waited_ms))
      end
      for _, it in ipairs(g.items) do
        add("| %s | %s | %s | %s | %s |", cell(g.gate), cell(it.question), cell(it.answer), cell(g.answered_by),
            fmt_ms(g.waited_ms))
      end
    end
    add("")
  end
  add("## Phases")
  add("")
  if #doc.phases == 0 then
    add("No phase ran.")
  else
    add("| Phase | Status | Duration | Budget |")
    add("|---|---|---:|---:|")
    for _, p in ipairs(doc.phases) do
      add("| %s | %s | %s | %s |", cell(p.name), cell(p.status_text or p.status), fmt_ms(p.duration_ms),
          cell(p.budget))
    end
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
  local inline = {}
  for _, q in ipairs(doc.sql) do if q.sql then inline[#inline + 1] = q end end
  if #inline > 0 then
    add("### Inline SQL")
    add("")
    for _, q in ipairs(inline) do
      local f = fence(q.sql)
      add("%s / %s:", cell(q.phase), cell(q.step))
      add("")
      add("%ssql", f)
      add("%s", (q.sql:gsub("^\n+", ""):gsub("%s+$", "")))
      add("%s", f)
      add("")
    end
  end
  if #doc.logs > 0 then
    add("### Log of Lua steps")
    add("")
    for _, l in ipairs(doc.logs) do add("- %s / %s: %s", cell(l.phase), cell(l.step), cell(l.message)) end
    add("")
  end
  if #doc.backfills > 0 then
    add("## Backfills")
    add("")
    add("| Step | Table | Rows | Batches | Seconds | Rows/s | Pauses |")
    add("|---|---|---:|---:|---:|---:|---:|")
    for _, b in ipairs(doc.backfills) do
      add("| %s | %s | %s | %s | %.1f | %s | %d |", cell(b.step), cell(b.table), cell(b.rows), cell(b.batches),
          tonumber(b.seconds) or 0, cell(math.floor(tonumber(b.rate) or 0)), #(b.pauses or {}))
    end
    add("")
    for _, b in ipairs(doc.backfills) do
      if #(b.samples or {}) > 1 then
        add("Throughput of %s over time:", cell(b.step))
        add("")
        add("| At | Rows done | Rows/s | Batch size |")
        add("|---:|---:|---:|---:|")
        for _, smp in ipairs(b.samples) do
          add("| %.0fs | %s | %s | %s |", smp.at_seconds, cell(smp.rows), cell(math.floor(smp.rate)), cell(smp.batch))
        end
        add("")
      end
      for _, p in ipairs(b.pauses or {}) do
        add("- %s paused at %.0fs for %.1fs: %s", cell(b.step), p.at_seconds, p.seconds, cell(p.reason))
      end
      if (tonumber(b.cut) or 0) > 0 then
        add("- %s: %s batch(es) ran past the %s ms target: cancelled, rolled back and tried again at half the size",
            cell(b.step), cell(b.cut), cell(b.target_ms))
      end
    end
    add("")
  end
  if #doc.proofs > 0 then
    add("## Rollbacks, proven")
    add("")
    add("Each phase applied, then its rollback, on the clone: the schema and the touched tables' " ..
        "content compared with the state before the phase, then the phase applied again.")
    add("")
    add("| Phase | Rollback | Known differences |")
    add("|---|---|---|")
    for _, p in ipairs(doc.proofs) do
      local known = p.detail and p.detail.known or {}
      add("| %s | %s | %s |", cell(p.phase), p.ok and "brings it back" or "**does not bring it back**",
          cell(table.concat(known, "; ")))
    end
    add("")
    for _, p in ipairs(doc.proofs) do
      if not p.ok then
        add("### %s", cell(p.phase))
        add("")
        if p.error then add("The rollback failed: `%s`", cell(p.error)) end
        for _, t in ipairs(p.detail and p.detail.tables or {}) do add("- %s: %s", cell(t.table), cell(t.what)) end
        if p.detail and p.detail.diff then
          add("")
          add("```diff")
          add("%s", p.detail.diff)
          add("```")
        end
        add("")
      end
    end
  end
  if #doc.lint > 0 then
    add("## Lint")
    add("")
    add("| Where | Severity | Rule | Finding |")
    add("|---|---|---|---|")
    for _, f in ipairs(doc.lint) do
      add("| %s:%s:%s | %s | [%s](%s) | %s |", cell(f.file), cell(f.line), cell(f.col), cell(f.severity),
          cell(f.rule), "docs/lint/" .. tostring(f.rule) .. ".md", cell(f.message))
    end
    add("")
  end
  if #doc.locks > 0 then
    add("## Locks (forecast from the rehearsal)")
    add("")
    add("| Phase | Relation | Mode | Blocks | Held for | Rewritten |")
    add("|---|---|---|---|---:|---|")
    for _, l in ipairs(doc.locks) do
      add("| %s | %s | %s | %s | %s | %s |", cell(l.phase), cell(l.relation), cell(l.mode), cell(l.blocks),
          fmt_ms(l.held_ms), l.rewritten and "**yes**" or "no")
    end
    add("")
  end
  if #doc.lock_waits > 0 then
    add("## Lock waits")
    add("")
    add("| Where | After | Blocked by (pid) | User | Application | State | In a transaction for | Query |")
    add("|---|---:|---:|---|---|---|---:|---|")
    for _, w in ipairs(doc.lock_waits) do
      for _, b in ipairs(w.blockers) do
        add("| %s | %.1fs | %s | %s | %s | %s | %ss | `%s` |", cell(w.what), tonumber(w.at_seconds) or 0,
            cell(b.pid), cell(b.user), cell(b.app), cell(b.state), cell(b.xact_seconds),
            cell((tostring(b.query or ""):gsub("`", "'"))))
      end
    end
    add("")
  end
  add("## Expectations")
  add("")
  if #doc.expectations == 0 then
    add("No expectation was checked.")
  else
    local passed = 0
    for _, e in ipairs(doc.expectations) do if e.ok then passed = passed + 1 end end
    add("%d of %d passed.", passed, #doc.expectations)
    add("")
    add("| Where | Expectation | Expected | Actual | Result |")
    add("|---|---|---|---|---|")
    for _, e in ipairs(doc.expectations) do
      add("| %s | %s | %s | %s | %s |", cell(e.phase), cell(e.description), cell(e.expected), cell(e.actual),
          e.skipped and "skipped" or e.ok and "pass" or "**FAIL**")
    end
    -- an expectation made of assertions (pgTAP): each with its description
    for _, e in ipairs(doc.expectations) do
      if type(e.details) == "table" and #e.details > 0 then
        add("")
        add("%s (%s):", cell(e.description), cell(e.phase))
        add("")
        for _, t in ipairs(e.details) do
          if nz(t.error) then
            add("- ERROR %s", cell(t.error))
          else
            add("- %s %s %s%s%s", t.ok and "ok" or "**not ok**", cell(t.n), cell(t.description),
                nz(t.todo) and (" # " .. cell(t.todo)) or "", nz(t.diagnostics) and (": " .. cell(t.diagnostics)) or "")
          end
        end
      end
    end
  end
  add("")
  if #doc.tables > 0 then
    add("## Row counts")
    add("")
    if doc.outcome.baseline_run then
      add("Before is the start of run %d, which began this migration.", doc.outcome.baseline_run)
      add("")
    end
    add("| Table | Before | After | Change |")
    add("|---|---:|---:|---:|")
    local tb, ta = 0, 0
    local any_estimate = false
    for _, t in ipairs(doc.tables) do
      local mark = t.estimated and "~" or ""
      any_estimate = any_estimate or t.estimated
      add("| %s | %s%s | %s%s | %s%s |", cell(t.table), t.before and mark or "", cell(t.before),
          t.after and mark or "", cell(t.after), t.change and mark or "", change(t.change))
      tb, ta = tb + (tonumber(nz(t.before)) or 0), ta + (tonumber(nz(t.after)) or 0)
    end
    add("| **Total** | **%s%d** | **%s%d** | **%s** |", any_estimate and "~" or "", tb, any_estimate and "~" or "", ta,
        change(ta - tb))
    add("")
    if any_estimate then
      add("~ the planner's estimate (pg_class.reltuples, pg_stat_user_tables): these tables are over %d MB, " ..
          "and counting them would scan them; checks that need exact counts counted.",
          require("migrun.snapshot").EXACT_BYTES // 1048576)
      add("")
    end
  end
  local watched = require("migrun.watch.report").markdown(doc.watch)
  if watched then add("%s", watched) end
  add("## Outcome")
  add("")
  add("**%s**%s", cell(doc.outcome.status_text),
      doc.outcome.failed_phase and (" — failed in " .. cell(doc.outcome.failed_phase)) or "")
  if doc.outcome.error then
    add("")
    add("```")
    add("%s", tostring(doc.outcome.error))
    add("```")
  end
  if doc.outcome.kept then
    add("")
    add("The failed database is kept as `%s`.", cell(doc.outcome.kept))
  end
  local states = {}
  for _, p in ipairs(doc.phases) do
    local code = doc.outcome.states[p.name]
    if code then states[#states + 1] = { p.name, code } end
  end
  if #states > 0 then
    add("")
    add("| Phase | State |")
    add("|---|---|")
    for _, st in ipairs(states) do add("| %s | %s |", cell(st[1]), cell(status.text(status.phase, st[2]))) end
  end
  return table.concat(out, "\n") .. "\n"
end

--- report.json(doc) -> text
function M.json(doc)
  return json.encode(doc) .. "\n"
end

--- report.json_path(path) -> where the JSON twin of a Markdown or HTML report goes
function M.json_path(path)
  return (path:match("^(.*)%.html$") or path:match("^(.*)%.md$") or path) .. ".json"
end

--- report.default_path(base, doc) -> the playbook's `report = "reports/x.md"` made unique to
-- this run, so a later run never overwrites it: x-run-12.md, x-dry-run-<stamp>.md,
-- x-rehearsal-<stamp>.md
function M.default_path(base, doc)
  local stem, ext = base:match("^(.-)(%.md)$")
  stem, ext = stem or base, ext or ".md"
  local stamp = os.date("!%Y%m%dT%H%M%SZ")
  if doc.run.dry_run then return string.format("%s-dry-run-%s%s", stem, stamp, ext) end
  if doc.run.rehearsal then return string.format("%s-rehearsal-%s%s", stem, stamp, ext) end
  return string.format("%s-run-%s%s", stem, tostring(doc.run.id or stamp), ext)
end

-- write body to a temporary name beside path; returns the temporary name, or nil, why
local function write_temp(path, body)
  local tmp = string.format("%s.partial-%d", path, sys.getpid())
  local f, err = io.open(tmp, "wb")
  local ok = f ~= nil
  if ok then ok, err = f:write(body) end
  if ok then ok, err = f:flush() end
  if f then
    local cok, cerr = f:close()
    if ok and not cok then ok, err = false, cerr end
  end
  if not ok then
    os.remove(tmp)
    return nil, err
  end
  return tmp
end

--- report.write(doc, path) -> path, json_path: the report (Markdown, or one HTML page when path
-- ends in .html) and its JSON twin (directories created), each written in full to a temporary
-- name first and renamed only when both are whole, so no half report is ever left; raises
-- kind="environment" (exit 3) when they cannot be written
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
  local body = path:find("%.html$") and require("migrun.report_html").html(doc) or M.markdown(doc)
  local tmd, err = write_temp(path, body)
  local tjs
  if tmd then
    tjs, err = write_temp(jpath, M.json(doc))
    if not tjs then os.remove(tmd) end
  end
  if tjs then
    local ok, rerr = os.rename(tjs, jpath)
    if ok then ok, rerr = os.rename(tmd, path) end
    if not ok then
      os.remove(tjs)
      os.remove(tmd)
      err = rerr
    end
  end
  if err then
    errors.raise("environment", string.format("cannot write the report %s: %s", path, tostring(err)),
      { reason = "io", hint = "free some space or pick another place with --report FILE; " ..
        "`migrun report RUN_ID --report FILE` writes it again from the ledger" }, 2)
  end
  return path, jpath
end

return M
