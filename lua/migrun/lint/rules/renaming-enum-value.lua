--- renaming-enum-value: ALTER TYPE ... RENAME VALUE breaks code (and stored literals in
-- application code) that still writes the old value.
local ast = require "migrun.lint.ast"

local ID = "renaming-enum-value"

return {
  id = ID, severity = "error",
  summary = "renaming an enum value breaks running code",
  tags = { "AlterEnumStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if not t.oldVal then return end
    local typ = ast.names(t.typeName)
    if u.shared.new_types[ast.last(t.typeName)] then return end
    u:report(stmt, ID, { effect = "none",
      message = string.format("RENAME VALUE '%s' TO '%s' on %s: code that writes '%s' fails with " ..
        "\"invalid input value for enum\"", t.oldVal, t.newVal or "?", typ, t.oldVal),
      fix = string.format("ALTER TYPE %s ADD VALUE '%s'; move writers and rows over; stop using " ..
        "'%s' (an enum value cannot be dropped)", typ, t.newVal or "?", t.oldVal) })
  end,
}
