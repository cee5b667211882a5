--- adding-serial-column: ADD COLUMN of type serial / bigserial or GENERATED ... AS IDENTITY
-- fills every existing row from a sequence: a full rewrite under ACCESS EXCLUSIVE.
local ast = require "migrun.lint.ast"

local ID = "adding-serial-column"

local SERIAL = { serial = "integer", serial4 = "integer", bigserial = "bigint", serial8 = "bigint",
                 smallserial = "smallint", serial2 = "smallint" }

return {
  id = ID, severity = "error",
  summary = "ADD COLUMN serial or identity rewrites the table",
  cmds = { "AT_AddColumn" },
  check_cmd = function(stmt, u, cmd)
    local def = cmd.def
    if not def then return end
    local ty = ast.type(def.typeName) or { name = "?", text = "?" }
    local identity = ast.find_constraint(def, "CONSTR_IDENTITY")
    if not (SERIAL[ty.name] or identity) then return end
    local rel = stmt.rel
    local what = identity and "GENERATED AS IDENTITY" or ty.name
    u:report(stmt, ID, { table = rel, effect = "rewrite", lock = "AccessExclusive",
      message = string.format("ADD COLUMN %s %s numbers every existing row of %s: a full " ..
        "rewrite under ACCESS EXCLUSIVE", def.colname, what, rel),
      fix = string.format("ALTER TABLE %s ADD COLUMN %s %s;  -- nullable, no default\n" ..
        "-- backfill it in batches from a sequence, then SET DEFAULT nextval(...) and add " ..
        "the constraints", ast.rel_sql(stmt.tree.relation), ast.ident(def.colname),
        SERIAL[ty.name] or ty.text) })
  end,
}
