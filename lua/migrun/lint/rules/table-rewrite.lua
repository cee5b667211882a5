--- table-rewrite: statements that copy the whole table under ACCESS EXCLUSIVE: VACUUM FULL,
-- CLUSTER, ALTER TABLE ... SET LOGGED / UNLOGGED / SET TABLESPACE / SET ACCESS METHOD.
local ast = require "migrun.lint.ast"

local ID = "table-rewrite"

local ALTERS = { AT_SetLogged = "SET LOGGED", AT_SetUnLogged = "SET UNLOGGED",
                 AT_SetTableSpace = "SET TABLESPACE", AT_SetAccessMethod = "SET ACCESS METHOD" }
local FIX = "pg_repack (or pg_squeeze) rebuilds a table online; otherwise schedule it in a " ..
            "maintenance window"

return {
  id = ID, severity = "error",
  summary = "VACUUM FULL, CLUSTER, SET LOGGED/UNLOGGED/TABLESPACE rewrite the table under lock",
  tags = { "VacuumStmt", "ClusterStmt" },
  cmds = { "AT_SetLogged", "AT_SetUnLogged", "AT_SetTableSpace", "AT_SetAccessMethod" },
  check_cmd = function(stmt, u, cmd)
    if stmt.tree.objtype ~= "OBJECT_TABLE" then return end
    local rel = stmt.rel
    u:report(stmt, ID, { table = rel, effect = "rewrite", lock = "AccessExclusive",
      message = string.format("ALTER TABLE %s %s rewrites the whole table under ACCESS " ..
        "EXCLUSIVE: reads and writes wait", rel, ALTERS[cmd.subtype]),
      fix = FIX })
  end,
  check = function(stmt, u)
    local t = stmt.tree
    local what, rels
    rels = {}
    if t.tag == "VacuumStmt" then
      if not ast.vacuum_full(t) then return end
      what = "VACUUM FULL"
      for _, r in ipairs(ast.list(t.rels)) do rels[#rels + 1] = ast.relname(r.relation) end
    else
      what = "CLUSTER"
      if t.relation then rels[1] = ast.relname(t.relation) end
    end
    if #rels == 0 then
      u:report(stmt, ID, { effect = "none",
        message = string.format("%s without a table rewrites every table it can, each under " ..
          "ACCESS EXCLUSIVE", what), fix = FIX })
      return
    end
    for _, rel in ipairs(rels) do
      if not u:is_new(rel) then
        u:report(stmt, ID, { table = rel, effect = "rewrite", lock = "AccessExclusive",
          message = string.format("%s %s rewrites the whole table under ACCESS EXCLUSIVE: reads " ..
            "and writes wait", what, rel),
          fix = FIX })
      end
    end
  end,
}
