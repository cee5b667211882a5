-- The editor definitions (lua/migrun/meta/migrun.lua, for the Lua language server) hold the
-- runtime's language, both ways: every name a playbook has (and `fleet`, the fleet file's),
-- with its number of parameters, every option field of playbook, phase, sql, step, backfill,
-- watch, the backup kinds, expect.http, http.request and fleet, and no other; every type they
-- use is defined. `migrun new` points a project's .luarc.json at them.
local H = require "helper"
local R = require "runtime"
local docs = require "migrun.docs"
local cjson = require "cjson"

local META = H.source .. "/lua/migrun/meta/migrun.lua"

-- the classes of option tables, by the DSL function that takes them
local OPTION_CLASSES = {
  playbook = "migrun.PlaybookOptions", phase = "migrun.PhaseOptions", sql = "migrun.StepOptions",
  step = "migrun.StepOptions", backfill = "migrun.BackfillOptions", watch = "migrun.WatchOptions",
  ["backup.dump"] = "migrun.DumpOptions", ["backup.tables"] = "migrun.TablesOptions",
  ["expect.http"] = "migrun.ExpectHttpOptions", ["http.request"] = "migrun.HttpOptions",
  fleet = "migrun.FleetOptions",
}

local function say(what, list)
  return #list .. " " .. what .. ":\n  " .. table.concat(list, "\n  ")
end

-- run the definitions in an environment of their own: the globals they define
local function meta_env()
  local env = setmetatable({}, { __index = _G })
  local chunk = assert(loadfile(META, "t", env))
  chunk()
  return env
end

-- the names the definitions give: a global function or a global table without members (var,
-- env) is a name; a table with members (expect, backup) is a module of names
local function meta_names(env)
  local names = {}
  for k, v in pairs(env) do
    if type(v) == "function" then
      names[k] = true
    elseif type(v) == "table" then
      if next(v) == nil then
        names[k] = true
      else
        for f in pairs(v) do names[k .. "." .. f] = true end
      end
    end
  end
  return names
end

-- ---@class NAME followed by its ---@field lines -> {[class] = set of field names}
local function classes(text)
  local out, current = {}, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local class = line:match("^%-%-%-@class ([%w%.]+)")
    local field = line:match("^%-%-%-@field ([%a_][%w_]*)")
    if class then
      current = class
      out[class] = out[class] or {}
    elseif field and current then
      out[current][field] = true
    elseif not line:match("^%-%-%-@") then
      current = nil
    end
  end
  return out
end

describe("the LuaLS definitions", function()
  local text = H.read(META)

  it("load as Lua, and say they are definitions (---@meta)", function()
    assert.equal(1, text:find("---@meta", 1, true))
    meta_env()
  end)

  it("define every name of the language, and only those", function()
    local runtime, meta = R.names(), meta_names(meta_env())
    runtime.fleet = true       -- the fleet file's one name (migrun.fleet.dsl): editors know it too
    local missing, extra = {}, {}
    for _, name in ipairs(R.sorted(runtime)) do
      if not meta[name] then missing[#missing + 1] = name end
    end
    for _, name in ipairs(R.sorted(meta)) do
      if not runtime[name] then extra[#extra + 1] = name end
    end
    assert.are.same({}, missing, say("names of the language missing from lua/migrun/meta/migrun.lua", missing))
    assert.are.same({}, extra, say("names in lua/migrun/meta/migrun.lua a playbook does not have", extra))
  end)

  it("give each function the parameters the runtime's takes", function()
    -- the function's own line, or one of the ---@overload lines above it
    local env, wrong, counts = R.env(), {}, {}
    for line in text:gmatch("[^\n]+") do
      local overload = line:match("^%-%-%-@overload fun%(([^)]*)%)")
      local name, params = line:match("^function ([%w_%.]+)%(([^)]*)%)")
      if overload then counts[#counts + 1] = select(2, overload:gsub("[^,]+", "")) end
      if name then
        counts[#counts + 1] = select(2, params:gsub("[^,%s]+", ""))
        local m, f = name:match("^([%w_]+)%.([%w_]+)$")
        local fn = m and rawget(env[m], f) or rawget(env, name)   -- a missing one: the test above
        local info = type(fn) == "function" and debug.getinfo(fn, "u")
        if info and not info.isvararg and not R.set(counts)[info.nparams] then
          wrong[#wrong + 1] = string.format("%s: %s parameter(s) here, %d in the runtime", name,
                                            table.concat(counts, " or "), info.nparams)
        end
      end
      if not line:find("^%-%-%-") then counts = {} end
    end
    assert.are.same({}, wrong, say("functions whose parameters differ", wrong))
  end)

  it("type every option table field by field, as the DSL and the reference have them", function()
    local cls, runtime = classes(text), R.options()
    local missing, extra = {}, {}
    for fn, class in pairs(OPTION_CLASSES) do
      local want = runtime[fn]
      if not want then                           -- the backup kinds: the reference's, proven by examples
        want = {}
        for _, o in ipairs(docs.find(fn).options) do want[o[1]] = true end
      end
      local have = cls[class] or {}
      for _, k in ipairs(R.sorted(want)) do
        if not have[k] then missing[#missing + 1] = class .. "." .. k end
      end
      for _, k in ipairs(R.sorted(have)) do
        if not want[k] then extra[#extra + 1] = class .. "." .. k .. " (" .. fn .. ")" end
      end
    end
    table.sort(missing)
    table.sort(extra)
    assert.are.same({}, missing, say("option fields missing from the definitions", missing))
    assert.are.same({}, extra, say("option fields the runtime refuses", extra))
  end)

  it("define every type they use", function()
    local defined, undefined = {}, {}
    for name in text:gmatch("%-%-%-@class (migrun%.[%w_]+)") do defined[name] = true end
    for name in text:gmatch("%-%-%-@alias (migrun%.[%w_]+)") do defined[name] = true end
    for line in text:gmatch("[^\n]+") do
      if line:find("^%-%-%-@") and not line:find("^%-%-%-@class") and not line:find("^%-%-%-@alias") then
        for name in line:gmatch("migrun%.[%w_]+") do
          if not defined[name] then undefined[name] = true end
        end
      end
    end
    assert.are.same({}, R.sorted(undefined), say("types used but not defined", R.sorted(undefined)))
  end)
end)

describe("migrun new", function()
  it("writes a .luarc.json that points the language server at the definitions", function()
    local dir = H.tmpdir()
    local r = H.migrun({ "new", "proj" }, { cwd = dir })
    assert.equal(0, r.status, r.stderr)
    local rc = cjson.decode(H.read(dir .. "/proj/.luarc.json"))
    assert.equal("Lua 5.4", rc["runtime.version"])
    local lib = rc["workspace.library"][1]
    assert.equal("/", lib:sub(1, 1))
    assert.truthy(H.read(lib .. "/migrun.lua"):find("^%-%-%-@meta"), lib .. " holds no definitions")
    assert.are.same(H.read(META), H.read(lib .. "/migrun.lua"))
    for _, g in ipairs({ "describe", "it", "assert" }) do
      assert.truthy(table.concat(rc["diagnostics.globals"], " "):find(g, 1, true), g)
    end
  end)
end)
