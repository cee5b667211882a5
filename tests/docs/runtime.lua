--- What a playbook can really use, read from the runtime itself, for the specs that hold the
-- reference (lua/migrun/docs) and the editor definitions (lua/migrun/meta) to it: the names of
-- a playbook's environment, and the key tables the DSL checks each function's options with.
local R = {}

--- R.LIBRARY: functions of the playbook's modules that are Lua API for steps and migrun
-- itself, not the playbook language. A new function of these modules must be documented or
-- listed here: the spec fails until one of the two is done.
R.LIBRARY = {
  expect = { "is", "snapshot_plan", "check_all", "prefetch", "normalise_schema", "diff", "NOT_CHECKED" },
  backup = { "dump_argv", "dump_command", "restore_argv", "parse_name", "prove", "swap_restore", "is_spec",
             "manifest", "verify", "restore", "list", "load_snapshot", "remove_snapshot", "restore_tables",
             "checksum" },
}

--- R.LANGUAGE_PAGES: the pages of lua/migrun/docs that document the playbook language (the
-- others: the command line, the fleet file, the ledger). Each name a playbook has is an entry
-- of one of them, with an example, and each of their entries names something a playbook has.
R.LANGUAGE_PAGES = { language = true, expect = true, http = true, backup = true }

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

local function sorted(s)
  local list = {}
  for k in pairs(s) do list[#list + 1] = k end
  table.sort(list)
  return list
end
R.sorted = sorted
R.set = set

--- R.env() -> a fresh playbook environment, as dsl.load gives a playbook file
function R.env()
  return require("migrun.dsl").new_env("/nonexistent/playbook.lua", { vars = {} })
end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = type(v) == "table" and getmetatable(v)
  return mt and mt.__call ~= nil or false
end

--- R.names() -> set of every name of the language: each global of a playbook's environment
-- that is called or indexed as itself (playbook, var), and each function or value of one that
-- is a module (expect.count, expect.NULL, backup.dump), less R.LIBRARY
function R.names()
  local env, names = R.env(), {}
  for k, v in pairs(env) do
    if callable(v) then
      names[k] = true
    elseif type(v) == "table" then
      local library = set(R.LIBRARY[k] or {})
      for f in pairs(v) do
        if type(f) == "string" and not f:find("^_") and not library[f] then names[k .. "." .. f] = true end
      end
    end
  end
  return names
end

--- R.upvalue(fn, name) -> the value of fn's upvalue `name`; raises when there is none (the
-- DSL was reshaped: say where its option tables went)
function R.upvalue(fn, name)
  for i = 1, 255 do
    local n, v = debug.getupvalue(fn, i)
    if not n then break end
    if n == name then return v end
  end
  error("no upvalue " .. name .. ": the option tables moved; update tests/docs/runtime.lua", 2)
end

--- R.options() -> {[function] = set of the option keys it accepts}: the tables dsl.lua,
-- backfill.lua, watch/config.lua, fleet/dsl.lua, expect_http.lua and http.lua check keys with
-- (local tables, read through the closures that use them). backup.dump, backup.tables and the
-- health expectations check theirs inside a function: their documented options are proved by
-- loading each one's example instead.
function R.options()
  local env = R.env()
  local function keys(t)
    local s = {}
    for k in pairs(t) do s[k] = true end
    return s
  end
  return {
    playbook = keys(R.upvalue(env.playbook, "PLAYBOOK_KEYS")),
    phase = keys(R.upvalue(env.phase, "PHASE_KEYS")),
    sql = keys(R.upvalue(env.sql, "STEP_KEYS")),
    step = keys(R.upvalue(env.step, "STEP_KEYS")),
    backfill = keys(R.upvalue(require("migrun.backfill").new, "KEYS")),
    watch = keys(R.upvalue(require("migrun.watch.config").new, "KEYS")),
    fleet = keys(R.upvalue(require("migrun.fleet.dsl").load, "KEYS")),
    ["expect.http"] = keys(R.upvalue(require("migrun.expect_http").new, "OPTIONS")),
    ["http.request"] = keys(R.upvalue(require("migrun.http").prepare, "OPTIONS")),
  }
end

--- R.ACCEPTED: options a runtime table accepts that mean nothing for that function, so the
-- reference leaves them out (each with why)
R.ACCEPTED = {
  ["step.name"] = "dsl.lua's STEP_KEYS serves sql and step alike; a Lua step's name is its first argument",
}

return R
