--- renaming-table: RENAME of a table (or view) breaks every running query that names it.
local ast = require "migrun.lint.ast"

local ID = "renaming-table"

local KINDS = { OBJECT_TABLE = "TABLE", OBJECT_VIEW = "VIEW", OBJECT_MATVIEW = "MATERIALIZED VIEW",
                OBJECT_FOREIGN_TABLE = "FOREIGN TABLE" }

return {
  id = ID, severity = "error",
  summary = "renaming a table breaks running code",
  tags = { "RenameStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    local kind = KINDS[t.renameType]
    if not kind or not t.relation then return end
    local old = ast.relname(t.relation)
    if u:is_new(old) then return end
    u:report(stmt, ID, { table = old, effect = "none",
      message = string.format("RENAME %s %s TO %s: running code that names %s fails until it is " ..
        "deployed with the new name", kind, old, t.newname, old),
      fix = string.format("rename in steps: ALTER TABLE %s RENAME TO %s; CREATE VIEW %s AS SELECT * " ..
        "FROM %s;  -- the old name keeps working (simple views are updatable); drop the view once " ..
        "no code uses it", ast.rel_sql(t.relation), ast.ident(t.newname), ast.rel_sql(t.relation),
        ast.ident(t.newname)) })
  end,
}
