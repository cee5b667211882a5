--- require-concurrent-drop-index: DROP INDEX without CONCURRENTLY takes ACCESS EXCLUSIVE on
-- the index's table; it queues behind running queries and everything queues behind it.
local ast = require "migrun.lint.ast"

local ID = "require-concurrent-drop-index"

return {
  id = ID, severity = "error",
  summary = "DROP INDEX without CONCURRENTLY locks the table against reads and writes",
  tags = { "DropStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if t.removeType ~= "OBJECT_INDEX" or t.concurrent then return end
    local names, fixes, table_name = {}, {}, nil
    for _, o in ipairs(ast.list(t.objects)) do
      local items = o.items or o
      local idx = ast.last(items)
      if not u.shared.new_indexes[idx] then
        names[#names + 1] = ast.names(items)
        fixes[#fixes + 1] = string.format("DROP INDEX CONCURRENTLY IF EXISTS %s;", ast.names(items))
        table_name = table_name or u:index_table(idx)
      end
    end
    if #names == 0 then return end
    if table_name and u:is_new(table_name) then return end
    -- in a playbook migrun's lock_timeout bounds the wait (and the queue behind it); the lock is
    -- then held only for a catalog change: worth a warning, not a refusal
    local lt = u:lock_timeout()
    local bounded = u.playbook and lt and lt > 0 and lt <= 5000
    u:report(stmt, ID, { table = table_name, effect = "none", severity = bounded and "warning" or nil,
      message = string.format("DROP INDEX %s takes ACCESS EXCLUSIVE on %s: it waits for every " ..
        "running query on the table, and every new query waits behind it", table.concat(names, ", "),
        table_name or "its table"),
      fix = table.concat(fixes, "\n") .. (u.playbook and "  -- in a phase with transaction = false"
                                                      or "  -- one index per statement, outside BEGIN ... COMMIT") })
  end,
}
