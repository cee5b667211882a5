local errors = require "migrun.errors"

describe("errors", function()
  it("prints an SQL error like psql, with its file position", function()
    local e = errors.new("sql", 'relation "quests" does not exist',
      { sqlstate = "42P01", severity = "ERROR", file = "sql/011.sql", line = 12, col = 7,
        hint = "check the name" })
    assert.equal('sql/011.sql:12:7: ERROR 42P01: relation "quests" does not exist\n' ..
                 "HINT: check the name", tostring(e))
  end)

  it("maps kinds to the exit codes of DESIGN.md", function()
    assert.equal(2, errors.exit_code(errors.new("usage", "x")))
    assert.equal(2, errors.exit_code(errors.new("playbook", "x")))
    assert.equal(3, errors.exit_code(errors.new("connection", "x")))
    assert.equal(3, errors.exit_code(errors.new("environment", "x")))
    assert.equal(1, errors.exit_code(errors.new("sql", "x")))
    assert.equal(1, errors.exit_code("a plain Lua error"))
  end)

  it("recognises its own errors", function()
    assert.is_true(errors.is_sql(errors.new("sql", "x", { sqlstate = "55P03" }), "55P03"))
    assert.is_false(errors.is("string"))
  end)
end)
