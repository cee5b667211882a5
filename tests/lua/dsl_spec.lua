-- Validation happens before anything touches a database; every message names file and line.
local dsl = require "migrun.dsl"
local sys = require "migrun.core.sys"

local dir = assert(sys.mkdtemp("/tmp/migrun-dsl-"))

local function write(name, text)
  local f = assert(io.open(dir .. "/" .. name, "w"))
  f:write(text)
  f:close()
  return dir .. "/" .. name
end

local function load_error(text)
  local path = write("pb.lua", text)
  local ok, err = pcall(dsl.load, path)
  assert.is_false(ok, "expected a validation error")
  return err, path
end

describe("playbook validation", function()
  setup(function() write("a.sql", "SELECT 1;") end)
  teardown(function() require("migrun.sandbox").rmtree(dir) end)

  it("loads a valid playbook with phases in written order", function()
    local pb = dsl.load(write("ok.lua", [=[
playbook "ok" {
  phase "b" { sql "a.sql" },
  gate "go" { "ready?" },
  phase "a" { sql [[SELECT 2]], step "lua" (function(db) return 0 end) },
}]=]))
    assert.equal("ok", pb.name)
    assert.same({ "b", "go", "a" }, { pb.items[1].name, pb.items[2].name, pb.items[3].name })
    assert.equal(64, #pb.items[1].steps[1].checksum)
  end)

  it("names an unknown key with a suggestion", function()
    local err, path = load_error('playbook "x" {\n  phase "p" { sql "a.sql", budgte = "1s" },\n}')
    assert.equal("playbook", err.kind)
    assert.equal(path, err.file)
    assert.equal(2, err.line)
    assert.truthy(tostring(err):find("did you mean 'budget'", 1, true))
  end)

  it("rejects wrong types", function()
    local err = load_error('playbook "x" {\n  phase "p" { sql "a.sql", transaction = "no" },\n}')
    assert.equal(2, err.line)
    assert.truthy(err.message:find("transaction", 1, true))
  end)

  it("asks for the name of a phase, gate, watch or step written without one, at its line", function()
    for _, case in ipairs({
      { 'phase { sql "a.sql" }', 'phase "add column"' },
      { 'gate { "ready?" }', 'gate "go/no-go"' },
      { 'watch { duration = "1m" }', 'watch "after deploy"' },
      { 'phase "q" { step (function() end) }', 'step "name"' },
    }) do
      local err = load_error('playbook "x" {\n  phase "p" { sql "a.sql" },\n  ' .. case[1] .. ',\n}')
      assert.equal(3, err.line, err.message)
      assert.truthy(err.message:find("expects a name first, like " .. case[2], 1, true), err.message)
    end
  end)

  it("refuses a gate after the last phase, which would never be asked", function()
    local err = load_error('playbook "x" {\n  phase "p" { sql "a.sql" },\n  gate "done?" { "all good?" },\n}')
    assert.equal(3, err.line)
    assert.truthy(err.message:find("gate 'done?' comes after the last phase, so it would never be asked", 1, true),
                  err.message)
  end)

  it("rejects two phases with one name", function()
    local err = load_error('playbook "x" {\n  phase "p" { sql "a.sql" },\n  phase "p" { sql "a.sql" },\n}')
    assert.equal("playbook", err.kind)
    assert.equal(3, err.line)
  end)

  it("rejects a missing .sql file at its line", function()
    local err = load_error('playbook "x" {\n  phase "p" {\n    sql "missing.sql" },\n}')
    assert.equal(3, err.line)
    assert.truthy(err.message:find("missing.sql", 1, true))
  end)

  it("rejects a budget that does not parse", function()
    local err = load_error('playbook "x" {\n  budget = "fast",\n  phase "p" { sql "a.sql" },\n}')
    assert.equal(1, err.line)
    assert.truthy(err.message:find("budget", 1, true))
  end)

  it("rejects an unknown failure policy with a suggestion", function()
    local err = load_error('playbook "x" { on_failure = "rollbak", phase "p" { sql "a.sql" } }')
    assert.truthy(tostring(err):find("did you mean 'rollback'", 1, true))
  end)

  it("reports a Lua syntax error as a playbook error with its line", function()
    local err = load_error('playbook "x" {\n  phase "p" { sql "a.sql" \n}')
    assert.equal("playbook", err.kind)
    assert.equal(3, err.line)
  end)

  it("rejects precompiled bytecode", function()
    local path = dir .. "/bc.lua"
    local f = assert(io.open(path, "wb"))
    f:write(string.dump(function() return 1 end))
    f:close()
    local ok, err = pcall(dsl.load, path)
    assert.is_false(ok)
    assert.equal("playbook", err.kind)
  end)

  it("reads variables from --set and environment variables", function()
    local pb = dsl.load(write("vars.lua", [[
playbook "v" { description = var.who .. "/" .. var("missing", "dflt") .. "/" .. env("MIGRUN_NOPE", "e"),
               phase "p" { sql "a.sql" } }]]), { vars = { who = "me" } })
    assert.equal("me/dflt/e", pb.description)
  end)

  it("gives the same names through require 'migrun'", function()
    local pb = dsl.load(write("req.lua", [[
local m = require "migrun"
m.playbook "r" { m.phase "p" { m.sql "a.sql" } }]]))
    assert.equal("r", pb.name)
  end)

  it("returns nil for a file that declares no playbook", function()
    assert.is_nil(dsl.load(write("script.lua", "local x = 1")))
  end)
end)
