--- migrun.prompt: asking a person (policy layer): gates, and the confirmations of verbs that
-- destroy something (rollback, restore --clean, baseline). `--yes` answers; a terminal asks
-- each question; without either the answer is no, and the caller refuses. Every answer is
-- returned as a record (who, when, each question and its answer) for the ledger and report.
local clock = require "migrun.clock"
local sys = require "migrun.core.sys"
local term = require "migrun.core.term"

local M = {}

--- prompt.can_ask() -> true when a person can answer (stdin and stdout are a terminal)
function M.can_ask()
  return term.isatty(0) and term.isatty(1)
end

local function read_answer(question)
  io.stdout:write(question, " [y/N] ")
  io.stdout:flush()
  local line = io.stdin:read("l")
  return line ~= nil and line:lower():match("^%s*y") ~= nil
end

--- prompt.ask(out, {name, items = {"question", ...}, yes = bool, what = "gate"}) ->
-- ok, record, why. record = {gate, items = {{question, answer}}, answer, answered_by,
-- waited_ms}; why says what to do when the answer is no.
function M.ask(out, g)
  local what = g.what or "gate"
  out:info(string.format("%s %s", what, g.name))
  local rec = { gate = g.name, items = {}, answered_by = (sys.username() or "?") .. "@" .. (sys.hostname() or "?") }
  local t0 = clock.now()
  local ok, why = true, nil
  local items = #g.items > 0 and g.items or { "Proceed?" }
  if g.yes then
    for _, q in ipairs(items) do
      out:info("  [x] " .. q)
      rec.items[#rec.items + 1] = { question = q, answer = "yes (--yes)" }
    end
    rec.answer = "yes (--yes)"
    out:info("  answered yes (--yes)")
  elseif not M.can_ask() then
    for _, q in ipairs(items) do out:info("  [ ] " .. q) end
    rec.answer = "no terminal"
    ok, why = false, string.format("%s '%s' needs an answer: there is no terminal, so pass --yes", what, g.name)
  else
    for _, q in ipairs(items) do
      local yes = read_answer("  " .. q)
      rec.items[#rec.items + 1] = { question = q, answer = yes and "yes" or "no" }
      if not yes then
        ok, why = false, string.format("declined at %s '%s': %s", what, g.name, q)
        break
      end
    end
    rec.answer = ok and "yes" or "no"
  end
  rec.waited_ms = clock.since(t0) / 1e6
  return ok, rec, why
end

return M
