--- concurrent-index-if-not-exists: in a playbook, CREATE INDEX CONCURRENTLY without IF NOT
-- EXISTS: when a run is killed after the build but before the ledger row, the rerun fails
-- with "relation already exists".
local ast = require "migrun.lint.ast"

local ID = "concurrent-index-if-not-exists"

return {
  id = ID, severity = "warning",
  summary = "CREATE INDEX CONCURRENTLY without IF NOT EXISTS in a playbook",
  tags = { "IndexStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if not (u.playbook and t.concurrent) or t.if_not_exists or not t.idxname then return end
    u:report(stmt, ID, { table = ast.relname(t.relation), effect = "none",
      message = string.format("CREATE INDEX CONCURRENTLY %s without IF NOT EXISTS: a run killed " ..
        "after the build fails on the rerun (relation \"%s\" already exists)", t.idxname, t.idxname),
      fix = ast.insert_after(ast.stmt_sql(u, stmt), "concurrently", "IF NOT EXISTS") })
  end,
}
