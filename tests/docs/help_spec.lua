-- `migrun help TOPIC` prints the reference at the terminal, from the build tree and from an
-- installed prefix (with the man pages beside it), whatever the working directory.
local H = require "helper"
local docs = require "migrun.docs"
local proc = require "migrun.proc"
local lfs = require "lfs"

local function help(bin, args, opts)
  local argv = { bin, "help" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return proc.run(argv, { cwd = opts and opts.cwd or "/", env = { NO_COLOR = "1" } })
end

describe("migrun help", function()
  it("has a text for every topic, and lists every entry without one", function()
    for _, topic in ipairs(docs.topics()) do
      assert.is_string(docs.text(topic), topic)
    end
    local r = help(H.bin, {})
    assert.equal(0, r.status, r.stderr)
    for _, e in ipairs(docs.entries()) do
      assert.truthy(r.stdout:find(e.name, 1, true), e.name .. " is not listed by `migrun help`")
    end
  end)

  it("prints the reference's text of a verb, a name, an option, an expectation and a ledger table", function()
    for _, topic in ipairs({ "run", "phase", "phase.transaction", "backfill.max_rate", "expect.no_orphans",
                             "backup.dump", "ledger.runs", "exit-codes" }) do
      local r = help(H.bin, { topic })
      assert.equal(0, r.status, topic .. ": " .. r.stderr)
      assert.equal(docs.text(topic), r.stdout)
    end
    local verb_help = proc.run({ H.bin, "plan", "--help" }, { env = { NO_COLOR = "1" } })
    assert.equal(help(H.bin, { "plan" }).stdout, verb_help.stdout)
  end)

  it("exits 2 for an unknown topic, naming the closest", function()
    local r = help(H.bin, { "expect.no_orphan" })
    assert.equal(2, r.status)
    assert.equal("", r.stdout)
    assert.truthy(r.stderr:find("did you mean 'expect.no_orphans'", 1, true), r.stderr)
    r = help(H.bin, { "--json", "phse" })
    assert.equal(2, r.status)
    local last = require("cjson").decode(r.stdout:match("([^\n]+)\n$"))
    assert.equal("result", last.event)
    assert.equal(2, last.exit)
  end)

  it("works from an installed prefix: help, the man pages, and `migrun new`'s editor settings", function()
    local build = H.bin:match("^(.*)/bin/[^/]+$")
    if not (build and lfs.attributes(build .. "/CMakeCache.txt")) then
      pending("MIGRUN_BIN is not in a CMake build tree: cannot install it")
      return
    end
    local prefix = H.tmpdir()
    local r = proc.run({ "cmake", "--install", build, "--prefix", prefix })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    local bin = prefix .. "/bin/migrun"
    r = help(bin, { "expect.no_orphans" })
    assert.equal(0, r.status, r.stderr)
    assert.equal(docs.text("expect.no_orphans"), r.stdout)
    for _, man in ipairs(docs.MAN) do
      local page = prefix .. "/share/man/man" .. man.section .. "/" .. man.file .. ".gz"
      local roff = proc.run({ "gzip", "-dc", page })
      assert.equal(0, roff.status, page .. ": " .. roff.stderr)
      assert.truthy(roff.stdout:find('^%.%\\"'), page .. " is not roff")
    end
    -- the Lua layer is installed precompiled too, named by where it was installed
    assert.equal("file", lfs.attributes(prefix .. "/share/migrun/luac/migrun/cli.luac", "mode"))
    r = proc.run({ bin, "-e", "print(debug.getinfo(require('migrun.cli').main, 'S').source)" })
    assert.equal("@" .. prefix .. "/bin/../share/migrun/lua/migrun/cli.lua\n", r.stdout)
    -- a lint finding names its rule's page where it was installed
    local sql = H.write(H.tmpdir() .. "/drop.sql", "DROP TABLE accounts;\n")
    r = proc.run({ bin, "lint", sql }, { cwd = "/" })
    assert.equal(1, r.status, r.stderr)
    local page = prefix .. "/share/doc/migrun/docs/lint/ban-drop-table.md"
    assert.truthy(r.stdout:find("= " .. page, 1, true), r.stdout)
    assert.equal("file", lfs.attributes(page, "mode"))
    local dir = H.tmpdir()
    r = proc.run({ bin, "new", "proj" }, { cwd = dir })
    assert.equal(0, r.status, r.stderr)
    local rc = require("cjson").decode(H.read(dir .. "/proj/.luarc.json"))
    assert.equal(prefix .. "/share/migrun/lua/migrun/meta", rc["workspace.library"][1])
    assert.equal("file", lfs.attributes(rc["workspace.library"][1] .. "/migrun.lua", "mode"))
  end)
end)
