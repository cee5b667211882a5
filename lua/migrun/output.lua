--- migrun.output: what a run prints while it runs. One line per phase and step with its
-- duration (and budget); coloured on a terminal, plain otherwise (NO_COLOR, --no-color);
-- --quiet prints only failures, --verbose adds expectations that passed and notices,
-- --json writes one JSON object per event on stdout instead.
local clock = require "migrun.clock"
local term = require "migrun.core.term"

local M = {}
local Out = {}
Out.__index = Out

local COLORS = { red = "31", green = "32", yellow = "33", dim = "2", bold = "1", cyan = "36" }

--- output.new{json=, quiet=, verbose=, color=} -> out; color defaults to "stdout is a tty
-- and NO_COLOR is unset"
function M.new(opts)
  opts = opts or {}
  local color = opts.color
  if color == nil then
    color = term.isatty(1) and (os.getenv("NO_COLOR") or "") == "" and not opts.no_color
  end
  return setmetatable({ json = opts.json, quiet = opts.quiet, verbose = opts.verbose,
                        color = color, stream = opts.stream or io.stdout }, Out)
end

function Out:paint(c, s)
  if not self.color then return s end
  return "\27[" .. COLORS[c] .. "m" .. s .. "\27[0m"
end

function Out:write(s)
  self.stream:write(s, "\n")
  self.stream:flush()
end

--- out:event(name, fields): the JSON form of every line
function Out:event(name, fields)
  if not self.json then return false end
  local cjson = require "cjson"
  fields = fields or {}
  fields.event = name
  self:write(cjson.encode(fields))
  return true
end

local function timing(ns, budget)
  local s = clock.format(ns)
  if budget then s = s .. " / " .. budget.text end
  return s
end

--- out:info(msg)
function Out:info(msg)
  if self:event("info", { message = msg }) or self.quiet then return end
  self:write(msg)
end

--- out:warn(msg)
function Out:warn(msg)
  if self:event("warning", { message = msg }) then return end
  self:write(self:paint("yellow", "warning: ") .. msg)
end

--- out:phase(phase, status, ns [, extra])
function Out:phase(ph, status, ns, extra)
  if self:event("phase", { phase = ph.name, status = status, ms = ns and ns / 1e6,
                           budget = ph.budget and ph.budget.text, detail = extra }) then return end
  if self.quiet and status ~= "failed" then return end
  local color = ({ applied = "green", failed = "red", skipped = "dim", ["rolled back"] = "yellow",
                   ["dry run"] = "cyan" })[status] or "bold"
  local line = string.format("%s %s", self:paint("bold", "phase"), ph.name)
  local tail = self:paint(color, status)
  if ns then tail = tail .. "  " .. timing(ns, ph.budget) end
  if extra then tail = tail .. "  " .. extra end
  self:write(line .. "  " .. tail)
end

--- out:step(phase, step, status, ns, rows)
function Out:step(ph, st, status, ns, rows)
  if self:event("step", { phase = ph.name, step = st.name, status = status, ms = ns and ns / 1e6,
                          budget = st.budget and st.budget.text, rows = rows }) then return end
  if self.quiet and status ~= "failed" then return end
  local color = status == "failed" and "red" or status == "applied" and "green" or "dim"
  local s = string.format("  step %-40s %s", st.name, self:paint(color, status))
  if ns then s = s .. "  " .. timing(ns, st.budget) end
  if rows and rows > 0 then s = s .. string.format("  (%d rows)", rows) end
  self:write(s)
end

--- out:expectation(where, result)
function Out:expectation(where, r)
  if self:event("expectation", { phase = where, description = r.description, ok = r.ok,
                                 expected = r.expected, actual = r.actual }) then return end
  if r.ok and not r.skipped and not self.verbose then return end
  local ledger = require "migrun.ledger"
  local s = string.format("  expect %s  %s", r.description, r.skipped and self:paint("yellow", r.actual)
                          or r.ok and self:paint("green", "ok") or self:paint("red", "FAILED"))
  if not r.ok then
    s = s .. string.format("  (actual %s, expected %s)", ledger.show(r.actual) or "nil",
                           ledger.show(r.expected) or "nil")
  end
  self:write(s)
end

--- out:error(err)
function Out:error(err)
  if self:event("error", { message = tostring(err), kind = type(err) == "table" and err.kind or nil,
                           sqlstate = type(err) == "table" and err.sqlstate or nil }) then return end
  io.stderr:write(self:paint("red", "error: ") .. tostring(err), "\n")
  io.stderr:flush()
end

--- out:summary(text, ok)
function Out:summary(msg, ok, fields)
  fields = fields or {}
  fields.message, fields.ok = msg, ok
  if self:event("result", fields) then return end
  if self.quiet and ok then return end
  self:write(self:paint(ok and "green" or "red", msg))
end

return M
