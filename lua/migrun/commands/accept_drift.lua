--- migrun accept-drift PLAYBOOK.lua [--note TEXT]: show how applied steps changed since they
-- were applied, then record the playbook's current version of them, so runs go on.
local expect = require "migrun.expect"
local prompt = require "migrun.prompt"
local state = require "migrun.run.state"
local status = require "migrun.run.status"

local M = {}

local function lines(s)
  local out = {}
  for l in ((s or ""):gsub("\r\n", "\n") .. "\n"):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

local function step_of(pb, phase, step)
  local ph = pb.phases[phase]
  for _, st in ipairs(ph and ph.steps or {}) do
    if st.name == step then return st end
  end
end

function M.run(opts, ctx)
  local pb = ctx:playbook()
  local db = ctx:connect()
  local out = ctx.out
  local result = require("migrun.runner").accept_drift(pb, { db = db, out = out, note = opts.note,
    target = db:target(), conninfo = ctx.conninfo,
    confirm = function(drift)
      for _, d in ipairs(drift) do
        out:info(state.describe_drift(d))
        local st = step_of(pb, d.phase, d.step)
        local old = d.row and require("migrun.ledger").body(db, d.row)
        if d.reason == "changed" then
          if old then
            out:text(expect.diff(lines(old), lines(st.body or st.text),
                                 { from = "applied", to = "playbook now", max = 60 }) .. "\n")
          else
            out:info("  (the ledger has no copy of the applied text: it was applied by an older migrun)")
          end
        end
        out:data("drift", { phase = d.phase, step = d.step, reason = d.reason })
      end
      local ok, _, why = prompt.ask(out, { what = "confirm", name = "accept-drift", yes = opts.yes,
        items = { string.format("Record the playbook's version of these %d step(s) as what is applied?", #drift) } })
      return ok, why
    end })
  if result.error then out:error(result.error) end
  out:summary(string.format("%s: %s", pb.name, status.text(status.run, result.status)), result.exit == 0)
  ctx.status, ctx.run_id = result.status, result.run_id
  return result.exit
end

return M
