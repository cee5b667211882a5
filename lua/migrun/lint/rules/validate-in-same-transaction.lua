--- validate-in-same-transaction: VALIDATE CONSTRAINT in the transaction that added the
-- constraint NOT VALID: the ADD's lock is still held while VALIDATE scans the table, which
-- undoes the point of NOT VALID.
local ast = require "migrun.lint.ast"

local ID = "validate-in-same-transaction"

return {
  id = ID, severity = "error",
  summary = "VALIDATE CONSTRAINT in the same transaction as its NOT VALID",
  cmds = { "AT_ValidateConstraint" },
  check_cmd = function(stmt, u, cmd, i)
    if not stmt.in_tx then return end
    local t = stmt.tree
    local rel = stmt.rel
    local added = u.tx.not_valid[cmd.name]
    local here = false
    for k = 1, i - 1 do
      local c = t.cmds[k]
      if c.subtype == "AT_AddConstraint" and c.def and c.def.skip_validation and c.def.conname == cmd.name then
        here = true
      end
    end
    if not (added or here) then return end
    local lock = (added and added.stmt and ast.locks(added.stmt.tree)[rel]) or "AccessExclusive"
    local where = added and not here and string.format("at line %d", u:line(added.stmt)) or "in this statement"
    u:report(stmt, ID, { table = rel, effect = "validate", lock = lock,
      message = string.format("VALIDATE CONSTRAINT %s runs in the same transaction that added " ..
        "it NOT VALID (%s): the %s lock taken there is held while %s is scanned",
        cmd.name, where, ast.LOCK_NAME[lock], rel),
      fix = u.playbook and string.format("move ALTER TABLE %s VALIDATE CONSTRAINT %s to the next phase",
                                         ast.rel_sql(t.relation), ast.ident(cmd.name))
                       or string.format("COMMIT;\nALTER TABLE %s VALIDATE CONSTRAINT %s;",
                                         ast.rel_sql(t.relation), ast.ident(cmd.name)) })
  end,
}
