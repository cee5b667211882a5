--- more-work-after-access-exclusive: in a transaction, statements that run after an ACCESS
-- EXCLUSIVE lock was taken on an existing table: every query on that table waits for them
-- too, until COMMIT.
local ast = require "migrun.lint.ast"

local ID = "more-work-after-access-exclusive"

-- statements that take time while the ACCESS EXCLUSIVE is held; dropping or creating
-- objects, comments, grants and ALTERs that change only the catalog end at once
local WORK = { UpdateStmt = true, DeleteStmt = true, InsertStmt = true, SelectStmt = true,
               CopyStmt = true, IndexStmt = true, AlterTableStmt = true, ClusterStmt = true,
               VacuumStmt = true, RefreshMatViewStmt = true, DoStmt = true, ReindexStmt = true,
               CreateTableAsStmt = true, LockStmt = true, TruncateStmt = true, MergeStmt = true }

return {
  id = ID, severity = "warning",
  summary = "more work in the transaction after taking ACCESS EXCLUSIVE",
  tags = { "UpdateStmt", "DeleteStmt", "InsertStmt", "SelectStmt", "CopyStmt", "IndexStmt",
           "AlterTableStmt", "ClusterStmt", "VacuumStmt", "RefreshMatViewStmt", "DoStmt",
           "ReindexStmt", "CreateTableAsStmt", "LockStmt", "TruncateStmt", "MergeStmt" },
  check = function(stmt, u)
    local tx = u.tx
    if not tx or not stmt.in_tx or tx.reported_more_work or not WORK[stmt.tag] then return end
    if stmt.tag == "IndexStmt" and stmt.tree.concurrent then return end
    if stmt.tag == "AlterTableStmt" and not ast.alter_reads_rows(stmt.tree, u) then return end
    local rel, first = next(tx.ae)
    if not rel then return end
    -- the same table altered again is multiple-alter-table's business
    if stmt.tag == "AlterTableStmt" and stmt.tree.relation and stmt.tree.relation.relname == rel
       and next(tx.ae, rel) == nil then
      return
    end
    for r, s in pairs(tx.ae) do
      if s.index < first.index then rel, first = r, s end
    end
    tx.reported_more_work = true
    u:report(stmt, ID, { table = rel, effect = "none",
      message = string.format("this runs while the ACCESS EXCLUSIVE lock on %s taken at line %d " ..
        "is held: every query on %s waits for it too, until COMMIT", rel, u:line(first), rel),
      fix = u.playbook and "give the statement that takes the lock a phase of its own, or run " ..
                           "the rest first"
                       or "COMMIT right after the statement that takes the lock, or run the rest before it" })
  end,
}
