--- ban-drop-not-null: DROP NOT NULL lets NULLs into a column that running code reads as
-- never NULL.
local ID = "ban-drop-not-null"

return {
  id = ID, severity = "warning",
  summary = "DROP NOT NULL breaks code that assumes the column is set",
  cmds = { "AT_DropNotNull" },
  check_cmd = function(stmt, u, cmd)
    local rel = stmt.rel
    if u.shared.new_columns[rel .. "." .. cmd.name] then return end
    u:report(stmt, ID, { table = rel, effect = "none",
      message = string.format("DROP NOT NULL on %s.%s: code that reads %s as always set breaks " ..
        "on the first NULL", rel, cmd.name, cmd.name),
      fix = string.format("make readers of %s.%s handle NULL first, then drop the constraint",
                          rel, cmd.name) })
  end,
}
