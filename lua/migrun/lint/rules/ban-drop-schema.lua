--- ban-drop-schema: DROP SCHEMA of a schema the migration did not create: every table in it
-- (with CASCADE) and its data go.
local ast = require "migrun.lint.ast"

local ID = "ban-drop-schema"

return {
  id = ID, severity = "error",
  summary = "DROP SCHEMA loses every object in it",
  tags = { "DropStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if t.removeType ~= "OBJECT_SCHEMA" then return end
    for _, o in ipairs(ast.list(t.objects)) do
      local name = ast.last(o.items or o)
      if not u.shared.new_schemas[name] then
        u:report(stmt, ID, { effect = "none",
          message = string.format("DROP SCHEMA %s%s deletes %s", name,
            t.behavior == "DROP_CASCADE" and " CASCADE" or "",
            t.behavior == "DROP_CASCADE" and "every table in it and their data" or "it (and fails if it is not empty)"),
          fix = string.format("move what you keep out of %s first and keep a backup; then " ..
            "-- migrun:allow %s <why>", name, ID) })
      end
    end
  end,
}
