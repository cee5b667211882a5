--- adding-field-with-default: ADD COLUMN with a volatile DEFAULT (random(), gen_random_uuid(),
-- clock_timestamp(), or any DEFAULT before PostgreSQL 11) or a STORED generated column
-- rewrites the table under ACCESS EXCLUSIVE, computing the value for every row.
local ast = require "migrun.lint.ast"

local ID = "adding-field-with-default"

local function is_null(e)
  return type(e) == "table" and e.tag == "A_Const" and e.isnull
end

return {
  id = ID, severity = "error",
  summary = "ADD COLUMN with a volatile DEFAULT or a stored generated column rewrites the table",
  cmds = { "AT_AddColumn" },
  check_cmd = function(stmt, u, cmd)
    local def = cmd.def
    if not (def and def.constraints) then return end
    local rel = stmt.rel
    local relsql = ast.rel_sql(stmt.tree.relation)
    local col = def.colname
    for _, c in ipairs(def.constraints) do
      if c.contype == "CONSTR_DEFAULT" and c.raw_expr and not is_null(c.raw_expr) then
        local why
        if u.pg_version < 110000 then
          why = "before PostgreSQL 11 every DEFAULT is written into every row"
        else
          local v, culprit = u:volatility(c.raw_expr)
          if v == "volatile" then
            why = string.format("%s is volatile: it is evaluated for every existing row", culprit)
          elseif v == "unknown" then
            why = string.format("%s may be volatile (migrun cannot tell without the server): " ..
              "then it is evaluated for every existing row", culprit)
          end
        end
        if why then
          local ty = (ast.type(def.typeName) or { text = "?" }).text
          u:report(stmt, ID, { table = rel, effect = "rewrite", lock = "AccessExclusive",
            message = string.format("ADD COLUMN %s with this DEFAULT rewrites %s under ACCESS " ..
              "EXCLUSIVE (%s): reads and writes wait", col, rel, why),
            fix = string.format("ALTER TABLE %s ADD COLUMN %s %s;\nALTER TABLE %s ALTER COLUMN " ..
              "%s SET DEFAULT <the expression>;  -- new rows only\n-- backfill existing rows " ..
              "in batches (backfill \"%s\" { set = \"%s = ...\", where = \"%s IS NULL\" })",
              relsql, ast.ident(col), ty, relsql, ast.ident(col), rel, col, col) })
        end
      elseif c.contype == "CONSTR_GENERATED" then
        local ty = (ast.type(def.typeName) or { text = "?" }).text
        u:report(stmt, ID, { table = rel, effect = "rewrite", lock = "AccessExclusive",
          message = string.format("ADD COLUMN %s GENERATED ALWAYS AS (...) STORED computes and " ..
            "writes the value for every row of %s under ACCESS EXCLUSIVE", col, rel),
          fix = string.format("ALTER TABLE %s ADD COLUMN %s %s;\n-- keep it current with a " ..
            "trigger (or the application), backfill existing rows in batches", relsql,
            ast.ident(col), ty) })
      end
    end
  end,
}
