--- require-lock-timeout: DDL that waits for a strong lock with no lock_timeout (migrun sets
-- one on every statement; this fires when the effective setting is off or too long): while
-- it waits in the lock queue, every other query on the table waits behind it.
local ast = require "migrun.lint.ast"

local ID = "require-lock-timeout"
local LONG_MS = 10000

local STRONG = { AccessExclusive = true, Exclusive = true, ShareRowExclusive = true, Share = true }

return {
  id = ID, severity = "error",
  summary = "DDL with no effective lock_timeout",
  tags = { "AlterTableStmt", "IndexStmt", "DropStmt", "TruncateStmt", "RenameStmt", "VacuumStmt",
           "ClusterStmt", "LockStmt", "ReindexStmt", "CreateTrigStmt", "RefreshMatViewStmt" },
  check = function(stmt, u)
    if u.shared.reported_lock_timeout then return end   -- once per file or playbook
    local ms = u:lock_timeout()
    if ms == nil or (ms > 0 and ms <= LONG_MS) then return end
    local locks = ast.locks(stmt.tree)
    local rel
    for r, lock in pairs(locks) do
      if STRONG[lock] and not u:is_new(r) then rel = r end
    end
    if not rel then return end
    u.shared.reported_lock_timeout = true
    local off = ms == 0
    u:report(stmt, ID, { table = rel, effect = "none", severity = off and "error" or "warning",
      message = off and string.format("no lock_timeout (it is 0): if %s is busy this waits in the " ..
          "lock queue indefinitely, and every query on %s queues behind it", rel, rel)
        or string.format("lock_timeout is %d ms: while this waits for its lock on %s, every " ..
          "query on %s queues behind it for that long", ms, rel, rel),
      fix = u.playbook and "lock_timeout = \"2s\" in the playbook or phase (migrun retries the phase)"
                       or "SET lock_timeout = '2s';  -- and retry on 55P03" })
  end,
}
