--- prefer-jsonb: json keeps the text as written: no equality operator (DISTINCT, GROUP BY,
-- UNIQUE fail), no GIN index, re-parsed on every access. jsonb does all of that.
local ast = require "migrun.lint.ast"

local ID = "prefer-jsonb"

return {
  id = ID, severity = "warning",
  summary = "json column: use jsonb",
  types = { "json" },
  check_column = function(stmt, u, c)
    if c.type and c.type.name == "json" then
      u:report(stmt, ID, { table = c.rel, effect = "none",
        message = string.format("%s.%s is json: it has no equality (no DISTINCT, GROUP BY or " ..
          "UNIQUE), no GIN index, and is re-parsed on every read", c.rel, c.col),
        fix = ast.column_fix(c, c.type.array and "jsonb[]" or "jsonb") })
    end
  end,
}
