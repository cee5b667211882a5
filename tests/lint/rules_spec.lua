-- Every lint rule: a statement it must flag and the safe form (from the rule's own advice)
-- it must not. Without a server, PostgreSQL 15, statements on their own (as psql runs a file).
local lint = require "migrun.lint"

local function run(sql, opts)
  opts = opts or {}
  opts.file = opts.file or "case.sql"
  return lint.sql(sql, opts)
end

local function rules_of(findings)
  local out = {}
  for _, f in ipairs(findings) do out[#out + 1] = f.rule end
  return table.concat(out, ",")
end

local function has(findings, rule)
  for _, f in ipairs(findings) do
    if f.rule == rule then return f end
  end
  return nil
end

-- rule = { flag = sql | {sql, opts}, safe = sql | {sql, opts}, clean = false (the safe form
-- may trip other rules), line = where the finding must be }
local CASES = {
  ["require-concurrent-index"] = {
    flag = "CREATE INDEX orders_status_idx ON orders (status);",
    safe = "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status);",
  },
  ["require-concurrent-drop-index"] = {
    flag = "DROP INDEX orders_status_idx;",
    safe = "DROP INDEX CONCURRENTLY IF EXISTS orders_status_idx;",
  },
  ["require-concurrent-reindex"] = {
    flag = "REINDEX INDEX orders_status_idx;",
    safe = "REINDEX INDEX CONCURRENTLY orders_status_idx;\nREINDEX (CONCURRENTLY) TABLE orders;",
  },
  ["concurrently-in-transaction"] = {
    flag = "BEGIN;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status);\nCOMMIT;",
    line = 2,
    safe = "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status);",
  },
  ["constraint-missing-not-valid"] = {
    flag = "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n" ..
           "  FOREIGN KEY (customer_id) REFERENCES customers (id);",
    safe = "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk\n" ..
           "  FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;\n" ..
           "ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_fk;",
  },
  ["validate-in-same-transaction"] = {
    flag = "BEGIN;\nALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID;\n" ..
           "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_check;\nCOMMIT;",
    line = 3,
    safe = "BEGIN;\nALTER TABLE orders ADD CONSTRAINT orders_total_check CHECK (total >= 0) NOT VALID;\nCOMMIT;\n" ..
           "BEGIN;\nALTER TABLE orders VALIDATE CONSTRAINT orders_total_check;\nCOMMIT;",
  },
  ["require-unique-using-index"] = {
    flag = "ALTER TABLE orders ADD CONSTRAINT orders_number_key UNIQUE (number);",
    safe = "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_number_key ON orders (number);\n" ..
           "ALTER TABLE orders ADD CONSTRAINT orders_number_key UNIQUE USING INDEX orders_number_key;",
  },
  ["set-not-null"] = {
    flag = "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;",
    safe = "ALTER TABLE orders ADD CONSTRAINT orders_note_not_null CHECK (note IS NOT NULL) NOT VALID;\n" ..
           "ALTER TABLE orders VALIDATE CONSTRAINT orders_note_not_null;\n" ..
           "ALTER TABLE orders ALTER COLUMN note SET NOT NULL;\n" ..
           "ALTER TABLE orders DROP CONSTRAINT orders_note_not_null;",
  },
  ["changing-column-type"] = {
    flag = "ALTER TABLE orders ALTER COLUMN total TYPE bigint;",
    -- the old type is known from an earlier migration in the same file: widening is free
    safe = "-- 1.sql\nCREATE TABLE users (id bigint PRIMARY KEY, name varchar(20), bio text);\n" ..
           "-- 2.sql\nALTER TABLE users ALTER COLUMN name TYPE varchar(40);\n" ..
           "ALTER TABLE users ALTER COLUMN name TYPE text USING name::text;",
    clean = false,
  },
  ["adding-field-with-default"] = {
    flag = "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid();",
    safe = "ALTER TABLE orders ADD COLUMN token uuid;\n" ..
           "ALTER TABLE orders ALTER COLUMN token SET DEFAULT gen_random_uuid();\n" ..
           "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new';\n" ..
           "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now();",
  },
  ["adding-serial-column"] = {
    flag = "ALTER TABLE orders ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY;",
    safe = "ALTER TABLE orders ADD COLUMN seq bigint;",
  },
  ["exclusion-constraint"] = {
    flag = "ALTER TABLE bookings ADD CONSTRAINT bookings_no_overlap\n" ..
           "  EXCLUDE USING gist (room WITH =, during WITH &&);",
    safe = "CREATE TABLE bookings (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, room bigint,\n" ..
           "  during tstzrange, CONSTRAINT bookings_no_overlap EXCLUDE USING gist (room WITH =, during WITH &&));",
  },
  ["require-concurrent-detach"] = {
    flag = "ALTER TABLE events DETACH PARTITION events_2023;",
    safe = "ALTER TABLE events DETACH PARTITION events_2023 CONCURRENTLY;",
  },
  ["table-rewrite"] = {
    flag = "VACUUM FULL orders;",
    safe = "VACUUM (ANALYZE) orders;",
  },
  ["multiple-alter-table"] = {
    flag = "BEGIN;\nALTER TABLE orders ALTER COLUMN a SET NOT NULL;\n" ..
           "ALTER TABLE orders ALTER COLUMN b SET NOT NULL;\nCOMMIT;",
    line = 3,
    safe = "BEGIN;\nALTER TABLE orders ALTER COLUMN a SET NOT NULL, ALTER COLUMN b SET NOT NULL;\nCOMMIT;",
    clean = false,
  },
  ["more-work-after-access-exclusive"] = {
    flag = "BEGIN;\nALTER TABLE orders ADD COLUMN note text;\nUPDATE audit_log SET seen = true WHERE id = 1;\nCOMMIT;",
    line = 3,
    safe = "BEGIN;\nUPDATE audit_log SET seen = true WHERE id = 1;\nALTER TABLE orders ADD COLUMN note text;\nCOMMIT;",
  },
  ["require-lock-timeout"] = {
    flag = "SET lock_timeout = 0;\nALTER TABLE orders ADD COLUMN note text;",
    line = 2,
    safe = "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN note text;",
  },
  ["ban-drop-table"] = {
    flag = "DROP TABLE orders;",
    safe = "CREATE TABLE scratch (id bigint);\nINSERT INTO scratch SELECT 1;\nDROP TABLE scratch;",
  },
  ["ban-drop-column"] = {
    flag = "ALTER TABLE orders DROP COLUMN note;",
    safe = { "ALTER TABLE orders DROP COLUMN note;", { known_new_columns = true } },
  },
  ["ban-drop-database"] = {
    flag = "DROP DATABASE shop;",
    safe = "ALTER DATABASE shop SET lock_timeout = '2s';",
  },
  ["ban-drop-schema"] = {
    flag = "DROP SCHEMA archive CASCADE;",
    safe = "CREATE SCHEMA scratch;\nDROP SCHEMA scratch;",
  },
  ["ban-drop-not-null"] = {
    flag = "ALTER TABLE orders ALTER COLUMN note DROP NOT NULL;",
    safe = "ALTER TABLE orders ADD COLUMN remark text NOT NULL DEFAULT '';\n" ..
           "ALTER TABLE orders ALTER COLUMN remark DROP NOT NULL;",
  },
  ["renaming-table"] = {
    flag = "ALTER TABLE orders RENAME TO purchases;",
    safe = "CREATE TABLE orders_next (id bigint);\nALTER TABLE orders_next RENAME TO orders_v2;",
  },
  ["renaming-column"] = {
    flag = "ALTER TABLE orders RENAME COLUMN note TO remark;",
    safe = "ALTER TABLE orders ADD COLUMN remark text;",
  },
  ["renaming-schema"] = {
    flag = "ALTER SCHEMA sales RENAME TO commerce;",
    safe = "CREATE SCHEMA staging;\nALTER SCHEMA staging RENAME TO staging_v2;",
  },
  ["renaming-enum-value"] = {
    flag = "ALTER TYPE order_status RENAME VALUE 'shiped' TO 'shipped';",
    safe = "ALTER TYPE order_status ADD VALUE IF NOT EXISTS 'shipped';",
  },
  ["ban-truncate-cascade"] = {
    flag = "TRUNCATE orders CASCADE;",
    safe = "TRUNCATE orders, order_items;",
  },
  ["adding-required-field"] = {
    flag = "ALTER TABLE orders ADD COLUMN region text NOT NULL;",
    safe = "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';",
  },
  ["whole-table-dml"] = {
    flag = "UPDATE orders SET archived = false;",
    safe = "UPDATE orders SET archived = false WHERE id BETWEEN 1 AND 10000;",
  },
  ["prefer-jsonb"] = {
    flag = "ALTER TABLE orders ADD COLUMN meta json;",
    safe = "ALTER TABLE orders ADD COLUMN meta jsonb;",
  },
  ["ban-char-field"] = {
    flag = "CREATE TABLE codes (id bigint PRIMARY KEY, code char(3));",
    safe = "CREATE TABLE codes (id bigint PRIMARY KEY, code text);",
  },
  ["prefer-text-field"] = {
    flag = "CREATE TABLE notes (id bigint PRIMARY KEY, title varchar(255));",
    safe = "CREATE TABLE notes (id bigint PRIMARY KEY, title text CHECK (length(title) <= 255));",
  },
  ["prefer-bigint-over-int"] = {
    flag = "CREATE TABLE items (id integer PRIMARY KEY, order_id int REFERENCES orders (id));",
    -- a counter is not a key: an integer quantity is fine
    safe = "CREATE TABLE items (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id), qty integer);",
  },
  ["prefer-timestamptz"] = {
    flag = "ALTER TABLE orders ADD COLUMN shipped_at timestamp;",
    safe = "ALTER TABLE orders ADD COLUMN shipped_at timestamptz;",
  },
  ["prefer-identity"] = {
    flag = "CREATE TABLE tags (id bigserial PRIMARY KEY, name text);",
    safe = "CREATE TABLE tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text);",
  },
  ["identifier-too-long"] = {
    flag = "CREATE TABLE orders_archive (id bigint,\n" ..
           "  shipping_address_line_two_for_the_customer_who_ordered_it_on_the_web text);",
    safe = "CREATE TABLE orders_archive (id bigint, shipping_address_line_2 text);",
  },
  ["transaction-nesting"] = {
    flag = "BEGIN;\nBEGIN;\nSELECT 1;\nCOMMIT;",
    line = 2,
    safe = "BEGIN;\nSELECT 1;\nCOMMIT;",
  },
  ["ban-uncommitted-transaction"] = {
    flag = "BEGIN;\nALTER TABLE orders ADD COLUMN note text;",
    line = 1,
    safe = "BEGIN;\nALTER TABLE orders ADD COLUMN note text;\nCOMMIT;",
  },
  ["concurrent-index-if-not-exists"] = {
    flag = { "CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);",
             { playbook = true, in_transaction = false } },
    safe = { "CREATE INDEX CONCURRENTLY IF NOT EXISTS orders_status_idx ON orders (status);",
             { playbook = true, in_transaction = false } },
  },
  ["allow-without-reason"] = {
    flag = "-- migrun:allow ban-drop-table\nDROP TABLE orders;",
    safe = "-- migrun:allow ban-drop-table orders moved to the billing service in release 41\nDROP TABLE orders;",
  },
  ["allow-unknown-rule"] = {
    flag = "-- migrun:allow ban-drop-tabel moved to billing\nDROP TABLE orders;",
    safe = "-- migrun:allow ban-drop-table moved to billing\nDROP TABLE orders;",
  },
}

-- rules reported by the playbook linter itself (tests/lint/playbook_spec.lua)
local PLAYBOOK_ONLY = { ["phase-without-rollback"] = true, ["rollback-undoes-nothing"] = true }

local function unpack_case(c)
  if type(c) == "table" then return c[1], c[2] or {} end
  return c, {}
end

describe("lint rules", function()
  it("has a flag case and a safe case for every rule", function()
    for _, id in ipairs(lint.RULE_IDS) do
      if not PLAYBOOK_ONLY[id] then
        assert.is_table(CASES[id], "no spec case for " .. id)
      end
    end
  end)

  for _, id in ipairs(lint.RULE_IDS) do
    local c = CASES[id]
    if c then
      it(id .. " flags the dangerous form", function()
        local sql, opts = unpack_case(c.flag)
        local f = run(sql, opts)
        local hit = has(f, id)
        assert.is_truthy(hit, id .. " did not fire; got: " .. rules_of(f))
        assert.equal(lint.rules()[id].severity == "error" and "error" or hit.severity, hit.severity)
        assert.equal("case.sql", hit.file)
        assert.equal(c.line or 1, hit.line)
        assert.is_true(hit.col >= 1)
        assert.equal("docs/lint/" .. id .. ".md", hit.url)
        assert.is_string(hit.message)
        assert.is_string(hit.fix)
        assert.truthy(#hit.fix > 0)
      end)

      it(id .. " passes the safe form", function()
        local sql, opts = unpack_case(c.safe)
        if opts.known_new_columns then
          -- the column was added by this migration (a rollback dropping what it added)
          sql = "ALTER TABLE orders ADD COLUMN note text;\n" .. sql
          opts = {}
        end
        local f = run(sql, opts)
        assert.is_nil(has(f, id), id .. " fired on its safe form")
        if c.clean ~= false then
          assert.equal("", rules_of(f), "the safe form of " .. id .. " should be clean")
        end
      end)
    end
  end
end)
