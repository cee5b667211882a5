--- require-concurrent-detach: DETACH PARTITION without CONCURRENTLY takes ACCESS EXCLUSIVE on
-- the partitioned table; PostgreSQL 14 can do it with SHARE UPDATE EXCLUSIVE.
local ast = require "migrun.lint.ast"

local ID = "require-concurrent-detach"

return {
  id = ID, severity = "error",
  summary = "DETACH PARTITION without CONCURRENTLY blocks the partitioned table",
  cmds = { "AT_DetachPartition" },
  check_cmd = function(stmt, u, cmd)
    if not cmd.def or cmd.def.concurrent then return end
    local rel = stmt.rel
    local part = ast.rel_sql(cmd.def.name)
    u:report(stmt, ID, { table = rel, effect = "none",
      message = string.format("DETACH PARTITION %s takes ACCESS EXCLUSIVE on %s: every query " ..
        "on %s waits%s", part, rel, rel,
        u.pg_version < 140000 and " (CONCURRENTLY needs PostgreSQL 14)" or ""),
      fix = string.format("ALTER TABLE %s DETACH PARTITION %s CONCURRENTLY;  -- %s",
        ast.rel_sql(stmt.tree.relation), part, u.playbook and "in a phase with transaction = false"
                                                        or "outside a transaction") })
  end,
}
