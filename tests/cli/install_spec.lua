-- Where the binary finds its Lua layer: next to itself in an installed layout
-- (bin/migrun + share/migrun/lua), MIGRUN_LUA_PATH first (";;" = the default), and a Lua
-- layer of another ABI refused with exit 3.
local H = require "helper"
local proc = require "migrun.proc"

local function layout()
  local dir = H.tmpdir()
  assert(proc.run({ "mkdir", "-p", dir .. "/bin", dir .. "/share/migrun" }).ok)
  assert(proc.run({ "cp", H.bin, dir .. "/bin/migrun" }).ok)
  assert(proc.run({ "cp", "-r", H.source .. "/lua", dir .. "/share/migrun/lua" }).ok)
  return dir
end

local function run(bin, args, env)
  local argv = { bin }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return proc.run(argv, { env = env, cwd = "/" })
end

describe("finding the Lua layer", function()
  it("works from an installed layout, whatever the working directory", function()
    local dir = layout()
    local r = run(dir .. "/bin/migrun", { "-e", "print(package.searchpath('migrun.cli', package.path))" })
    assert.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find(dir .. "/bin/../share/migrun/lua/migrun/cli.lua", 1, true), r.stdout)
  end)

  it("takes MIGRUN_LUA_PATH first, with ;; standing for the default", function()
    local dir = layout()
    local over = H.tmpdir()
    assert(proc.run({ "mkdir", "-p", over .. "/migrun" }).ok)
    H.write(over .. "/migrun/extra.lua", "return { hello = 'from the override' }\n")
    local r = run(dir .. "/bin/migrun", { "-e", "print(require('migrun.extra').hello)" },
                  { MIGRUN_LUA_PATH = over .. "/?.lua;;" })
    assert.equal(0, r.status, r.stderr)
    assert.equal("from the override\n", r.stdout)
  end)

  it("refuses a Lua layer of another ABI with exit 3, naming the path it searched", function()
    local dir = layout()
    H.write(dir .. "/share/migrun/lua/migrun/init.lua", "return { CORE_ABI = 999 }\n")
    local r = run(dir .. "/bin/migrun", { "-e", "print(1)" })
    assert.equal(3, r.status)
    assert.truthy(r.stderr:find("ABI 999", 1, true), r.stderr)
    assert.truthy(r.stderr:find(dir, 1, true), r.stderr)
  end)

  it("exits 3 when there is no Lua layer at all", function()
    local dir = layout()
    H.rmtree(dir .. "/share")
    local r = run(dir .. "/bin/migrun", { "-e", "print(1)" })
    assert.equal(3, r.status)
    assert.truthy(r.stderr:find("MIGRUN_LUA_PATH", 1, true), r.stderr)
  end)
end)

describe("the precompiled Lua layer (share/migrun/luac)", function()
  -- set a file's modification time to now + seconds
  local function age(path, seconds)
    assert(proc.run({ "touch", "-d", "@" .. (os.time() + seconds), path }).ok)
  end

  -- an installed layout whose modules are compiled by scripts/compile-lua.lua, the build's
  -- own step; migrun/probe.lua's bytecode says "bytecode", its source "source"
  local function compiled()
    local dir = layout()
    local lua, luac = dir .. "/share/migrun/lua", dir .. "/share/migrun/luac"
    H.write(lua .. "/migrun/probe.lua", "return 'bytecode'\n")
    H.write(lua .. "/migrun/boom.lua", "local M = {}\nfunction M.go() error('boom') end\nreturn M\n")
    local r = run(dir .. "/bin/migrun", { "-e", "assert(loadfile((...)))(select(2, ...))",
      H.source .. "/scripts/compile-lua.lua", lua, luac, dir .. "/bin/../share/migrun/lua" })
    assert.equal(0, r.status, r.stderr)
    H.write(lua .. "/migrun/probe.lua", "return 'source'\n")
    age(lua .. "/migrun/probe.lua", -3600)
    age(lua .. "/migrun/boom.lua", -3600)
    return dir, lua, luac
  end

  local function probe(dir)
    local r = run(dir .. "/bin/migrun", { "-e", "print((require('migrun.probe')))" })
    assert.equal(0, r.status, r.stderr)
    return r.stdout
  end

  it("loads a module from its bytecode while that is newer than the source", function()
    local dir = compiled()
    assert.equal("bytecode\n", probe(dir))
    -- the bytecode keeps the source's name and lines for errors and tracebacks
    local r = run(dir .. "/bin/migrun", { "-e", "require('migrun.boom').go()" })
    assert.truthy(r.stderr:find("/share/migrun/lua/migrun/boom.lua:2: boom", 1, true), r.stderr)
  end)

  it("loads the source when it was edited after the build", function()
    local dir, lua = compiled()
    age(lua .. "/migrun/probe.lua", 3600)
    assert.equal("source\n", probe(dir))
  end)

  it("loads the source when the bytecode does not load (damaged, another Lua)", function()
    local dir, _, luac = compiled()
    H.write(luac .. "/migrun/probe.luac", "\27Lua garbage")
    age(luac .. "/migrun/probe.luac", 60)
    assert.equal("source\n", probe(dir))
  end)
end)
