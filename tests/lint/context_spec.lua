-- What only migrun's linter knows: which tables are new, which statements run in a
-- transaction, the effective lock_timeout, the PostgreSQL version, suppressions with reasons,
-- where a finding is, and how findings are printed.
local lint = require "migrun.lint"
local errors = require "migrun.errors"

local function run(sql, opts)
  opts = opts or {}
  opts.file = opts.file or "m.sql"
  return lint.sql(sql, opts)
end

local function ids(findings)
  local out = {}
  for _, f in ipairs(findings) do out[#out + 1] = f.rule end
  table.sort(out)
  return table.concat(out, ",")
end

local function find(findings, rule)
  for _, f in ipairs(findings) do if f.rule == rule then return f end end
  return nil
end

describe("lint context", function()
  describe("new tables", function()
    it("does not flag locks on a table created earlier in the same file", function()
      local f = run([[
CREATE TABLE invoices (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint, total numeric);
CREATE INDEX invoices_customer_idx ON invoices (customer_id);
ALTER TABLE invoices ADD CONSTRAINT invoices_customer_fk FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE invoices ADD CONSTRAINT invoices_total_check CHECK (total >= 0);
ALTER TABLE invoices ALTER COLUMN total SET NOT NULL;
ALTER TABLE invoices ADD CONSTRAINT invoices_uniq UNIQUE (customer_id, total);
ALTER TABLE invoices ADD COLUMN token uuid DEFAULT gen_random_uuid();
ALTER TABLE invoices ALTER COLUMN total TYPE numeric(12,2);
DROP TABLE invoices;
]])
      assert.equal("", ids(f))
    end)

    it("still flags the same statements on a table it did not create", function()
      local f = run([[
CREATE INDEX invoices_customer_idx ON invoices (customer_id);
ALTER TABLE invoices ADD CONSTRAINT invoices_total_check CHECK (total >= 0);
]])
      assert.equal("constraint-missing-not-valid,require-concurrent-index", ids(f))
    end)

    it("takes tables created before this text from known_new", function()
      assert.equal("", ids(run("CREATE INDEX i ON invoices (a);", { known_new = { invoices = true } })))
      assert.equal("", ids(run("CREATE INDEX i ON invoices (a);", { known_new = { "invoices" } })))
    end)

    it("treats a `-- name.sql` line as the start of the next migration file", function()
      local f = run([[
-- 001_create.sql
CREATE TABLE authors (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);
-- 002_index.sql
CREATE INDEX authors_name_idx ON authors (name);
]])
      local hit = find(f, "require-concurrent-index")
      assert.is_truthy(hit)
      assert.equal(4, hit.line)
    end)

    it("follows a rename of a new table", function()
      assert.equal("", ids(run([[
CREATE TABLE staging (id bigint, v text);
ALTER TABLE staging RENAME TO final;
CREATE INDEX final_v_idx ON final (v);
]])))
    end)

    it("knows SELECT ... INTO and CREATE TABLE AS create tables", function()
      assert.equal("", ids(run([[
SELECT id, total INTO orders_copy FROM orders;
CREATE INDEX orders_copy_idx ON orders_copy (id);
CREATE TABLE totals AS SELECT customer_id, sum(total) AS total FROM orders GROUP BY 1;
CREATE INDEX totals_idx ON totals (customer_id);
]])))
    end)
  end)

  describe("transactions", function()
    it("runs a plain file statement by statement, so NOT VALID then VALIDATE is the safe pattern", function()
      local sql = "ALTER TABLE orders ADD CONSTRAINT c CHECK (total >= 0) NOT VALID;\n" ..
                  "ALTER TABLE orders VALIDATE CONSTRAINT c;"
      assert.equal("", ids(run(sql)))
      -- the same two statements inside one migrun phase share a transaction
      assert.equal("validate-in-same-transaction", ids(run(sql, { in_transaction = true })))
    end)

    it("flags CONCURRENTLY in a transactional phase but not with transaction = false", function()
      local sql = "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON orders (a);"
      local f = run(sql, { in_transaction = true, playbook = true, phase = "index" })
      assert.equal("concurrently-in-transaction", ids(f))
      assert.matches("phase 'index'", f[1].message)
      assert.equal("", ids(run(sql, { in_transaction = false, playbook = true })))
    end)

    it("infers a transaction from SET LOCAL (the file is run inside one)", function()
      local f = run("SET LOCAL lock_timeout = '2s';\nCREATE INDEX CONCURRENTLY i ON orders (a);")
      assert.equal("concurrently-in-transaction", ids(f))
    end)

    it("flags COMMIT inside a migrun phase: it ends migrun's transaction", function()
      local f = run("ALTER TABLE orders ADD COLUMN note text;\nCOMMIT;", { in_transaction = true, playbook = true })
      assert.equal("transaction-nesting", ids(f))
      assert.equal(2, f[1].line)
    end)

    it("reports more work after ACCESS EXCLUSIVE once per transaction", function()
      local f = run([[
BEGIN;
ALTER TABLE orders ADD COLUMN note text;
SELECT count(*) FROM orders;
SELECT count(*) FROM customers;
COMMIT;
]])
      assert.equal("more-work-after-access-exclusive", ids(f))
      assert.equal(3, f[1].line)
      assert.matches("orders", f[1].message)
      assert.matches("line 2", f[1].message)
    end)
  end)

  describe("lock_timeout", function()
    it("takes migrun's own lock_timeout as the effective one by default", function()
      assert.equal("", ids(run("ALTER TABLE orders ADD COLUMN note text;")))
    end)

    it("flags DDL once the file turns it off, and a very long one as a warning", function()
      local f = run("SET lock_timeout = 0;\nALTER TABLE orders ADD COLUMN a text;\n" ..
                    "ALTER TABLE orders ADD COLUMN b text;")
      assert.equal("require-lock-timeout", ids(f))      -- once per file
      assert.equal("error", f[1].severity)
      f = run("SET lock_timeout = '5min';\nALTER TABLE orders ADD COLUMN a text;")
      assert.equal("warning", find(f, "require-lock-timeout").severity)
    end)

    it("reads the playbook's lock_timeout, and SET LOCAL lasts until COMMIT", function()
      assert.equal("require-lock-timeout",
                   ids(run("ALTER TABLE orders ADD COLUMN a text;", { lock_timeout_ms = 0 })))
      assert.equal("", ids(run("BEGIN;\nSET LOCAL lock_timeout = 0;\nCOMMIT;\nALTER TABLE orders ADD COLUMN a text;")))
    end)
  end)

  describe("PostgreSQL version", function()
    it("takes the version as 15, \"15\", \"9.6\" or 150004", function()
      assert.equal(150000, lint.version_num(15))
      assert.equal(110000, lint.version_num("11"))
      assert.equal(130004, lint.version_num("13.4"))
      assert.equal(90600, lint.version_num("9.6"))
      assert.equal(150004, lint.version_num(150004))
      assert.is_false(pcall(lint.version_num, "fifteen"))
      assert.equal("adding-field-with-default",
                   ids(run("ALTER TABLE t ADD COLUMN c int DEFAULT 0;", { pg_version = "10" })))
    end)

    it("knows constant defaults are free from 11", function()
      local sql = "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';"
      assert.equal("", ids(run(sql, { pg_version = 110000 })))
      assert.equal("adding-field-with-default", ids(run(sql, { pg_version = 100000 })))
    end)

    it("knows a validated CHECK makes SET NOT NULL scan-free from 12", function()
      local sql = "ALTER TABLE orders VALIDATE CONSTRAINT orders_note_not_null;\n" ..
                  "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;"
      assert.equal("", ids(run(sql, { pg_version = 120000 })))
      assert.equal("set-not-null", ids(run(sql, { pg_version = 110000 })))
    end)

    it("flags a CHECK that is added but not yet validated", function()
      local sql = "ALTER TABLE orders ADD CONSTRAINT n CHECK (note IS NOT NULL) NOT VALID;\n" ..
                  "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;"
      assert.equal("set-not-null", ids(run(sql)))
    end)
  end)

  describe("table sizes (a server's answers)", function()
    local function server(rows, bytes)
      return { version = function() return 150004 end,
               size = function(_, name) return name == "orders" and { rows = rows, bytes = bytes } or nil end,
               table = function() return nil end, index_table = function() return nil end,
               volatility = function() return nil end, timezone = function() return "UTC" end }
    end

    it("says how big the table is and how long the lock is held", function()
      local f = run("ALTER TABLE orders ALTER COLUMN note SET NOT NULL;",
                    { server = server(48e6, 2.1 * 1024 ^ 3) })
      assert.equal("error", f[1].severity)
      assert.matches("%(orders has 48M rows, 2%.1 GB: this scan holds ACCESS EXCLUSIVE for about 12 s%)",
                     f[1].message)
      f = run("ALTER TABLE orders ALTER COLUMN total TYPE bigint;", { server = server(48e6, 2.1 * 1024 ^ 3) })
      assert.matches("this rewrite holds ACCESS EXCLUSIVE for minutes%)", f[1].message)
    end)

    it("makes a finding on a small table a warning, and one on a big table an error", function()
      local f = run("CREATE INDEX i ON orders (a);", { server = server(120, 40960) })
      assert.equal("warning", f[1].severity)
      assert.matches("%(orders has 120 rows, 40 kB: small, so brief%)", f[1].message)
      f = run("UPDATE orders SET a = 1;", { server = server(3e6, 400 * 1024 ^ 2) })
      assert.equal("error", f[1].severity)
      -- a table the server does not have (created by an earlier, unapplied migration): as is
      assert.equal("error", run("CREATE INDEX i ON customers (a);", { server = server(1, 1) })[1].severity)
    end)
  end)

  describe("suppressions", function()
    it("allows a rule on the statement's line or the line above, with a reason", function()
      assert.equal("", ids(run("DROP TABLE orders;  -- migrun:allow ban-drop-table moved to billing")))
      assert.equal("", ids(run("-- migrun:allow ban-drop-table moved to billing\nDROP TABLE orders;")))
      -- the allow names one rule; others still report
      assert.equal("ban-drop-column",
                   ids(run("-- migrun:allow ban-drop-table moved\nDROP TABLE orders;\nALTER TABLE a DROP COLUMN b;")))
    end)

    it("reports an allow without a reason", function()
      local f = run("-- migrun:allow ban-drop-table\nDROP TABLE orders;")
      assert.equal("allow-without-reason", ids(f))
      assert.equal(1, f[1].line)
    end)

    it("takes the playbook's levels: off, warn, error", function()
      local sql = "DROP TABLE orders;\nALTER TABLE orders ADD COLUMN meta json;"
      assert.equal("prefer-jsonb", ids(run(sql, { levels = { ["ban-drop-table"] = "off" } })))
      local f = run(sql, { levels = { ["ban-drop-table"] = "warn", ["prefer-jsonb"] = "error" } })
      assert.equal("warning", find(f, "ban-drop-table").severity)
      assert.equal("error", find(f, "prefer-jsonb").severity)
    end)

    it("honours squawk-ignore and eugene: ignore comments already reviewed in a codebase", function()
      assert.equal("", ids(run("-- squawk-ignore ban-drop-column\nALTER TABLE a DROP COLUMN b;")))
      assert.equal("", ids(run("-- squawk-ignore-file ban-drop-column\nALTER TABLE a DROP COLUMN b;\n" ..
                               "ALTER TABLE a DROP COLUMN c;")))
      assert.equal("", ids(run("-- eugene: ignore E2\nALTER TABLE a ALTER COLUMN b SET NOT NULL;")))
      assert.equal("", ids(run("-- atlas:nolint DS102\nDROP TABLE pets;")))
      -- atlas: a directive followed by a blank line covers the file
      assert.equal("", ids(run("-- atlas:nolint destructive data_depend\n\nDROP TABLE pets;\n" ..
                               "ALTER TABLE users ADD COLUMN name text NOT NULL;")))
      assert.equal("adding-required-field", ids(run("-- atlas:nolint destructive\nDROP TABLE pets;\n" ..
                               "ALTER TABLE users ADD COLUMN name text NOT NULL;")))
    end)
  end)

  describe("positions and messages", function()
    it("gives 1-based line and column of the statement, in characters", function()
      local f = run("SELECT 'é';\n\n  SELECT 1; DROP TABLE orders;")
      assert.equal(3, f[1].line)
      assert.equal(13, f[1].col)
      assert.equal("DROP TABLE orders", f[1].statement)
    end)

    it("adds line_offset and col_offset (inline SQL in a playbook)", function()
      local f = run("\nDROP TABLE orders;", { line_offset = 10, col_offset = 4 })
      assert.equal(12, f[1].line)
      assert.equal(1, f[1].col)
      f = run("DROP TABLE orders;", { line_offset = 10, col_offset = 4 })
      assert.equal(11, f[1].line)
      assert.equal(5, f[1].col)
    end)

    it("names the user's own table and column and writes the safe form out", function()
      local f = run("ALTER TABLE billing.invoices ALTER COLUMN amount_cents SET NOT NULL;")
      assert.matches("invoices.amount_cents", f[1].message)
      assert.equal("invoices", f[1].table)
      assert.matches("ALTER TABLE billing.invoices ADD CONSTRAINT invoices_amount_cents_not_null " ..
                     "CHECK %(amount_cents IS NOT NULL%) NOT VALID;", f[1].fix)
      f = run("CREATE INDEX orders_status_idx ON orders (status);")
      assert.matches("CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders %(status%);", f[1].fix)
    end)
  end)

  describe("the parser", function()
    it("raises kind = parse with the parser's line and column", function()
      local ok, err = pcall(run, "SELECT 1;\nALTER TABLE orders ADD COLUM x int;")
      assert.is_false(ok)
      assert.is_true(errors.is(err, "parse"))
      assert.equal("m.sql", err.file)
      assert.equal(2, err.line)
      assert.equal(32, err.col)
    end)

    it("reads what the scanner alone would split wrongly", function()
      local f = run([[
CREATE FUNCTION add_one(i int) RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT i + 1;
END;
DROP TABLE orders;
]])
      assert.equal("ban-drop-table", ids(f))
      assert.equal(5, f[1].line)
    end)
  end)
end)

describe("lint.files, render, exit_code", function()
  local H = require "helper"
  local dir

  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  it("lints .sql files, sorted, with parse errors apart (exit 2)", function()
    H.write(dir .. "/a.sql", "ALTER TABLE orders ADD COLUMN meta json;\nDROP TABLE orders;\n")
    H.write(dir .. "/b.sql", "ALTER TABLE orders ADD COLUM x int;\n")
    local findings, perr = lint.files({ dir .. "/a.sql", dir .. "/b.sql" })
    assert.equal(2, #findings)
    assert.equal(1, findings[1].line)
    assert.equal(2, findings[2].line)
    assert.equal(1, #perr)
    assert.equal("parse", perr[1].kind)
    assert.equal(1, perr[1].line)
    assert.equal(2, lint.exit_code(findings, perr))
    assert.equal(1, lint.exit_code(findings, {}))
    assert.equal(0, lint.exit_code({ { severity = "warning" } }, {}))
    assert.equal(0, lint.exit_code({}, {}))
  end)

  it("renders gcc-style text, in colour only when asked", function()
    local f = run("DROP TABLE orders;")
    local plain = lint.render(f, "text", { color = false })
    assert.matches("^m%.sql:1:1: error: DROP TABLE orders deletes .- %[ban%-drop%-table%]\n", plain)
    assert.is_nil(plain:find("\27", 1, true))
    assert.truthy(lint.render(f, "text", { color = true }):find("\27[1;31m", 1, true))
  end)

  it("renders JSON with 1-based positions", function()
    local doc = require("cjson").decode(lint.render(run("\n  DROP TABLE orders;"), "json"))
    assert.equal(1, #doc.findings)
    assert.equal(2, doc.findings[1].line)
    assert.equal(3, doc.findings[1].col)
    assert.equal("ban-drop-table", doc.findings[1].rule)
    assert.equal(1, doc.summary.errors)
    local empty = lint.render({}, "json")
    assert.matches('"findings":%[%]', empty)
  end)

  it("renders SARIF 2.1.0 for code scanning", function()
    local f = run("DROP TABLE orders;\nALTER TABLE t ADD COLUMN m json;")
    local doc = require("cjson").decode(lint.render(f, "sarif"))
    assert.equal("2.1.0", doc.version)
    local run1 = doc.runs[1]
    assert.equal("migrun lint", run1.tool.driver.name)
    assert.equal(2, #run1.results)
    local r = run1.results[1]
    assert.equal("ban-drop-table", r.ruleId)
    assert.equal("error", r.level)
    assert.equal("m.sql", r.locations[1].physicalLocation.artifactLocation.uri)
    assert.equal(1, r.locations[1].physicalLocation.region.startLine)
    assert.equal("ban-drop-table", run1.tool.driver.rules[r.ruleIndex + 1].id)
    assert.equal("warning", run1.results[2].level)
  end)

  it("renders GitHub workflow annotations, escaped", function()
    local out = lint.render(run("DROP TABLE orders;"), "github")
    assert.matches("^::error file=m%.sql,line=1,col=1,title=migrun lint ban%-drop%-table::DROP TABLE", out)
    assert.is_nil(out:sub(1, -2):find("\n", 1, true))     -- one line per finding
    assert.truthy(out:find("%0A", 1, true))
  end)
end)
