--- prefer-timestamptz: timestamp (without time zone) drops the UTC offset; values written
-- from sessions in different time zones no longer compare correctly.
local ast = require "migrun.lint.ast"

local ID = "prefer-timestamptz"

return {
  id = ID, severity = "warning",
  summary = "timestamp without time zone: use timestamptz",
  types = { "timestamp" },
  check_column = function(stmt, u, c)
    if c.type and c.type.name == "timestamp" then
      local p = c.type.mods[1]
      u:report(stmt, ID, { table = c.rel, effect = "none",
        message = string.format("%s.%s is timestamp without time zone: the offset is dropped, " ..
          "so 21:00+02 and 21:00-06 are stored as the same instant", c.rel, c.col),
        fix = ast.column_fix(c, "timestamptz" .. (p and ("(" .. p .. ")") or "") ..
          (c.type.array and "[]" or "")) })
    end
  end,
}
