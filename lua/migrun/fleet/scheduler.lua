--- migrun.fleet.scheduler: a fleet's targets, each run by a child migrun of its own (policy
-- layer over migrun.proc). A child is the same binary with the same verb on one target
-- (`migrun run PLAYBOOK --db T --json ...`): its own lock, ledger, backup, rollback policy and
-- report, and a crash of one cannot touch another. Up to `concurrency` children at a time,
-- wave after wave; after `max_failures` failures no new target starts. The children's JSON
-- events go to a file per target, tailed here. Ctrl-C is forwarded to every running child,
-- which rolls back as a single run would; then the scheduler waits for them.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local json = require "migrun.json"
local proc = require "migrun.proc"
local sys = require "migrun.core.sys"

local M = {}

--- scheduler.STATES: what became of a target. ok: it counts as done; class: the exit it
-- stands for in the fleet's exit code (1 failed in a known state, 3 environment, 5 a human)
M.STATES = {
  pending = { text = "pending" },
  running = { text = "running" },
  not_started = { text = "not started" },
  succeeded = { text = "succeeded", ok = true },
  already_applied = { text = "already applied", ok = true },
  passed = { text = "passed", ok = true },
  rolled_back = { text = "rolled back", ok = true },
  nothing_to_do = { text = "nothing to do", ok = true },
  failed = { text = "failed", class = 1 },
  refused = { text = "refused", class = 1 },
  declined = { text = "declined", class = 1 },
  interrupted = { text = "interrupted", class = 1 },
  unreachable = { text = "unreachable", class = 3 },
  environment = { text = "environment error", class = 3 },
  needs_human = { text = "needs a human", class = 5 },
  crashed = { text = "crashed", class = 5 },
}

--- scheduler.exe() -> the path of the running migrun: children are the same binary
function M.exe()
  local ok, lfs = pcall(require, "lfs")
  return ok and lfs.symlinkattributes("/proc/self/exe", "target") or "/proc/self/exe"
end

-- ---------------------------------------------------------------------------------------
-- Ctrl-C without surprises. main.c raises Ctrl-C as an error at the next Lua instruction of
-- the main thread, wherever that is: between proc.spawn returning and its handle being kept,
-- a raise would leave the handle to the collector, whose __gc SIGKILLs a child mid-phase.
-- So the scheduler runs in a coroutine, which never gets that hook, and asks for Ctrl-C
-- (sys.interrupted) at the points where it can act on it; it disarms the main thread's hook.

local main_thread

--- scheduler.guarded(fn, ...) -> fn's results, fn run where Ctrl-C is polled, never raised
function M.guarded(fn, ...)
  local thread, is_main = coroutine.running()
  local previous = main_thread
  main_thread = is_main and thread or main_thread
  local co = coroutine.create(fn)
  local res = table.pack(coroutine.resume(co, ...))
  main_thread = previous
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- scheduler.take_interrupt() -> true once per Ctrl-C (or SIGTERM) since the last call
function M.take_interrupt()
  if not sys.interrupted(true) then return false end
  if main_thread then debug.sethook(main_thread) end   -- the news is ours now
  return true
end

-- ---------------------------------------------------------------------------------------
-- one child

local function first_line(s)
  return s and tostring(s):match("^%s*([^\n]*)")
end

local function on_event(r, ev)
  local name = ev.event
  if name == "result" then
    r.status = type(ev.status) == "string" and ev.status or nil
    r.run_id = math.tointeger(ev.run_id)
    r.report = type(ev.report) == "string" and ev.report or nil
    r.message = type(ev.message) == "string" and ev.message or nil
  elseif name == "error" then
    if not r.error then
      r.error, r.error_kind = first_line(ev.message), type(ev.kind) == "string" and ev.kind or nil
    end
  elseif name == "phase" and type(ev.phase) == "string" then
    r.phase = ev.phase
  end
end

-- read the complete lines the child has written since the last call
local function drain(r)
  if not r.fh then return end
  local chunk = r.fh:read("a")
  if not chunk or chunk == "" then return end
  local buf = (r.partial or "") .. chunk
  local rest = 1
  for line, nxt in buf:gmatch("([^\n]*)\n()") do
    rest = nxt
    local ok, ev = pcall(json.decode, line)
    if ok and type(ev) == "table" then on_event(r, ev) end
  end
  r.partial = buf:sub(rest)
end

local function classify(verb, r)
  local e = r.exit
  if r.signal then return "crashed" end              -- killed: what it was doing is unknown
  if e == 0 then
    if verb == "check" then return "passed" end
    if r.status == "nothing_to_do" then return verb == "rollback" and "nothing_to_do" or "already_applied" end
    return verb == "rollback" and "rolled_back" or "succeeded"
  end
  if (e == 1 or e == 130) and r.interrupted then return "interrupted" end
  if e == 1 then return "failed" end
  if e == 2 then return "refused" end
  if e == 3 then return r.error_kind == "connection" and "unreachable" or "environment" end
  if e == 4 then return "declined" end
  if e == 130 then return "interrupted" end
  if e == 5 then return "needs_human" end
  return "crashed"
end

local function finish(s, r, res)
  drain(r)
  if r.partial and r.partial ~= "" then
    local ok, ev = pcall(json.decode, r.partial)
    if ok and type(ev) == "table" then on_event(r, ev) end
  end
  if r.fh then r.fh:close() end
  r.fh, r.partial, r.handle = nil, nil, nil
  r.exit, r.signal = res.status, res.signal
  r.ms = clock.since(r.t0) / 1e6
  local err = require("migrun.text").readfile(r.stderr_path)
  if err and err:find("%S") then
    r.stderr = r.stderr_path
    if r.exit ~= 0 and not r.error then r.error = first_line(err:gsub("^migrun: ", "")) end
  else
    os.remove(r.stderr_path)
  end
  r.state = classify(s.verb, r)
  if r.report then r.report_json = require("migrun.report").json_path(r.report) end
