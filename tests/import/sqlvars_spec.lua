-- psql's variables in SQL text (migrun.sqlvars): :name, :'name', :"name", :{?name}, replaced
-- in SQL only — never in strings, quoted names, dollar quotes or comments, never a cast.
local sqlvars = require "migrun.sqlvars"

local function expand(text, vars, o) return sqlvars.expand(text, vars or {}, o) end

describe("sqlvars.expand", function()
  local V = { name = "accounts", schema = "app", who = "O'Brien", col = 'say "hi"', n = 42 }

  it("puts a value in as it is for :name", function()
    assert.equal("SELECT * FROM accounts", expand("SELECT * FROM :name", V))
    assert.equal("SELECT * FROM app.accounts", expand("SELECT * FROM :schema.:name", V))
    assert.equal("LIMIT 42", expand("LIMIT :n", V))
  end)

  it("quotes a literal for :'name' the way quote_literal does", function()
    assert.equal("SELECT 'O''Brien'", expand("SELECT :'who'", V))
    assert.equal([[SELECT E'a\\b''c']], expand("SELECT :'v'", { v = [[a\b'c]] }))
  end)

  it("quotes an identifier for :\"name\"", function()
    assert.equal('SELECT "say ""hi"""', expand('SELECT :"col"', V))
    assert.equal('CREATE TABLE "app".t ()', expand('CREATE TABLE :"schema".t ()', V))
  end)

  it("answers :{?name} with TRUE or FALSE", function()
    assert.equal("SELECT TRUE, FALSE", expand("SELECT :{?schema}, :{?nope}", V))
  end)

  it("never touches a :: cast, not even next to a variable", function()
    assert.equal("SELECT '1'::int, x::text", expand("SELECT '1'::int, x::text", V))
    assert.equal("SELECT 5::numeric", expand("SELECT 5::numeric", V))
    assert.equal("SELECT x::accounts", expand("SELECT x:::name", V))
  end)

  it("leaves := and a lone colon alone", function()
    assert.equal("SELECT f(a := 1)", expand("SELECT f(a := 1)", V))
    assert.equal("SELECT ': '", expand("SELECT ': '", V))
    assert.equal("SELECT a : b", expand("SELECT a : b", V))
  end)

  it("reads a digit after ':' as a slice bound, not a name", function()
    assert.equal("SELECT a[1:2], a[:3], a[2:]", expand("SELECT a[1:2], a[:3], a[2:]", V))
  end)

  it("leaves an unknown name inside [ ] alone (a slice); a known one is replaced, as psql does", function()
    assert.equal("SELECT a[lo:hi]", expand("SELECT a[lo:hi]", V))
    assert.equal("SELECT a[1: 42]", expand("SELECT a[1: :n]", V))
  end)

  it("never looks inside strings, E'' strings, quoted names or dollar quotes", function()
    local text = [[SELECT ':name', E'\':name', ":name", $$ :name $$, $fn$ x := :name $fn$, U&':name']]
    assert.equal(text, expand(text, {}))
  end)

  it("never looks inside comments, nested ones included", function()
    local text = "SELECT 1 -- :name\n/* :name /* :name */ :name */ ;"
    assert.equal(text, expand(text, {}))
  end)

  it("goes on after a string that holds a doubled quote", function()
    assert.equal("SELECT 'it''s', accounts", expand("SELECT 'it''s', :name", V))
  end)

  it("reads $1 as a parameter and a$b as one name, not dollar quotes", function()
    assert.equal("SELECT $1, a$b$, accounts", expand("SELECT $1, a$b$, :name", V))
  end)

  it("takes a name of letters, digits, _ and non-ASCII bytes", function()
    assert.equal("x y", expand(":ä_1 :b", { ["ä_1"] = "x", b = "y" }))
  end)

  it("raises kind='playbook' naming file:line:col for an unknown name", function()
    local ok, err = pcall(expand, "SELECT 1;\n  SELECT :'missing';", {}, { file = "m.sql" })
    assert.is_false(ok)
    assert.equal("playbook", err.kind)
    assert.equal("m.sql", err.file)
    assert.equal(2, err.line)
    assert.equal(10, err.col)
    assert.equal("missing", err.variable)
    assert.matches("--set missing=", err.hint, 1, true)
  end)

  it("counts lines from o.line for SQL written inside a playbook", function()
    local ok, err = pcall(expand, "\nSELECT :x", {}, { file = "p.lua", line = 10 })
    assert.is_false(ok)
    assert.equal(11, err.line)
  end)

  it("with partial = true leaves unknown names for a later pass", function()
    assert.equal("SELECT app, :other, :{?other}", expand("SELECT :schema, :other, :{?other}", V, { partial = true }))
  end)

  it("returns the same text when there is nothing to replace", function()
    local text = "SELECT 1"
    assert.equal(text, expand(text, nil))
  end)

  it("reads sqitch's own registry script (a variable right after a parenthesis)", function()
    assert.equal([[CREATE TABLE "sqitch".releases (version real) WITH (fillfactor = 90);]],
                 expand([[CREATE TABLE :"registry".releases (version real):tableopts;]],
                        { registry = "sqitch", tableopts = " WITH (fillfactor = 90)" }))
  end)
end)

describe("sqlvars.refs and segments", function()
  it("lists each reference with its form, line and column", function()
    local refs = sqlvars.refs("SELECT :a,\n :'b', :\"c\", :{?d}")
    assert.equal(4, #refs)
    assert.same({ "a", "b", "c", "d" }, { refs[1].name, refs[2].name, refs[3].name, refs[4].name })
    assert.same({ "'", '"', "?" }, { refs[2].quote, refs[3].quote, refs[4].quote })
    assert.is_nil(refs[1].quote)
    assert.equal(2, refs[2].line)
    assert.equal(2, refs[2].col)
  end)

  it("cuts the text into code and literals that cover it all", function()
    local text = "SELECT 'a', \"b\", $$c$$, E'd' -- e\n/* f */ x"
    local kinds, covered = {}, 0
    for _, s in ipairs(sqlvars.segments(text)) do
      kinds[#kinds + 1] = s.kind
      covered = covered + (s.last - s.first + 1)
    end
    assert.equal(#text, covered)
    assert.same({ "code", "string", "code", "ident", "code", "dollar", "code", "estring", "code", "comment",
                  "comment", "code" }, kinds)
  end)

  it("runs to the end of the text for an unclosed quote", function()
    local segs = sqlvars.segments("SELECT 'open")
    assert.equal("string", segs[#segs].kind)
    assert.equal(12, segs[#segs].last)
  end)
end)
