--- require-concurrent-index: CREATE INDEX without CONCURRENTLY on an existing table takes a
-- SHARE lock, so every INSERT, UPDATE and DELETE on the table waits for the whole build.
local ast = require "migrun.lint.ast"

local ID = "require-concurrent-index"

return {
  id = ID, severity = "error",
  summary = "CREATE INDEX without CONCURRENTLY blocks writes for the whole build",
  tags = { "IndexStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if t.concurrent then return end
    local rel = ast.relname(t.relation)
    if u:is_new(rel) then return end
    local info = u:table(rel)
    local what = string.format("CREATE %sINDEX%s", t.unique and "UNIQUE " or "",
                               t.idxname and (" " .. t.idxname) or "")
    local fix
    if info and info.partitioned then
      fix = string.format("CREATE INDEX %s ON ONLY %s (...);  -- then, per partition:\n" ..
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS <partition_index> ON <partition> (...);\n" ..
        "ALTER INDEX %s ATTACH PARTITION <partition_index>;", t.idxname or "<name>",
        ast.rel_sql(t.relation), t.idxname or "<name>")
    else
      local words = t.if_not_exists and "CONCURRENTLY" or "CONCURRENTLY IF NOT EXISTS"
      if not t.idxname then words = "CONCURRENTLY" end
      fix = ast.insert_after(ast.stmt_sql(u, stmt), "index", words)
      if fix then
        fix = fix .. (u.playbook and "  -- in a phase with transaction = false"
                                  or "  -- outside BEGIN ... COMMIT")
      end
    end
    u:report(stmt, ID, { table = rel, effect = "build", lock = "Share",
      message = string.format("%s on %s takes a SHARE lock: every write to %s waits until the " ..
        "index is built", what, rel, rel),
      fix = fix })
  end,
}
