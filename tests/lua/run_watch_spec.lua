-- migrun.run.watch: which progress view a long statement is looked at in (only its own kind's:
-- planning all five costs the server 15-50 ms a look)
local watch = require "migrun.run.watch"

describe("run.watch.progress_kind", function()
  it("names the view of the statement's kind, past the BEGIN and SET LOCALs sent ahead of it", function()
    assert.equal("create_index", watch.progress_kind("CREATE INDEX i ON t (a)"))
    assert.equal("create_index", watch.progress_kind(
      "BEGIN; SET LOCAL lock_timeout = 1; SET LOCAL statement_timeout = 0; create unique index x ON t (a)"))
    assert.equal("create_index", watch.progress_kind("REINDEX TABLE CONCURRENTLY t"))
    assert.equal("cluster", watch.progress_kind("-- the big one\nVACUUM (FULL, VERBOSE) t"))
    assert.equal("cluster", watch.progress_kind("CLUSTER t USING t_pkey"))
    assert.equal("vacuum", watch.progress_kind("VACUUM ANALYZE t"))
    assert.equal("analyze", watch.progress_kind("/* stats */ ANALYZE t"))
    assert.equal("copy", watch.progress_kind("COPY t FROM '/tmp/t.csv'"))
  end)

  it("names none for statements no view reports on", function()
    for _, sql in ipairs({ "INSERT INTO t SELECT * FROM s", "UPDATE t SET a = 1", "ALTER TABLE t ADD c int",
                           "CREATE TABLE index_notes (id int)", "BEGIN; SET LOCAL x = 1; DELETE FROM t" }) do
      assert.is_nil(watch.progress_kind(sql), sql)
    end
  end)
end)
