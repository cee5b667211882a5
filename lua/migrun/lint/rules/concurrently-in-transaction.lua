--- concurrently-in-transaction: CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY and
-- DETACH PARTITION CONCURRENTLY cannot run inside a transaction block: the statement fails.
local ast = require "migrun.lint.ast"

local ID = "concurrently-in-transaction"

local function what(t)
  if t.tag == "IndexStmt" and t.concurrent then return "CREATE INDEX CONCURRENTLY" end
  if t.tag == "DropStmt" and t.removeType == "OBJECT_INDEX" and t.concurrent then
    return "DROP INDEX CONCURRENTLY"
  end
  if t.tag == "ReindexStmt" and ast.reindex_concurrent(t) then return "REINDEX CONCURRENTLY" end
  if t.tag == "AlterTableStmt" then
    for _, cmd in ipairs(ast.list(t.cmds)) do
      if cmd.subtype == "AT_DetachPartition" and cmd.def and cmd.def.concurrent then
        return "DETACH PARTITION CONCURRENTLY"
      end
    end
  end
  return nil
end

return {
  id = ID, severity = "error",
  summary = "a CONCURRENTLY statement inside a transaction fails",
  tags = { "IndexStmt", "DropStmt", "ReindexStmt", "AlterTableStmt" },
  check = function(stmt, u)
    if not stmt.in_tx then return end
    local w = what(stmt.tree)
    if not w then return end
    local where, fix
    if stmt.explicit_tx and u.explicit_begin then
      where = string.format("the BEGIN at line %d opened one", u:line(u.explicit_begin))
      fix = string.format("move %s out of BEGIN ... COMMIT (COMMIT before it, BEGIN again after)", w)
    elseif u.playbook then
      where = string.format("phase '%s' runs in one transaction", u.phase or "?")
      fix = string.format("put %s in a phase of its own with transaction = false", w)
    else
      where = u.in_transaction and "it runs inside one transaction"
                                or "this file runs in a transaction (it uses SET LOCAL)"
      fix = string.format("run %s in a migration that is not wrapped in a transaction", w)
    end
    u:report(stmt, ID, { effect = "none",
      message = string.format("%s cannot run inside a transaction block, and %s: the " ..
        "statement fails with ERROR 25001", w, where),
      fix = fix })
  end,
}
