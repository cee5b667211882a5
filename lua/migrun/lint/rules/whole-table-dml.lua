--- whole-table-dml: UPDATE or DELETE without WHERE on an existing table, in one transaction:
-- every row is locked (and, for UPDATE, rewritten) until COMMIT; a DELETE loses all of them.
local ast = require "migrun.lint.ast"

local ID = "whole-table-dml"

return {
  id = ID, severity = "warning",
  summary = "UPDATE or DELETE of a whole table in one transaction",
  tags = { "UpdateStmt", "DeleteStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if t.whereClause or t.fromClause or t.usingClause or t.withClause then return end
    local rel = ast.relname(t.relation)
    if not rel or u:is_new(rel) then return end
    if t.tag == "DeleteStmt" then
      u:report(stmt, ID, { table = rel, effect = "none", severity = "error",
        message = string.format("DELETE FROM %s without WHERE deletes every row of %s in one " ..
          "transaction", rel, rel),
        fix = string.format("TRUNCATE %s if emptying it is the point (keep a copy: backup.tables " ..
          "{ \"%s\" }); else add the WHERE", ast.rel_sql(t.relation), rel) })
    else
      u:report(stmt, ID, { table = rel, effect = "update", lock = "RowExclusive",
        message = string.format("UPDATE %s without WHERE rewrites every row in one transaction: " ..
          "each row stays locked against other writers until COMMIT, and the table bloats", rel),
        fix = string.format("backfill in batches by key, each its own transaction:\nbackfill \"%s\" " ..
          "{ set = \"...\", where = \"<not yet done>\" }  -- or UPDATE ... WHERE id BETWEEN $1 AND $2 " ..
          "in a loop", rel) })
    end
  end,
}
