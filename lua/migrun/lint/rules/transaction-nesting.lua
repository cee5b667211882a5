--- transaction-nesting: BEGIN inside a transaction (PostgreSQL only warns, and the first
-- COMMIT ends both), COMMIT with none open, or COMMIT / ROLLBACK inside a migrun phase (it
-- ends the transaction migrun runs the phase in: the rest of the phase runs outside it).
local ast = require "migrun.lint.ast"

local ID = "transaction-nesting"

return {
  id = ID, severity = "error",
  summary = "nested BEGIN, or COMMIT/ROLLBACK of a transaction the file does not own",
  tags = { "TransactionStmt" },
  check = function(stmt, u)
    local kind = ast.tx_kind(stmt.tree)
    if kind == "begin" then
      if not stmt.in_tx then return end
      local msg
      if stmt.explicit_tx and u.explicit_begin then
        msg = string.format("BEGIN inside the transaction opened at line %d: PostgreSQL ignores " ..
          "it (a WARNING), and the first COMMIT ends both", u:line(u.explicit_begin))
      elseif u.playbook then
        msg = string.format("BEGIN inside phase '%s', which already runs in a transaction: " ..
          "PostgreSQL ignores it, and a COMMIT after it would end migrun's transaction", u.phase or "?")
      else
        msg = string.format("BEGIN in a file that runs inside a transaction%s: PostgreSQL " ..
              "ignores it, and a COMMIT after it would end the outer one",
              u.in_transaction and "" or " (it uses SET LOCAL)")
      end
      u:report(stmt, ID, { effect = "none", message = msg,
        fix = u.playbook and "remove BEGIN/COMMIT: migrun runs each phase in one transaction " ..
                             "(transaction = false for statements that cannot)"
                         or "remove the inner BEGIN" })
    elseif kind == "commit" or kind == "rollback" then
      local word = kind == "commit" and "COMMIT" or "ROLLBACK"
      if not stmt.in_tx then
        u:report(stmt, ID, { effect = "none",
          message = string.format("%s with no transaction open: PostgreSQL warns and does nothing", word),
          fix = "remove it, or BEGIN earlier" })
      elseif not stmt.explicit_tx then
        u:report(stmt, ID, { effect = "none",
          message = u.playbook and string.format("%s inside phase '%s' ends the transaction migrun " ..
              "runs the phase in: the statements after it, the verify and the ledger row are no " ..
              "longer covered by it", word, u.phase or "?")
            or string.format("%s ends the transaction this file runs in%s: the statements " ..
              "after it run outside it", word, u.in_transaction and "" or " (it uses SET LOCAL)"),
          fix = u.playbook and "remove it; split the phase in two if it needs two transactions"
                           or "remove it" })
      end
    end
  end,
}