end

local function start(s, r)
  local tg = r.target
  r.log = s.dir .. "/" .. tg.slug .. ".jsonl"
  r.stderr_path = s.dir .. "/" .. tg.slug .. ".stderr"
  local f, ferr = io.open(r.log, "w")
  if f then f:close() end
  r.fh = io.open(r.log, "r")
  local argv = { s.exe, s.verb, s.playbook, "--db", tg.clean, "--json" }
  for _, a in ipairs(s.args) do argv[#argv + 1] = a end
  if s.report then
    argv[#argv + 1] = "--report"
    argv[#argv + 1] = s.dir .. "/" .. tg.slug .. ".md"
  end
  -- the password travels in the environment, never in argv (ps shows argv to everyone)
  local env = { NO_COLOR = "1" }
  for k, v in pairs(tg.env) do env[k] = v end
  r.t0, r.started_at = clock.now(), os.date("%Y-%m-%d %H:%M:%S %Z")
  local ok, h = false, ferr
  if f then
    ok, h = pcall(proc.spawn, argv, { env = env, stdin = "null", stdout = { file = r.log },
                                      stderr = { file = r.stderr_path } })
  end
  if not ok then                                    -- this machine cannot start migrun at all
    if r.fh then r.fh:close() end
    r.fh, r.exit, r.ms = nil, 3, 0
    r.state, r.error = "environment", "cannot start a child migrun: " .. first_line(errors.text(h))
    return false
  end
  r.handle, r.state = h, "running"
  return true
end

--- scheduler.run(s) -> {results, stop = nil | "failures" | "interrupted", failures, waves_run}
-- s = {fleet, verb, playbook (path), args (more argv for each child), report (bool: give each
-- child --report DIR/<slug>.md), dir, view, waves (bool: false runs every target in one wave),
-- stop_on_failure (bool), exe}
function M.run(s)
  local fl = s.fleet
  s.exe = s.exe or M.exe()
  local results = {}
  for i, tg in ipairs(fl.targets) do
    results[i] = { target = tg, state = "pending", wave = s.waves and tg.wave or 1 }
  end
  local plan = s.waves and fl.plan or { { first = 1, last = #fl.targets } }
  local view = s.view
  view:begin(results, plan)
  local running, nrunning, failures, stop, waves_run, warned = {}, 0, 0, nil, 0, nil

  local function done(r)
    view:finished(r)
    if not M.STATES[r.state].ok then
      failures = failures + 1
      if s.stop_on_failure and failures >= fl.max_failures and not stop then stop = "failures" end
    end
  end

  -- an error of ours must not leave the children to the collector (whose __gc SIGKILLs them
  -- mid-phase): they get Ctrl-C, roll back as a single run would, and are waited for
  local ok, err = pcall(function()
    for w, range in ipairs(plan) do
      if stop then break end
      waves_run = w
      view:wave(w, #plan, range)
      local next_i = range.first
      while (not stop and next_i <= range.last) or nrunning > 0 do
        if M.take_interrupt() then
          -- the first Ctrl-C goes on to every running child, as a terminal would send it to a
          -- single run; another one would interrupt their rollbacks (exit 5), so it is only sent
          -- on when confirmed by a third within 3 s
          local now = clock.now()
          if stop ~= "interrupted" or (warned and now - warned < 3e9) then
            if stop ~= "interrupted" then view:interrupted(nrunning) end
            stop, warned = "interrupted", nil
            for r in pairs(running) do
              r.interrupted = true
              r.handle:kill(proc.SIGINT)                -- its whole process group
            end
          else
            warned = now
            view:still_waiting(nrunning)
          end
        end
        while not stop and next_i <= range.last and nrunning < fl.concurrency do
          local r = results[next_i]
          next_i = next_i + 1
          if start(s, r) then
            running[r], nrunning = true, nrunning + 1
            view:started(r)
          else
            done(r)
          end
        end
        for r in pairs(running) do
          drain(r)
          local res = r.handle:wait(0)
          if res then
            running[r], nrunning = nil, nrunning - 1
            finish(s, r, res)
            done(r)
          end
        end
        view:tick()
        if nrunning > 0 then clock.sleep(10) end
      end
    end
  end)
  if not ok then
    local left = {}
    for _, r in ipairs(results) do
      if r.handle then
        r.handle:kill(proc.SIGINT)
        left[r] = true
      end
    end
    while next(left) do
      for r in pairs(left) do
        if r.handle:wait(10) then left[r] = nil end
      end
    end
    view:close()
    error(err, 0)
  end
  local not_started = {}
  for _, r in ipairs(results) do
    if r.state == "pending" then
      r.state = "not_started"
      not_started[#not_started + 1] = r
    end
  end
  view:close()
  return { results = results, stop = stop, failures = failures, waves_run = waves_run, waves = #plan,
           not_started = not_started }
end

--- scheduler.exit_code(outcome) -> the fleet's exit: 5 when a target needs a human (its own
-- exit 5, or a child that crashed) · else 130 when Ctrl-C stopped the fleet · else 3 when a
-- target was unreachable or its environment failed (lock held, tool missing) · else 1 when a
-- target failed in a known state (rolled back, refused, declined) · else 0
function M.exit_code(outcome)
  local worst = 0
  for _, r in ipairs(outcome.results) do
    local c = M.STATES[r.state].class or 0
    if c > worst then worst = c end
  end
  if worst == 5 then return 5 end
  if outcome.stop == "interrupted" then return 130 end
  return worst
end

return M
