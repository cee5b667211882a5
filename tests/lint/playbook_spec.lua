-- Linting a playbook: every phase's SQL in its transaction mode, inline SQL at its line in the
-- playbook, tables of earlier phases known as new, rollbacks, and the playbook-level rules.
local H = require "helper"
local lint = require "migrun.lint"
local dsl = require "migrun.dsl"

local function find(findings, rule)
  for _, f in ipairs(findings) do if f.rule == rule then return f end end
  return nil
end

local function ids(findings)
  local out = {}
  for _, f in ipairs(findings) do out[#out + 1] = f.rule end
  table.sort(out)
  return table.concat(out, ",")
end

describe("lint.playbook", function()
  local dir
  before_each(function() dir = H.tmpdir() end)
  after_each(function() H.rmtree(dir) end)

  local function load(src, files)
    for name, text in pairs(files or {}) do H.write(dir .. "/" .. name, text) end
    H.write(dir .. "/pb.lua", src)
    return dsl.load(dir .. "/pb.lua", { vars = {} })
  end

  it("reports inline SQL at its line and column in the playbook", function()
    local pb = load([[
playbook "p" {
  phase "one" {
    sql [[
      ALTER TABLE orders ADD COLUMN note text;
      CREATE INDEX orders_note_idx ON orders (note);
    ]] .. "]]" .. [[,
    rollback = sql [[DROP INDEX IF EXISTS orders_note_idx]] .. "]]" .. [[,
  },
}
]])
    local f = lint.playbook(pb)
    local hit = find(f, "require-concurrent-index")
    assert.is_truthy(hit, ids(f))
    assert.equal(dir .. "/pb.lua", hit.file)
    assert.equal(5, hit.line)
    assert.equal(7, hit.col)
    assert.equal("one", hit.phase)
    -- the rollback drops an index the playbook created: nothing to say
    assert.is_nil(find(f, "require-concurrent-drop-index"))
  end)

  it("reports an SQL file's findings in that file", function()
    local pb = load([[
playbook "p" {
  phase "one" { sql "001.sql", rollback = sql "001_down.sql" },
}
]], { ["001.sql"] = "-- add\n\nALTER TABLE orders ADD COLUMN meta json;\n",
      ["001_down.sql"] = "ALTER TABLE orders DROP COLUMN meta;\n" })
    local f = lint.playbook(pb)
    assert.equal("prefer-jsonb", ids(f))
    assert.equal(dir .. "/001.sql", f[1].file)
    assert.equal(3, f[1].line)
  end)

  it("runs a phase's statements in one transaction unless transaction = false", function()
    local pb = load([[
playbook "p" {
  phase "tx" {
    sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS a_idx ON orders (a)]] .. "]]" .. [[,
    rollback = sql [[DROP INDEX CONCURRENTLY IF EXISTS a_idx]] .. "]]" .. [[,
  },
  phase "no tx" {
    transaction = false,
    sql [[CREATE INDEX CONCURRENTLY IF NOT EXISTS b_idx ON orders (b)]] .. "]]" .. [[,
    rollback = sql [[DROP INDEX CONCURRENTLY IF EXISTS b_idx]] .. "]]" .. [[,
  },
}
]])
    local f = lint.playbook(pb)
    assert.equal("concurrently-in-transaction,concurrently-in-transaction", ids(f))
    -- one for the phase, one for its rollback (run in the phase's transaction mode)
    for _, x in ipairs(f) do assert.equal("tx", x.phase) end
  end)

  it("knows tables created by earlier phases are new", function()
    local pb = load([[
playbook "p" {
  phase "create" {
    sql [[CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at timestamptz)]] .. "]]" .. [[,
    rollback = sql [[DROP TABLE audit]] .. "]]" .. [[,
  },
  phase "index" {
    sql [[CREATE INDEX audit_at_idx ON audit (at)]] .. "]]" .. [[,
    rollback = sql [[DROP INDEX audit_at_idx]] .. "]]" .. [[,
  },
}
]])
    assert.equal("", ids(lint.playbook(pb)))
  end)

  it("flags a phase without a rollback and a rollback that undoes nothing", function()
    local pb = load([[
playbook "p" {
  phase "one" { sql [[ALTER TABLE orders ADD COLUMN a text]] .. "]]" .. [[ },
  phase "two" {
    sql [[ALTER TABLE orders ADD COLUMN b text]] .. "]]" .. [[,
    rollback = sql [[SELECT 1]] .. "]]" .. [[,
  },
}
]])
    local f = lint.playbook(pb)
    assert.equal("phase-without-rollback,rollback-undoes-nothing", ids(f))
    local missing = find(f, "phase-without-rollback")
    assert.equal(2, missing.line)
    assert.equal("warning", missing.severity)
    assert.matches("phase 'one'", missing.message)
    assert.equal("error", find(f, "rollback-undoes-nothing").severity)
    assert.equal(5, find(f, "rollback-undoes-nothing").line)
  end)

  it("takes `-- migrun:allow` with a reason on a rollback that deliberately changes nothing", function()
    local pb = load([[
playbook "p" {
  phase "validate" {
    sql [[ALTER TABLE orders VALIDATE CONSTRAINT orders_fk]] .. "]]" .. [[,
    rollback = sql [[
      -- migrun:allow rollback-undoes-nothing VALIDATE changes no data
      SELECT 1
    ]] .. "]]" .. [[,
  },
}
]])
    assert.is_nil(find(lint.playbook(pb), "rollback-undoes-nothing"))
  end)

  it("counts SET NOT NULL after a validated CHECK as no scan, and DROP INDEX under migrun's " ..
     "lock_timeout as a warning", function()
    local pb = load([[
playbook "p" {
  phase "require" {
    sql [[
      ALTER TABLE customers VALIDATE CONSTRAINT customers_email_present;
      ALTER TABLE customers ALTER COLUMN email SET NOT NULL;
    ]] .. "]]" .. [[,
    rollback = sql [[DROP INDEX customers_email_idx]] .. "]]" .. [[,
  },
}
]])
    local f = lint.playbook(pb)
    assert.is_nil(find(f, "multiple-alter-table"))
    assert.equal("warning", find(f, "require-concurrent-drop-index").severity)
  end)

  it("takes rule levels from the playbook's lint table", function()
    local pb = load([[
playbook "p" {
  lint = { ["ban-drop-table"] = "warn", ["prefer-jsonb"] = "off", ["no-such-rule"] = "off" },
  phase "one" {
    sql [[DROP TABLE old_orders; ALTER TABLE orders ADD COLUMN m json]] .. "]]" .. [[,
    rollback = sql [[ALTER TABLE orders DROP COLUMN m]] .. "]]" .. [[,
  },
}
]])
    local f = lint.playbook(pb)
    assert.equal("allow-unknown-rule,ban-drop-table", ids(f))
    assert.equal("warning", find(f, "ban-drop-table").severity)
    assert.equal(0, lint.exit_code(f))
  end)

  it("reads the playbook's lock_timeout as the effective one", function()
    local pb = load([[
playbook "p" {
  lock_timeout = "0s",
  phase "one" {
    sql [[ALTER TABLE orders ADD COLUMN a text]] .. "]]" .. [[,
    rollback = sql [[ALTER TABLE orders DROP COLUMN a]] .. "]]" .. [[,
  },
}
]])
    assert.equal("require-lock-timeout", ids(lint.playbook(pb)))
  end)

  it("lints playbooks through lint.files, each file's finding once", function()
    load([[
playbook "p" {
  phase "one" { sql "m.sql", rollback = sql [[SELECT 2]] .. "]]" .. [[ },
  phase "two" { sql "m.sql", rollback = sql [[SELECT 2]] .. "]]" .. [[ },
}
]], { ["m.sql"] = "ALTER TABLE orders ADD COLUMN m json;\n" })
    local f, perr = lint.files({ dir .. "/pb.lua" })
    assert.equal(0, #perr)
    assert.equal("prefer-jsonb,rollback-undoes-nothing,rollback-undoes-nothing", ids(f))
  end)

  it("gives a playbook that does not load as an error, not a crash", function()
    H.write(dir .. "/bad.lua", "playbook \"x\" { phase \"a\" { sql [[SELECT 1]], nope = 1 } }")
    local f, perr = lint.files({ dir .. "/bad.lua" })
    assert.equal(0, #f)
    assert.equal(1, #perr)
    assert.equal("playbook", perr[1].kind)
    assert.equal(2, lint.exit_code(f, perr))
  end)
end)
