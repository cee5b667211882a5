--- exclusion-constraint: ADD CONSTRAINT ... EXCLUDE on an existing table builds its index
-- and checks every row under ACCESS EXCLUSIVE; there is no CONCURRENTLY form.
local ID = "exclusion-constraint"

return {
  id = ID, severity = "error",
  summary = "an exclusion constraint on an existing table locks it for the whole build",
  cmds = { "AT_AddConstraint" },
  check_cmd = function(stmt, u, cmd)
    if not (cmd.def and cmd.def.contype == "CONSTR_EXCLUSION") then return end
    local rel = stmt.rel
    u:report(stmt, ID, { table = rel, effect = "build", lock = "AccessExclusive",
      message = (string.format("ADD CONSTRAINT %s EXCLUDE on %s builds its index and checks " ..
        "every row under ACCESS EXCLUSIVE: reads and writes wait, and there is no CONCURRENTLY form",
        cmd.def.conname or "", rel):gsub("  ", " ")),
      fix = "add the constraint when the table is created; on a live table, schedule it in a " ..
            "maintenance window (or enforce the rule in the application meanwhile)" })
  end,
}
