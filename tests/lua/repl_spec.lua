-- migrun.repl without a database or a terminal: how chunks compile, how values print, what
-- Tab offers. (tests/cli/repl_spec.lua drives the real thing.)
local repl = require "migrun.repl"

local function session()
  return repl.new({ interactive = false })
end

describe("repl.compile", function()
  it("compiles an expression so that its values come back", function()
    local fn = assert(repl.compile("1 + 1, 'x'", {}))
    assert.same({ 2, "x" }, { fn() })
  end)

  it("compiles a statement as it is", function()
    local env = {}
    assert(repl.compile("x = 41 + 1", env))()
    assert.equal(42, env.x)
  end)

  it("says a chunk cut short is incomplete, a long string too", function()
    for _, src in ipairs({ "function f()", "for i = 1, 2 do", "x = [[abc", "t = {", "x =" }) do
      local fn, err = repl.compile(src, {})
      assert.is_nil(fn)
      assert.equal(repl.INCOMPLETE, err, src)
    end
  end)

  it("says a quoted string broken by the end of its line is an error, not incomplete", function()
    local fn, err = repl.compile('describe "cu', {})
    assert.is_nil(fn)
    assert.is_string(err)
    assert.truthy(err:find("unfinished string", 1, true))
  end)

  it("counts lines from first_line in its messages", function()
    local _, err = repl.compile("x = = 1", {}, "=stdin", 17)
    assert.truthy(err:find("^stdin:17:"), err)
  end)
end)

describe("repl.format_result", function()
  local res = repl.result({ "id", "name" }, { "int4", "text" },
                          { { id = 1, name = "ann" }, { id = 22 }, { id = 3, name = ("w"):rep(50) } })

  it("aligns like psql: numbers right, text left, NULL shown, row count under it", function()
    local lines = {}
    for l in (repl.format_result(res, { cell_width = 10 }) .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
    assert.same({
      " id |    name",
      "----+------------",
      "  1 | ann",
      " 22 | NULL",
      "  3 | wwwwwwwww…",
      "(3 rows)",
    }, lines)
  end)

  it("narrows wide cells to fit the terminal", function()
    local text = repl.format_result(res, { width = 30 })
    for l in text:gmatch("[^\n]+") do assert.truthy(utf8.len(l) <= 30, l) end
  end)

  it("shows the first rows of a long result and says so", function()
    local rows = {}
    for i = 1, 12 do rows[i] = { n = i } end
    local text = repl.format_result(repl.result({ "n" }, { "int8" }, rows), { max_rows = 5, ns = 1500000 })
    assert.truthy(text:find("(12 rows, the first 5 shown)\nTime: 1ms", 1, true), text)
  end)

  it("prints the command tag of a statement without columns", function()
    assert.equal("UPDATE 3", repl.format_result({ columns = {}, ncols = 0, n = 0, command = "UPDATE 3" }))
  end)
end)

describe("repl.pretty", function()
  it("prints nested tables on one line when they fit, keys sorted", function()
    assert.equal('{ 1, "two", a = { b = true }, ["not ident"] = 2 }',
                 repl.pretty({ 1, "two", ["not ident"] = 2, a = { b = true } }))
  end)

  it("marks a cycle instead of following it", function()
    local t = {}
    t.me = t
    assert.truthy(repl.pretty(t):find("^{ me = <cycle: table: 0x%x+> }$"))
  end)

  it("stops after max_items", function()
    local t = {}
    for i = 1, 50 do t[i] = i end
    assert.truthy(repl.pretty(t, { max_items = 10 }):find("10, …", 1, true))
  end)

  it("runs no __index or __pairs metamethod", function()
    local t = setmetatable({ a = 1 }, { __index = function() error("no") end, __pairs = function() error("no") end })
    assert.equal("{ a = 1 }", repl.pretty(t))
  end)
end)

describe("completion", function()
  local s = session()

  local function complete(line)
    local word = line:match("[%w_.:]*$")
    return s:complete(line, #line - #word + 1, #line) or {}
  end

  it("offers globals, helpers and keywords", function()
    local c = complete("descr")
    assert.same({ "describe" }, c)
    assert.truthy(#complete("") > 20)
    assert.same({ "while" }, complete("whil"))
  end)

  it("offers the fields of a table and the functions of a string", function()
    assert.same({ "string.format" }, complete("string.form"))
    s.env.t = { alpha = 1, beta = { gamma = 2 } }
    assert.same({ "t.beta.gamma" }, complete("t.beta.g"))
    assert.same({ "t.alpha", "t.beta" }, complete("t."))
    s.env.str = "x"
    assert.same({ "str:upper" }, complete("str:up"))
  end)

  it("offers only functions after a colon, and no metamethods", function()
    s.env.obj = setmetatable({ n = 1 }, { __index = { go = function() end }, __tostring = function() return "" end })
    assert.same({ "obj:go" }, complete("obj:"))
  end)

  it("never calls an __index function to find fields", function()
    s.env.lazy = setmetatable({}, { __index = function() error("called") end })
    assert.same({}, complete("lazy.x"))
  end)

  it("offers playbook files after load \"", function()
    local c = s:complete('load "tests/fixtures/shop/sh', 7, 28)
    assert.same({ "tests/fixtures/shop/shop.lua" }, c)
    c = s:complete('load "tests/fixtures/sh', 7, 23)
    assert.same({ "tests/fixtures/shop/" }, { c[1] })
    assert.is_true(c.open)                           -- a directory: the quote stays open
  end)
end)
