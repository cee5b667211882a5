--- renaming-schema: ALTER SCHEMA ... RENAME breaks every query that names the schema.
local ID = "renaming-schema"

return {
  id = ID, severity = "error",
  summary = "renaming a schema breaks running code",
  tags = { "RenameStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if t.renameType ~= "OBJECT_SCHEMA" then return end
    if u.shared.new_schemas[t.subname] then return end
    u:report(stmt, ID, { effect = "none",
      message = string.format("RENAME SCHEMA %s TO %s: every query and search_path that names %s " ..
        "breaks", t.subname or "?", t.newname or "?", t.subname or "?"),
      fix = "create the new schema, move objects over while code reads both (search_path), then drop the old one" })
  end,
}
