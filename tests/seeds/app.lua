--- tests/seeds/app.lua: what the seed specs share about the application around a run: the fake
-- application (tests/harness/fake_app.c) with the routes a seed playbook calls and the team's
-- Slack webhook, the arguments that point a playbook at it, and readers of what it saw.
-- Loaded with dofile (it is not a spec): local A = dofile(H.source .. "/tests/seeds/app.lua")
local H = require "helper"
local cjson = require "cjson"
local fakeapp = require "fakeapp"

local A = {}

-- the team's webhook: a path on the fake application, with a secret-looking part that must
-- never show in an output, a report or the ledger
A.WEBHOOK = "/services/T0SEED/B0SEED/seedwebhooksecret"

--- A.start(routes) -> a fake application answering routes, plus the webhook
function A.start(routes)
  local all = { "POST " .. A.WEBHOOK .. " 200 ok" }
  for _, r in ipairs(routes or {}) do all[#all + 1] = r end
  return fakeapp.start { routes = all }
end

--- A.env(app) -> the environment of a run that notifies the team through app
function A.env(app)
  return { SLACK_WEBHOOK = app.url .. A.WEBHOOK }
end

--- A.vars(app [, watch]) -> {"--set", "app=URL", "--set", "watch_for=..", "--set", "watch_every=.."}:
-- the application (app = "none" runs without one) and a short watch window (default 2s, a
-- sample every second; watch = {for_, every} changes it)
function A.vars(app, watch)
  watch = watch or {}
  return { "--set", "app=" .. (app == "none" and "none" or app.url),
           "--set", "watch_for=" .. (watch.for_ or "2s"), "--set", "watch_every=" .. (watch.every or "1s") }
end

--- A.args(list, ...) -> one argv of the lists given, in order
function A.args(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, a in ipairs(list) do out[#out + 1] = a end
  end
  return out
end

--- A.run(app, argv [, opts]) -> result of `migrun argv` from the repository root, with the
-- webhook in the environment when there is an application
function A.run(app, argv, opts)
  opts = opts or {}
  return H.migrun(argv, { cwd = H.source, env = app ~= "none" and A.env(app) or nil,
                          timeout = opts.timeout or "300s" })
end

--- A.seen(app) -> the calls the application saw, "METHOD path[?query]", the webhook as "notify"
function A.seen(app)
  local out = {}
  for _, c in ipairs(app:calls()) do
    if c.path == A.WEBHOOK then
      out[#out + 1] = "notify"
    else
      out[#out + 1] = c.method .. " " .. c.path .. ((c.query or "") ~= "" and ("?" .. c.query) or "")
    end
  end
  return out
end

--- A.notices(app) -> the texts of the Slack messages the team got, oldest first
function A.notices(app)
  local out = {}
  for _, c in ipairs(app:calls(A.WEBHOOK)) do out[#out + 1] = cjson.decode(c.body).text end
  return out
end

--- A.squeeze(list, value) -> list with each run of `value` written once: the watch asks the
-- same endpoint every tick, and how many ticks a window has is the clock's business
function A.squeeze(list, value)
  local out = {}
  for _, v in ipairs(list) do
    if not (v == value and out[#out] == value) then out[#out + 1] = v end
  end
  return out
end

--- A.leaks(text) -> true when text shows the webhook's secret part
function A.leaks(text)
  return text:find("seedwebhooksecret", 1, true) ~= nil
end

--- A.calls(doc) -> the report's hook and notification calls as "kind event ok"
function A.calls(doc)
  local out = {}
  for _, c in ipairs(doc.calls or {}) do
    out[#out + 1] = string.format("%s %s %s", c.kind, c.event, c.ok and "ok" or "FAILED")
  end
  return out
end

--- A.expectations(doc, prefix [, phase]) -> the report's expectations whose description starts
-- with prefix (checked in that phase)
function A.expectations(doc, prefix, phase)
  local out = {}
  for _, e in ipairs(doc.expectations) do
    if e.description:sub(1, #prefix) == prefix and (phase == nil or e.phase == phase) then out[#out + 1] = e end
  end
  return out
end

return A
