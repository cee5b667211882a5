--- migrun import DIR [--out FILE] [--adopt]: a playbook from a Flyway, dbmate, golang-migrate
-- or Sqitch folder; with --adopt, the migrations the tool's history table lists are recorded
-- as applied in migrun's ledger (the target: --db, --sandbox, --load as every verb).
local json = require "migrun.json"

local M = {}

local SCRIPT = { flyway = "undo (U) script", sqitch = "revert script" }

-- what the import wrote and what the reader must see to before the first run
local function tell(out, r, dir)
  for _, w in ipairs(r.warnings) do out:warn(require("migrun.import").where(w) .. w.message) end
  if r.reused then
    out:info(string.format("using %s as it is (it exists: not rewritten)", r.playbook))
  else
    out:info(string.format("wrote %s: playbook \"%s\", %d phases from the %s migrations in %s", r.playbook,
                           r.name, r.phases, r.title, dir))
    if #r.written > 1 then
      out:info(string.format("  and %d rewritten scripts under %s/.migrun/%s/ (commit them with it)",
                             #r.written - 1, r.playbook:match("^(.*)/[^/]*$") or ".", r.tool))
    end
  end
  if #r.no_rollback > 0 then
    out:info(string.format("without a rollback (no %s): %s", SCRIPT[r.tool] or "down script",
                           table.concat(r.no_rollback, ", ")))
  end
  if #r.vars > 0 then
    local sets = {}
    for _, v in ipairs(r.vars) do sets[#sets + 1] = "--set " .. v .. "=..." end
    out:info("its SQL uses variables: run it with " .. table.concat(sets, " "))
  end
end

function M.run(opts, ctx)
  local out = ctx.out
  local import = require "migrun.import"
  if not opts.adopt and (opts.db or opts.sandbox or #(opts.load or {}) > 0) then
    out:warn("--db, --sandbox and --load only matter with --adopt: nothing connects without it")
  end
  local r = import.run({ dir = opts.arg1, out = opts.out, adopt = opts.adopt, output = out, yes = opts.yes,
                         vars = opts.vars, connect = function()
                           local db = ctx:connect()
                           return db, ctx.conninfo
                         end, before_adopt = function(r) tell(out, r, opts.arg1) end })
  if not opts.adopt then tell(out, r, opts.arg1) end
  local warnings = {}
  for _, w in ipairs(r.warnings) do
    warnings[#warnings + 1] = { file = w.file, line = w.line, col = w.col, message = w.message }
  end
  local data = { tool = r.tool, playbook = r.playbook, name = r.name, phases = r.phases,
                 written = json.array(r.written), vars = json.array(r.vars), reused = r.reused or false,
                 no_rollback = json.array(r.no_rollback), warnings = json.array(warnings) }
  local a = r.adopted
  if not a then
    out:data("import", data)
    out:summary(string.format("imported %d %s migrations into %s", r.phases, r.title, r.playbook), true)
    return 0
  end
  data.adopted = { table = a.table, recorded = a.recorded, already = a.already, last = a.last,
                   changed = json.array(a.changed or {}) }
  out:data("import", data)
  local res = a.result
  if res and res.error then
    out:error(res.error)
    out:summary(string.format("%s: adoption stopped, nothing recorded", r.name), false)
    return res.exit
  end
  ctx.run_id = res and res.run_id
  local msg = string.format("adopted %s: recorded %d migration%s as applied", a.table, a.recorded,
                            a.recorded == 1 and "" or "s")
  if a.already > 0 then msg = msg .. string.format(" (%d already were)", a.already) end
  if a.last then msg = msg .. string.format("; the next run starts after '%s'", a.last) end
  out:summary(msg, true)
  return 0
end

return M
