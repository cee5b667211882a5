--- migrun.fleet.view: what a fleet prints while it runs (policy layer over migrun.output).
-- One line per finished target; on a terminal, a live line below them (this wave's done /
-- running / failed / pending, then the fleet's); with --json an event per wave and target.
local clock = require "migrun.clock"
local status = require "migrun.run.status"
local term = require "migrun.core.term"

local M = {}
local View = {}
View.__index = View

local TAGS = { succeeded = "ok", already_applied = "skipped", passed = "ok", rolled_back = "ok",
               nothing_to_do = "ok", failed = "FAILED", refused = "REFUSED", declined = "DECLINED",
               interrupted = "interrupted", unreachable = "UNREACHABLE", environment = "ERROR",
               needs_human = "NEEDS HUMAN", crashed = "CRASHED", not_started = "not started" }

--- view.new(out, {verb, states}) -> view; live on a terminal unless --json or --quiet
function M.new(out, o)
  local live = not out.json and not out.quiet and term.isatty(1) and (os.getenv("TERM") or "") ~= "dumb"
  return setmetatable({ out = out, live = live, verb = o.verb, states = o.states, drawn = 0, t0 = clock.now() },
                      View)
end

function View:clear_live()
  if self.shown then
    io.stdout:write("\r\27[K")
    self.shown = false
  end
end

-- a permanent line above the live one
function View:line(s)
  self:clear_live()
  self.out:write(s)
end

function View:begin(results, plan)
  self.results, self.plan = results, plan
  local w = 10
  for _, r in ipairs(results) do w = math.max(w, #r.target.label) end
  self.width = math.min(w, 60)
end

function View:wave(w, n, range)
  self.current = w
  local labels = require("migrun.json").array()
  for i = range.first, range.last do labels[#labels + 1] = self.results[i].target.label end
  if self.out:event("wave", { wave = w, of = n, targets = labels }) then return end
  if n > 1 and not self.out.quiet then
    self:line(self.out:paint("bold", string.format("wave %d/%d: %d target(s)", w, n, #labels)))
  end
end

function View:started(r)
  self.out:event("target_start", { target = r.target.label, wave = r.wave, log = r.log })
end

--- view.describe(r) -> what became of a target, in words: its run's status (or the state),
-- how long it took, and its error's first line
function M.describe(r, states)
  local what = r.status and status.text(status.run, r.status) or states[r.state].text
  if r.ms then what = what .. " in " .. clock.format(math.floor(r.ms * 1e6)) end
  if r.error and not states[r.state].ok then what = what .. ": " .. r.error end
  return what
end

function View:finished(r)
  local st = self.states[r.state]
  if self.out:event("target", { target = r.target.label, wave = r.wave, state = r.state, exit = r.exit,
                                status = r.status, run_id = r.run_id, ms = r.ms, report = r.report,
                                log = r.log, error = r.error }) then return end
  if self.out.quiet and st.ok then return end
  local tag = TAGS[r.state] or r.state
  local color = st.ok and (r.state == "already_applied" and "dim" or "green")
                or r.state == "interrupted" and "yellow" or "red"
  local wave = #self.plan > 1 and string.format("w%-2d ", r.wave) or ""
  self:line(string.format("  %s %s%-" .. self.width .. "s  %s", self.out:paint(color, string.format("%-11s", tag)),
                          wave, r.target.label, M.describe(r, self.states)))
end

--- view.counts(results [, wave]) -> {done, running, failed, pending}
function M.counts(results, states, wave)
  local c = { done = 0, running = 0, failed = 0, pending = 0 }
  for _, r in ipairs(results) do
    if not wave or r.wave == wave then
      if r.state == "running" then c.running = c.running + 1
      elseif r.state == "pending" or r.state == "not_started" then c.pending = c.pending + 1
      elseif states[r.state].ok then c.done = c.done + 1
      else c.failed = c.failed + 1 end
    end
  end
  return c
end

function View:tick(force)
  if not self.live then return end
  local now = clock.now()
  if not force and now - self.drawn < 100e6 then return end
  self.drawn = now
  local w = M.counts(self.results, self.states, self.current)
  local f = M.counts(self.results, self.states)
  local s = string.format("wave %d/%d: %d done · %d running · %d failed · %d pending   fleet: %d/%d done, " ..
                          "%d failed   %s", self.current or 1, #self.plan, w.done, w.running, w.failed, w.pending,
                          f.done, #self.results, f.failed, clock.format(clock.since(self.t0)))
  io.stdout:write("\r", s:sub(1, (term.width(1) or 100) - 1), "\27[K")
  io.stdout:flush()
  self.shown = true
end

function View:interrupted(n)
  if self.out:event("interrupted", { running = n }) then return end
  self:line(self.out:paint("yellow", string.format("interrupted: Ctrl-C sent on to %d running target(s); each " ..
    "rolls back as a single run would. Waiting for them (starting no other target)", n)))
end

function View:still_waiting(n)
  if self.out:event("still_waiting", { running = n }) then return end
  self:line(self.out:paint("yellow", string.format("%d target(s) still rolling back; Ctrl-C now would interrupt " ..
    "their rollbacks too (a target would need a human): press Ctrl-C again within 3 s to send it anyway", n)))
end

function View:close()
  self:clear_live()
end

return M
