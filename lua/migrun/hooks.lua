--- migrun.hooks: what a run does outside the database (policy layer): the playbook's hooks
-- and its notifications. Both are declared in the playbook and checked when it loads:
--
--   hooks = { before = http.post { url = var.app .. "/admin/maintenance-mode" },
--             after = function(run) ... end,
--             on_failure = { notify_oncall, http.post { ... } },   -- a list runs in order
--             always = http.delete { url = var.app .. "/admin/maintenance-mode" } },
--   notify = { webhook = env.SLACK_WEBHOOK, on = { "start", "gate", "success", "failure" },
--              format = "slack" | "json", timeout = "5s" }       -- or a list of these
--
-- When they run (migrun.runner): `before` after the backup, right before the first phase;
-- `after` once the final verify passed; `on_failure` after the failure policy (rollback,
-- restore or stop) did its work; `always` last, after success, failure, a declined gate and
-- Ctrl-C alike; a watch window opens after `always` (the application must be back to be
-- watched). Hooks and notifications run only in real runs with something to do: never in a
-- dry run or a rehearsal, which must not touch the application.
--
-- A hook is a Lua function(hook) or an http request; a request that gets no 2xx answer
-- fails. A failed `before` or `after` hook fails the run like a failed expectation; a failed
-- `on_failure` or `always` hook cannot change what already happened: it is an error on the
-- terminal and in the report, and the run's exit code says so (1 at least). A notification
-- that fails is a warning, never a failed migration. Every call is printed, recorded in the
-- ledger (migrun.calls) and the report; secrets are "***" everywhere.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local http = require "migrun.http"
local text = require "migrun.text"

local M = {}

M.EVENTS = { "before", "after", "on_failure", "always" }
M.NOTIFY_EVENTS = { "start", "gate", "success", "failure", "watch" }
local NOTIFY_KEYS = { webhook = true, on = true, format = true, timeout = true, headers = true }

local function fail(at, fmt, ...)
  error(errors.new("playbook", string.format(fmt, ...), { file = at.file, line = at.line }), 0)
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- a function's name for the record: "function at playbook.lua:12"
local function describe_fn(f)
  local info = debug.getinfo(f, "S")
  local file = (info.source or ""):match("^@(.*)$")
  return string.format("function at %s:%d", file and file:match("[^/]*$") or "?", info.linedefined or 0)
end

--- hooks.describe(h) -> how a hook is shown: "POST https://app/admin/maintenance-mode" or
-- "function at playbook.lua:12"
function M.describe(h)
  if type(h) == "function" then return describe_fn(h) end
  return h:describe()
end

