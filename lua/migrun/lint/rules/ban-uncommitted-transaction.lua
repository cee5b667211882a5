--- ban-uncommitted-transaction: a BEGIN with no COMMIT or ROLLBACK after it: the rest of the
-- session runs inside it, holding every lock it took.
local ID = "ban-uncommitted-transaction"

return {
  id = ID, severity = "error",
  summary = "BEGIN without COMMIT",
  tags = {},
  check = function() end,
  finish = function(u)
    local b = u.explicit_begin
    if not (b and u.tx and u.tx.explicit) then return end
    u:report(b, ID, { effect = "none",
      message = "BEGIN without a COMMIT or ROLLBACK: whatever runs next on the connection runs " ..
        "inside this transaction, holding every lock it took",
      fix = "COMMIT;  -- at the end of the file" })
  end,
}
