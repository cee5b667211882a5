--- renaming-column: RENAME COLUMN breaks every running query that names the column.
local ast = require "migrun.lint.ast"

local ID = "renaming-column"

return {
  id = ID, severity = "error",
  summary = "renaming a column breaks running code",
  tags = { "RenameStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if t.renameType ~= "OBJECT_COLUMN" or not t.relation then return end
    local rel = ast.relname(t.relation)
    if u:is_new(rel) or u.shared.new_columns[rel .. "." .. t.subname] then return end
    u:report(stmt, ID, { table = rel, effect = "none",
      message = string.format("RENAME COLUMN %s.%s TO %s: running code that reads or writes %s " ..
        "fails until it is deployed with the new name", rel, t.subname, t.newname, t.subname),
      fix = string.format("add %s, write both columns, backfill, move readers over, then drop %s " ..
        "in a later release", t.newname, t.subname) })
  end,
}