--- hooks.parse(at, what, t) -> {before = {hook...}, ...} (every event present, maybe empty)
function M.parse(at, what, t)
  local out = {}
  for _, ev in ipairs(M.EVENTS) do out[ev] = {} end
  if t == nil then return out end
  local events = set_of(M.EVENTS)
  for ev, v in pairs(t) do
    if not events[ev] then
      fail(at, "%s: hooks.%s is not a hook event%s (they are: %s)", what, tostring(ev),
           text.did_you_mean(tostring(ev), M.EVENTS), table.concat(M.EVENTS, ", "))
    end
    local list = (type(v) == "table" and not http.is_spec(v)) and v or { v }
    for i, h in ipairs(list) do
      if type(h) ~= "function" and not http.is_spec(h) then
        fail(at, "%s: hooks.%s%s must be a function(run) or an http request (http.post { url = ... }), " ..
             "not %s", what, ev, #list > 1 and ("[" .. i .. "]") or "", type(h))
      end
      out[ev][#out[ev] + 1] = h
    end
    for k in pairs(list) do
      if math.type(k) ~= "integer" then
        fail(at, "%s: hooks.%s is a list of hooks; '%s' is not one", what, ev, tostring(k))
      end
    end
  end
  return out
end

--- hooks.parse_notify(at, what, t) -> a list of channels {webhook, on = set, format,
-- timeout, headers}; t is one channel or a list of them
function M.parse_notify(at, what, t)
  if t == nil then return {} end
  local list = (t[1] ~= nil) and t or { t }
  local channels = {}
  for i, c in ipairs(list) do
    local name = #list > 1 and string.format("%s: notify[%d]", what, i) or what .. ": notify"
    if type(c) ~= "table" then fail(at, "%s must be a table { webhook = ..., on = {...} }", name) end
    for k in pairs(c) do
      if not NOTIFY_KEYS[k] then
        local keys = {}
        for key in pairs(NOTIFY_KEYS) do keys[#keys + 1] = key end
        table.sort(keys)
        fail(at, "%s: unknown key '%s'%s", name, tostring(k), text.did_you_mean(tostring(k), keys))
      end
    end
    local on = c.on or M.NOTIFY_EVENTS
    if type(on) ~= "table" then fail(at, "%s: on must be a list of events", name) end
    if #on == 0 then
      fail(at, "%s: on = {} names no event: this channel would never be told anything (leave on " ..
               "out for every event: %s)", name, table.concat(M.NOTIFY_EVENTS, ", "))
    end
    local events = set_of(M.NOTIFY_EVENTS)
    for _, ev in ipairs(on) do
      if not events[ev] then
        fail(at, "%s: '%s' is not an event to notify%s (they are: %s)", name, tostring(ev),
             text.did_you_mean(tostring(ev), M.NOTIFY_EVENTS), table.concat(M.NOTIFY_EVENTS, ", "))
      end
    end
    local format = c.format or "slack"
    if format ~= "slack" and format ~= "json" then
      fail(at, "%s: format must be \"slack\" or \"json\", not %q", name, tostring(format))
    end
    -- a webhook URL is a credential (Slack's carries its token in the path)
    local webhook = c.webhook
    if webhook ~= nil then
      if not (type(webhook) == "string" or http.is_secret(webhook)) then
        fail(at, "%s: webhook must be a URL, not %s", name, type(webhook))
      end
      webhook = http.secret(webhook)
      -- checked now, so a typo'd URL is a playbook error and not a warning at run time
      http.prepare("POST", { url = webhook, headers = c.headers, timeout = c.timeout or "5s" },
                   function(msg) fail(at, "%s: %s", name, msg) end)
    end
    channels[#channels + 1] = { webhook = webhook, on = set_of(on), format = format,
                                timeout = c.timeout or "5s", headers = c.headers }
  end
  return channels
end

---------------------------------------------------------------------------------------------
-- at run time

-- what a hook function gets: the run as it stands, the connection, a logger
local function hook_arg(run, event, info)
  local pb = run.pb
  return {
    event = event, playbook = pb.name, target = run.opts.target, run_id = run.id,
    vars = pb.vars, dir = pb.dir, db = run.db,
    outcome = info.outcome, phase = info.phase, error = info.error,
    log = function(msg)
      msg = http.scrub_known(tostring(msg))
      run.logs[#run.logs + 1] = { phase = "(hooks." .. event .. ")", step = "", message = msg }
      run.out:info("  " .. msg)
    end,
  }
end

-- one call: ok, detail (an HTTP status, or the error with secrets removed)
local function call_one(run, event, h, info)
  if type(h) == "function" then
    local ok, err = pcall(h, hook_arg(run, event, info))
    if ok then return true, nil end
    if errors.is(err, "interrupted") then error(err, 0) end
    return false, http.scrub_known(errors.text(err))
  end
  local ok, res = pcall(h.send, h)
  if not ok then
    if errors.is(res, "interrupted") then error(res, 0) end
    return false, http.scrub_known(errors.text(res))
  end
  if not res.ok then
    local body = (res.body or ""):gsub("%s+", " "):sub(1, 200)
    return false, http.scrub_known(http.scrub(h, string.format("%d: %s", res.status, body)))
  end
  return true, tostring(res.status)
end

--- hooks.active(run) -> true when this run calls hooks and sends notifications
function M.active(run)
  return run.id ~= nil and not run.dry_run and not run.opts.rehearsal
end

--- hooks.call(run, event [, info]) -> ok, message: every hook of `event` in order, each
-- printed and recorded; the first that fails stops the rest of the event's hooks (they
-- depend on each other as a runbook's lines do). info: outcome, phase, error (for
-- on_failure and always). Ctrl-C during a hook is raised.
function M.call(run, event, info)
  local list = run.pb.hooks and run.pb.hooks[event] or {}
  if #list == 0 or not M.active(run) then return true end
  for _, h in ipairs(list) do
    local name = M.describe(h)
    local t = clock.now()
    local ok, detail = call_one(run, event, h, info or {})
    local rec = { kind = "hook", event = event, name = name, ok = ok, detail = detail,
                  duration_ms = clock.since(t) / 1e6 }
    run:record_call(rec)
    if ok then
      run.out:info(string.format("hook %s: %s%s", event, name, detail and (" (" .. detail .. ")") or ""))
    else
      local msg = string.format("hook %s failed (%s): %s", event, name, detail)
      return false, msg
    end
  end
  return true
end

---------------------------------------------------------------------------------------------
-- notifications

local OUTCOME_WORD = { start = "started", gate = "waiting at a gate", success = "succeeded",
                       failure = "failed", watch = "watch alert" }

-- the message's fields: no password in the target (runner's target is already redacted)
local function message_fields(run, event, f)
  return {
    event = event, playbook = run.pb.name, target = run.opts.target, run_id = run.id,
    phase = f.phase, gate = f.gate, outcome = f.outcome or OUTCOME_WORD[event], error = f.error,
    report = f.report, at = os.date("!%Y-%m-%dT%H:%M:%SZ"), host = require("migrun.core.sys").hostname(),
    migrun_version = require("migrun").VERSION,
  }
end

local function slack_text(m)
  local icon = ({ start = ":arrow_forward:", gate = ":raised_hand:", success = ":white_check_mark:",
                  failure = ":x:", watch = ":warning:" })[m.event] or ""
  local parts = { string.format("%s migrun: playbook *%s* on `%s` (run %s): %s", icon, m.playbook,
                                m.target or "?", tostring(m.run_id or "?"), m.outcome or m.event) }
  if m.phase then parts[#parts + 1] = "phase: " .. m.phase end
  if m.gate then parts[#parts + 1] = "gate: " .. m.gate end
  if m.error then parts[#parts + 1] = "error: " .. m.error:gsub("%s+", " "):sub(1, 300) end
  if m.report then parts[#parts + 1] = "report: " .. m.report end
  return table.concat(parts, "\n")
end

--- hooks.listens(run, event) -> true when a channel of this run would be told of `event`
function M.listens(run, event)
  if not M.active(run) then return false end
  for _, c in ipairs(run.pb.notify or {}) do
    if c.on[event] and c.webhook ~= nil then return true end
  end
  return false
end

--- hooks.notify(run, event [, fields]): tell every channel that listens to `event`; fields:
-- phase, gate, outcome, error, report. A failure is a warning; each send is recorded.
function M.notify(run, event, fields)
  if not M.active(run) then return end
  for _, c in ipairs(run.pb.notify or {}) do
    if c.on[event] then
      if c.webhook == nil then
        run:warn_once("notify-no-webhook", "notify: no webhook set (the value given was nil: is its " ..
          "environment variable set?): no notifications are sent")
      else
        local m = message_fields(run, event, fields or {})
        if m.error then m.error = http.scrub_known(m.error) end
        local body = c.format == "slack" and { text = slack_text(m) } or m
        local req = http.prepare("POST", { url = c.webhook, json = body, headers = c.headers,
                                           timeout = c.timeout, retries = 1 },
                                 function(msg) error(msg, 0) end)
        local t = clock.now()
        local ok, res = pcall(http.send, req)
        local good = ok and res.ok
        local detail = ok and tostring(res.status)
          or errors.is(res, "http") and string.format("%s, %d attempt(s)", res.reason, res.attempts or 1)
          or http.scrub_known(errors.text(res))
        run:record_call({ kind = "notify", event = event, name = http.describe(req), ok = good,
                          detail = detail, duration_ms = clock.since(t) / 1e6 })
        if not good then
          run.out:warn(string.format("notify %s: %s failed (%s): the run goes on", event,
                                     http.describe(req), detail))
        end
        if not ok and errors.is(res, "interrupted") then error(res, 0) end
      end
    end
  end
end

return M
