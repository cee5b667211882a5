--- ban-char-field: char(n) pads with spaces, compares ignoring them, and is no faster than
-- text or varchar.
local ast = require "migrun.lint.ast"

local ID = "ban-char-field"

return {
  id = ID, severity = "warning",
  summary = "char(n): use text (or varchar)",
  types = { "bpchar" },
  check_column = function(stmt, u, c)
    if c.type and c.type.name == "bpchar" then
      u:report(stmt, ID, { table = c.rel, effect = "none",
        message = string.format("%s.%s is %s: values are padded with spaces, trailing spaces " ..
          "are ignored when comparing, and it is no faster than text", c.rel, c.col, c.type.text),
        fix = ast.column_fix(c, "text" .. (c.type.mods[1] and c.type.mods[1] ~= 1 and
          string.format("  -- with CHECK (length(%s) <= %s) if the limit matters",
                        ast.ident(c.col), c.type.mods[1]) or "")) })
    end
  end,
}
