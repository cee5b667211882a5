--- ban-drop-table: DROP TABLE of a table this migration did not create deletes its data;
-- running code that still reads it fails, and only a restore brings it back.
local ast = require "migrun.lint.ast"

local ID = "ban-drop-table"

return {
  id = ID, severity = "error",
  summary = "DROP TABLE loses the table's data and breaks code that reads it",
  tags = { "DropStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if t.removeType ~= "OBJECT_TABLE" then return end
    local names, shown = {}, {}
    for _, o in ipairs(ast.list(t.objects)) do
      local items = o.items or o
      local name = ast.last(items)
      if not u:is_new(name) then
        names[#names + 1] = name
        shown[#shown + 1] = ast.names(items)
      end
    end
    if #names == 0 then return end
    local list = table.concat(names, ", ")
    local copy = {}
    for i, n in ipairs(names) do copy[i] = string.format("%q", n) end
    u:report(stmt, ID, { table = names[1], effect = "none",
      message = string.format("DROP TABLE %s deletes %s%s: code that still reads %s fails, and " ..
        "only a restore brings %s back", table.concat(shown, ", "),
        #names == 1 and (names[1] .. " and its data") or "these tables and their data",
        t.behavior == "DROP_CASCADE" and " (CASCADE also drops the views and foreign keys that use them)" or "",
        #names == 1 and "it" or "them", #names == 1 and "it" or "them"),
      fix = string.format("deploy code that no longer uses %s first, check nothing reads %s " ..
        "(pg_stat_user_tables: seq_scan, idx_scan), keep a copy (backup.tables { %s }), then " ..
        "allow it: -- migrun:allow %s <why>", list, #names == 1 and "it" or "them",
        table.concat(copy, ", "), ID) })
  end,
}
