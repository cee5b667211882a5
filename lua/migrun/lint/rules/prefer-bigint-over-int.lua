--- prefer-bigint-over-int: integer (and smallint) keys run out: 2^31 ids is a busy table's
-- few years, and widening a key later rewrites it and every table that references it.
local ast = require "migrun.lint.ast"

local ID = "prefer-bigint-over-int"

local SMALL = { int4 = "bigint", int2 = "bigint", serial = "bigserial", serial4 = "bigserial",
                smallserial = "bigserial", serial2 = "bigserial", int = "bigint", integer = "bigint" }

return {
  id = ID, severity = "warning",
  summary = "integer or smallint key: use bigint",
  types = { "int4", "int2", "serial", "serial4", "smallserial", "serial2" },
  check_column = function(stmt, u, c)
    local ty = c.type
    if c.key and ty and SMALL[ty.name] and not ty.array then
      u:report(stmt, ID, { table = c.rel, effect = "none",
        message = string.format("key column %s.%s is %s: it runs out at %s values, and " ..
          "widening a key later rewrites the table and every table that references it", c.rel,
          c.col, ty.text, (ty.name == "int2" or ty.name:match("^s.*2$") or ty.name == "smallserial")
            and "32,767" or "2,147,483,647"),
        fix = ast.column_fix(c, SMALL[ty.name]) })
    end
  end,
}
