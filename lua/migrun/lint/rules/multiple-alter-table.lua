--- multiple-alter-table: two ALTER TABLEs of one table in a transaction that each rewrite or
-- scan it: one ALTER TABLE with both actions does the work in one pass.
local ast = require "migrun.lint.ast"

local ID = "multiple-alter-table"

return {
  id = ID, severity = "warning",
  summary = "several ALTER TABLEs of one table where one would do",
  tags = { "AlterTableStmt" },
  check = function(stmt, u)
    if not stmt.in_tx then return end
    local t = stmt.tree
    local rel = ast.relname(t.relation)
    if not rel or u:is_new(rel) then return end
    local prev = u.tx.altered[rel]
    if not prev or u.tx.work_after[rel] then return end
    if not (ast.alter_reads_rows(t, u) and ast.alter_reads_rows(prev.tree, u)) then return end
    u:report(stmt, ID, { table = rel, effect = "none",
      message = string.format("a second ALTER TABLE %s that reads every row, in the transaction " ..
        "of the one at line %d: %s is scanned or rewritten twice while the lock is held", rel,
        u:line(prev), rel),
      fix = string.format("ALTER TABLE %s <first action>, <second action>;  -- one statement, one pass",
                          ast.rel_sql(t.relation)) })
  end,
}
