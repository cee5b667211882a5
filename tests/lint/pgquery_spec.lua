-- migrun.core.pgquery: PostgreSQL's parser (libpg_query) as Lua tables.
local pgquery = require "migrun.core.pgquery"
local errors = require "migrun.errors"

describe("pgquery", function()
  it("decodes a statement into node tables: tag, fields, String nodes as strings", function()
    local stmts = pgquery.parse("ALTER TABLE public.orders ADD COLUMN total numeric(12,2) NOT NULL DEFAULT 0")
    assert.equal(1, #stmts)
    local t = stmts[1].tree
    assert.equal("AlterTableStmt", t.tag)
    assert.equal("orders", t.relation.relname)
    assert.equal("public", t.relation.schemaname)
    local cmd = t.cmds[1]
    assert.equal("AlterTableCmd", cmd.tag)
    assert.equal("AT_AddColumn", cmd.subtype)
    assert.same({ "pg_catalog", "numeric" }, cmd.def.typeName.names)
    assert.equal(12, cmd.def.typeName.typmods[1].ival.ival)
    assert.equal("CONSTR_NOTNULL", cmd.def.constraints[1].contype)
  end)

  it("gives each statement's first token and last byte, 1-based, after comments", function()
    local sql = "-- head\nSELECT 1;  /* mid */ SELECT 'a;b';\n  DROP TABLE t -- tail\n;"
    local stmts, comments = pgquery.parse(sql)
    assert.equal(3, #stmts)
    assert.equal("SELECT 1", sql:sub(stmts[1].pos, stmts[1].stop))
    assert.equal("SELECT 'a;b'", sql:sub(stmts[2].pos, stmts[2].stop))
    assert.equal("DROP TABLE t", sql:sub(stmts[3].pos, stmts[3].pos + 11))
    assert.equal(3, #comments)
    assert.equal("-- head", sql:sub(comments[1].pos, comments[1].stop))
    assert.equal("/* mid */", sql:sub(comments[2].pos, comments[2].stop))
    assert.equal("-- tail", sql:sub(comments[3].pos, comments[3].stop))
  end)

  it("maps a node's location through base", function()
    local sql = "SELECT 1;\nCREATE INDEX i ON orders (a);"
    local s = pgquery.parse(sql)[2]
    local at = s.base + s.tree.relation.location + 1
    assert.equal("orders", sql:sub(at, at + 5))
  end)

  it("does not take comment markers inside literals, identifiers or dollar quotes", function()
    local sql = [[SELECT '-- no', "/* no */", $$ -- no $$, $x$ /* no */ $x$, E'\' -- no'; -- yes]]
    local _, comments = pgquery.parse(sql)
    assert.equal(1, #comments)
    assert.equal("-- yes", sql:sub(comments[1].pos, comments[1].stop))
  end)

  it("returns skipped statement types as their tag only", function()
    local stmts = pgquery.parse("INSERT INTO t VALUES (1, 'x'); SELECT 1", { InsertStmt = true })
    assert.same({ tag = "InsertStmt" }, stmts[1].tree)
    assert.equal("SelectStmt", stmts[2].tree.tag)
  end)

  it("cuts a long script only at semicolons that end statements", function()
    local body = "SELECT 'a;b', \"c;d\", $$e;f$$, $t$ ; $t$, E'g\\';h', (SELECT 1 /* ; */); -- ;\n"
    local parts = {}
    for i = 1, 150 do parts[i] = body end
    local sql = table.concat(parts)
    local stmts = pgquery.parse(sql)
    assert.equal(150, #stmts)
    for _, i in ipairs({ 1, 64, 65, 150 }) do
      assert.equal(body:match("^(.-);%s*%-%- ;\n$"), sql:sub(stmts[i].pos, stmts[i].stop))
    end
  end)

  it("reads a script the quick cut gets wrong as PostgreSQL's scanner splits it", function()
    -- a piece without a keyword is no statement to the scanner's split, and never parsed
    local stmts = pgquery.parse("SELECT 1; 42; SELECT 2;")
    assert.equal(2, #stmts)
    assert.equal(15, stmts[2].pos)
    -- a block comment the script ends inside of is the parser's to refuse
    local ok, err = pcall(pgquery.parse, "SELECT 1; /* open; SELECT 2;")
    assert.is_false(ok)
    assert.equal("parse", err.kind)
    assert.truthy(err.message:find("unterminated /* comment", 1, true))
  end)

  it("parses bodies the scanner alone splits wrongly (BEGIN ATOMIC)", function()
    local stmts = pgquery.parse("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC " ..
                                "SELECT 1; SELECT 2; END; SELECT 3")
    assert.equal(2, #stmts)
    assert.equal("CreateFunctionStmt", stmts[1].tree.tag)
    assert.equal("SelectStmt", stmts[2].tree.tag)
  end)

  it("raises kind = parse with the byte position of the parser's cursor", function()
    local sql = "SELECT 1;\nSELECT 'é' FROM WHERE x;"
    local ok, err = pcall(pgquery.parse, sql)
    assert.is_false(ok)
    assert.is_true(errors.is(err, "parse"))
    assert.equal("WHERE", sql:sub(err.position, err.position + 4))
    ok, err = pcall(pgquery.parse, "SELECT 'unterminated")
    assert.is_false(ok)
    assert.equal("parse", err.kind)
    ok, err = pcall(pgquery.parse, "SELECT 1\0")
    assert.is_false(ok)
    assert.equal("parse", err.kind)
  end)

  it("keeps a parse open and decodes statements one at a time", function()
    local doc = pgquery.open("SELECT 1; DROP TABLE t; VACUUM")
    assert.equal(3, doc:count())
    local tag, pos, stop = doc:info(2)
    assert.equal("DropStmt", tag)
    assert.equal(11, pos)
    assert.equal(22, stop)
    assert.equal("DropStmt", doc:stmt(2).tree.tag)
    assert.are_not.equal(doc:stmt(2).tree, doc:stmt(2).tree)      -- a new table each time
    assert.is_false(pcall(doc.stmt, doc, 4))
    doc:close()
    doc:close()                                                   -- twice is fine
    assert.is_false(pcall(doc.count, doc))
  end)

  it("parses a large script, in pieces, with the same result as one piece at a time", function()
    local parts = {}
    for i = 1, 3000 do
      parts[i] = string.format("ALTER TABLE t%d ADD COLUMN c%d int; -- %d\n", i % 7, i, i)
    end
    local sql = table.concat(parts)
    local stmts, comments = pgquery.parse(sql)
    assert.equal(3000, #stmts)
    assert.equal(3000, #comments)
    for _, i in ipairs({ 1, 64, 65, 1500, 3000 }) do
      local s = stmts[i]
      assert.equal(string.format("ALTER TABLE t%d ADD COLUMN c%d int", i % 7, i), sql:sub(s.pos, s.stop))
      assert.equal("c" .. i, s.tree.cmds[1].def.colname)
      local at = s.base + s.tree.relation.location + 1
      assert.equal("t" .. (i % 7), sql:sub(at, at + #tostring(i % 7)))
    end
  end)

  it("releases the statements a reader is past, parser call by parser call", function()
    local parts = {}
    for i = 1, 200 do parts[i] = string.format("ALTER TABLE t ADD COLUMN c%d int;\n", i) end
    local doc = pgquery.open(table.concat(parts))
    doc:release(0)                                               -- nothing yet
    assert.equal("c1", doc:stmt(1).tree.cmds[1].def.colname)
    doc:release(65)                  -- the first parser call's 64 are freed, the second's kept
    assert.is_false(pcall(doc.stmt, doc, 65))
    assert.is_false(pcall(doc.info, doc, 1))
    assert.equal("c66", doc:stmt(66).tree.cmds[1].def.colname)
    assert.equal("AlterTableStmt", (doc:info(200)))
    doc:release(10)                                              -- going back changes nothing
    assert.equal("c66", doc:stmt(66).tree.cmds[1].def.colname)
    assert.is_false(pcall(doc.release, doc, 201))
    doc:release(200)
    assert.is_false(pcall(doc.stmt, doc, 200))
    assert.equal(200, doc:count())
    doc:close()
  end)

  it("reports the grammar it parses", function()
    assert.equal(150001, pgquery.grammar)
  end)
end)
