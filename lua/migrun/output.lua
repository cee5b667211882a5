--- migrun.output: what a command prints (policy layer). One line per phase and step with its
-- duration (and budget); coloured on a terminal, plain otherwise (NO_COLOR, --no-color);
-- --quiet prints only failures, --verbose adds expectations that passed. With --json every
-- line is a JSON object on stdout instead, one per event; the `result` event (with `exit`) is
-- the last one, written by the command line for every verb.
local clock = require "migrun.clock"
local json = require "migrun.json"
local term = require "migrun.core.term"

local M = {}
local Out = {}
Out.__index = Out

local COLORS = { red = "31", green = "32", yellow = "33", dim = "2", bold = "1", cyan = "36" }

--- output.new{json=, quiet=, verbose=, no_color=, stream=} -> out; colour when stdout is a
-- terminal and NO_COLOR is unset
function M.new(opts)
  opts = opts or {}
  local color = opts.color
  if color == nil then
    color = term.isatty(1) and (os.getenv("NO_COLOR") or "") == "" and not opts.no_color
  end
  return setmetatable({ json = opts.json, quiet = opts.quiet, verbose = opts.verbose, color = color,
                        stream = opts.stream or io.stdout, err = opts.err or opts.stream or io.stderr }, Out)
end

function Out:paint(c, s)
  if not self.color then return s end
  return "\27[" .. COLORS[c] .. "m" .. s .. "\27[0m"
end

function Out:write(s)
  self.stream:write(s, "\n")
  self.stream:flush()
end

--- out:event(name, fields) -> true when it was written as JSON (the --json form of a line)
function Out:event(name, fields)
  if not self.json then return false end
  fields = fields or {}
  fields.event = name
  self:write(json.encode(fields))
  return true
end

--- out:text(s): a verb's text output (plan, status, ...); nothing with --json, where the verb
-- writes its data with out:data instead
function Out:text(s)
  if self.json then return end
  self.stream:write(s)
  self.stream:flush()
end

--- out:data(name, fields): a verb's result as one JSON event (nothing without --json)
function Out:data(name, fields)
  self:event(name, fields)
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

local PHASE_COLORS = { applied = "green", ran = "cyan", failed = "red", skipped = "dim",
                       ["rolled back"] = "yellow", ["recorded as applied"] = "cyan" }

--- out:phase(phase, status, ns [, extra])
function Out:phase(ph, status, ns, extra)
  if self:event("phase", { phase = ph.name, status = status, ms = ns and ns / 1e6,
                           budget = ph.budget and ph.budget.text, detail = extra }) then return end
  if self.quiet and not status:find("fail") then return end
  local line = string.format("%s %s", self:paint("bold", "phase"), ph.name)
  local tail = self:paint(PHASE_COLORS[status] or (status:find("fail") and "red") or "bold", status)
  if ns then tail = tail .. "  " .. timing(ns, ph.budget) end
  if extra then tail = tail .. "  " .. extra end
  self:write(line .. "  " .. tail)
end

--- out:step(phase, step, status, ns, rows)
function Out:step(ph, st, status, ns, rows)
  if self:event("step", { phase = ph.name, step = st.name, status = status, ms = ns and ns / 1e6,
                          budget = st.budget and st.budget.text, rows = rows }) then return end
  if self.quiet and status ~= "failed" then return end
  local color = status == "failed" and "red" or (status == "applied" or status == "ran") and "green" or "dim"
  local s = string.format("  step %-40s %s", st.name, self:paint(color, status))
  if ns then s = s .. "  " .. timing(ns, st.budget) end
  if rows and rows > 0 then s = s .. string.format("  (%d rows)", rows) end
  self:write(s)
end

--- out:expectation(where, result)
function Out:expectation(where, r)
  local ledger = require "migrun.ledger"
  local e = require("migrun.report").expectation(r)
  e.phase = where
  if self:event("expectation", e) then return end
  if r.ok and not r.skipped and not self.verbose then return end
  local s = string.format("  expect %s  %s", r.description, r.skipped and self:paint("yellow", tostring(r.actual))
                          or r.ok and self:paint("green", "ok") or self:paint("red", "FAILED"))
  if not r.ok then
    s = s .. string.format("  (actual %s, expected %s)", ledger.show(r.actual) or "nothing",
                           ledger.show(r.expected) or "nothing")
  end
  self:write(s)
end

--- out:error(err): on stderr (a JSON `error` event on stdout with --json)
function Out:error(err)
  local t = type(err) == "table" and err or {}
  local msg = require("migrun.errors").text(err)
  if self:event("error", { message = msg, kind = t.kind, sqlstate = t.sqlstate, file = t.file,
                           line = t.line, col = t.col, hint = t.hint }) then return end
  self.err:write(self:paint("red", "error: ") .. msg, "\n")
  self.err:flush()
end

--- out:summary(text, ok): the closing line of a verb (the `result` event carries it in JSON)
function Out:summary(msg, ok)
  self.summary_text = msg
  if self.json then return end
  if self.quiet and ok then return end
  self:write(self:paint(ok and "green" or "red", msg))
end

--- out:result(fields): the last JSON event of every verb: {event = "result", exit, ok, ...}
function Out:result(fields)
  fields.message = fields.message or self.summary_text
  fields.ok = fields.exit == 0
  self:event("result", fields)
end

return M
