--- ban-drop-database: DROP DATABASE in a migration.
local ID = "ban-drop-database"

return {
  id = ID, severity = "error",
  summary = "DROP DATABASE in a migration",
  tags = { "DropdbStmt" },
  check = function(stmt, u)
    u:report(stmt, ID, { effect = "none",
      message = string.format("DROP DATABASE %s deletes the whole database", stmt.tree.dbname or ""),
      fix = "drop databases by hand, after a verified backup, never from a migration" })
  end,
}
