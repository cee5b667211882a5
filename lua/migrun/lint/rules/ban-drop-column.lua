--- ban-drop-column: DROP COLUMN loses the column's data and breaks running code that selects
-- or inserts it (an ORM that lists columns fails on the next query).
local ID = "ban-drop-column"

return {
  id = ID, severity = "error",
  summary = "DROP COLUMN loses data and breaks code that uses the column",
  cmds = { "AT_DropColumn" },
  check_cmd = function(stmt, u, cmd)
    local rel = stmt.rel
    if u.shared.new_columns[rel .. "." .. cmd.name] then return end
    u:report(stmt, ID, { table = rel, effect = "none",
      message = string.format("DROP COLUMN %s.%s deletes its data: code that still reads or " ..
        "writes %s fails", rel, cmd.name, cmd.name),
      fix = string.format("stop using %s.%s in the application (e.g. Rails ignored_columns) and " ..
        "deploy that first; drop it in a later release: -- migrun:allow %s <why>", rel, cmd.name, ID) })
  end,
}
