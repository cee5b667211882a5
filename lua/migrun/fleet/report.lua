--- migrun.fleet.report: the aggregated fleet report (policy layer), Markdown and JSON with the
-- same content: the fleet, the playbook, the waves, the answer given up front, and every
-- target with its wave, outcome, run, duration, error and the paths of its own report and
-- log. Targets are shown as migrun shows a target: never with a password.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local json = require "migrun.json"
local status = require "migrun.run.status"
local sys = require "migrun.core.sys"

local M = {}

local array = json.array

local function relative(path, dir)
  if not path then return nil end
  if dir and path:sub(1, #dir + 1) == dir .. "/" then return path:sub(#dir + 2) end
  return path
end

--- report.outcome(outcome, fleet) -> code, text: succeeded | failed | stopped | interrupted
function M.outcome(o, fleet, verb_waves)
  if o.stop == "interrupted" then
    return "interrupted", string.format("interrupted (Ctrl-C) in wave %d of %d", o.waves_run, o.waves)
  end
  if o.stop == "failures" and #o.not_started > 0 then
    return "stopped", string.format("stopped in wave %d of %d: %d failure(s) reached max_failures = %s",
                                    o.waves_run, o.waves, o.failures, tostring(fleet.max_failures))
  end
  if o.failures > 0 then
    return "failed", string.format("%d target(s) failed%s", o.failures,
                                   verb_waves and " (within max_failures)" or "")
  end
  return "succeeded", "every target succeeded"
end

--- report.document(a) -> doc. a = {fleet, verb, playbook (pb), outcome, states, started_at,
-- finished_at, duration_ms, exit, confirmation, path (of the Markdown)}
function M.document(a)
  local fl, o = a.fleet, a.outcome
  local code, text = M.outcome(o, fl, a.waves)
  local dir = a.path and a.path:match("^(.*)/[^/]*$")
  local sizes = array()
  for i, w in ipairs(o.plan or fl.plan) do sizes[i] = w.last - w.first + 1 end
  local counts = {}
  local targets = array()
  for _, r in ipairs(o.results) do
    counts[r.state] = (counts[r.state] or 0) + 1
    targets[#targets + 1] = {
      index = r.target.index, target = r.target.label, name = r.target.name, database = r.target.key,
      wave = r.wave, state = r.state, exit = r.exit, status = r.status, run_id = r.run_id,
      started_at = r.started_at, duration_ms = r.ms, error = r.error,
      report = r.report, report_json = r.report_json, log = r.log, stderr = r.stderr,
    }
  end
  local specs = array()
  for i, s in ipairs(fl.waves) do specs[i] = tostring(s) end
  local not_started = array()
  for _, r in ipairs(o.not_started) do not_started[#not_started + 1] = r.target.label end
  return {
    fleet = {
      name = fl.name, file = fl.file, verb = a.verb, playbook = a.playbook.name, playbook_file = a.playbook.path,
      playbook_checksum = a.playbook.checksum, vars = a.playbook.vars, targets = #fl.targets,
      concurrency = fl.concurrency, max_failures = fl.max_failures ~= math.huge and fl.max_failures or nil,
      waves = a.waves and specs or nil,
      wave_sizes = sizes, started_at = a.started_at, finished_at = a.finished_at, duration_ms = a.duration_ms,
      by = (sys.username() or "?") .. "@" .. (sys.hostname() or "?"), migrun_version = require("migrun").VERSION,
      outcome = code, outcome_text = text, exit = a.exit, confirmation = a.confirmation,
      args = a.args and array(a.args) or nil,
    },
    counts = counts, targets = targets, not_started = not_started, dir = dir,
  }
end

local function cell(v)
  if v == nil then return "" end
  return (tostring(v):gsub("|", "\\|"):gsub("\n", " "))
end

--- report.markdown(doc, states) -> text
function M.markdown(doc, states)
  local f = doc.fleet
  local L = {}
  local function add(s) L[#L + 1] = s end
  add(string.format("# Fleet %s: %s %s", f.name, f.verb, f.playbook))
  add("")
  add("| | |")
  add("|---|---|")
  add(string.format("| Outcome | **%s** (exit %d) |", cell(f.outcome_text), f.exit))
  add(string.format("| Fleet file | %s |", cell(f.file)))
  add(string.format("| Playbook | %s (%s), sha256 %s |", cell(f.playbook_file), cell(f.playbook),
                    cell((f.playbook_checksum or ""):sub(1, 16))))
  local keys = {}
  for k in pairs(f.vars or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  if #keys > 0 then
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(f.vars[k]) end
    add(string.format("| --set | %s |", cell(table.concat(parts, ", "))))
  end
  if f.waves then
    local sizes = {}
    for i, n in ipairs(f.wave_sizes) do sizes[i] = tostring(n) end
    add(string.format("| Targets | %d in %d wave(s) of %s (waves = { %s }), concurrency %d, max_failures %s |",
                      f.targets, #f.wave_sizes, table.concat(sizes, " + "), table.concat(f.waves, ", "),
                      f.concurrency, f.max_failures or "none"))
  else
    add(string.format("| Targets | %d, concurrency %d |", f.targets, f.concurrency))
  end
  if f.confirmation then
    add(string.format("| Confirmed | %s by %s |", cell(f.confirmation.answer), cell(f.confirmation.answered_by)))
  end
  add(string.format("| Started | %s |", cell(f.started_at)))
  add(string.format("| Finished | %s (%s) |", cell(f.finished_at), clock.format(math.floor(f.duration_ms * 1e6))))
  add(string.format("| By | %s, migrun %s |", cell(f.by), cell(f.migrun_version)))
  add("")
  add("## Summary")
  add("")
  add("| State | Targets |")
  add("|---|---:|")
  local names = {}
  for k in pairs(doc.counts) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do add(string.format("| %s | %d |", states[k].text, doc.counts[k])) end
  add("")
  add("## Targets")
  add("")
  add("| # | Wave | Target | State | Outcome | Run | Duration | Report | Log | Error |")
  add("|---:|---:|---|---|---|---:|---:|---|---|---|")
  for _, t in ipairs(doc.targets) do
    local rep = t.report and string.format("[%s](%s)", t.report:match("[^/]*$"), relative(t.report, doc.dir)) or ""
    local log = t.log and string.format("[log](%s)", relative(t.log, doc.dir)) or ""
    local target = t.name and string.format("%s (%s)", t.name, t.database) or t.target
    add(string.format("| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |", t.index, t.wave, cell(target),
      states[t.state].text, cell(t.status and status.text(status.run, t.status) or ""), cell(t.run_id),
      t.duration_ms and clock.format(math.floor(t.duration_ms * 1e6)) or "", rep, log, cell(t.error)))
  end
  if #doc.not_started > 0 then
    add("")
    add("## Not started")
    add("")
    for _, n in ipairs(doc.not_started) do add("- " .. cell(n)) end
  end
  add("")
  return table.concat(L, "\n")
end

local function write_whole(path, body)
  local tmp = string.format("%s.partial-%d", path, sys.getpid())
  local f, err = io.open(tmp, "wb")
  local ok = f ~= nil
  if ok then ok, err = f:write(body) end
  if f then
    local cok, cerr = f:close()
    if ok and not cok then ok, err = false, cerr end
  end
  if ok then ok, err = os.rename(tmp, path) end
  if not ok then
    os.remove(tmp)
    errors.raise("environment", string.format("cannot write the fleet report %s: %s", path, tostring(err)),
                 { reason = "io" })
  end
end

--- report.write(doc, path, states) -> md path, json path; each written whole, then renamed
function M.write(doc, path, states)
  local jpath = path:gsub("%.md$", "") .. ".json"
  local d = doc.dir
  doc.dir = nil
  local ok, err = pcall(function()
    write_whole(jpath, json.encode(doc))
    doc.dir = d
    write_whole(path, M.markdown(doc, states))
  end)
  doc.dir = d
  if not ok then error(err, 0) end
  return path, jpath
end

return M
