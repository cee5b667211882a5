--- ban-truncate-cascade: TRUNCATE ... CASCADE also empties every table with a foreign key
-- to it, tables the statement does not name.
local ast = require "migrun.lint.ast"

local ID = "ban-truncate-cascade"

return {
  id = ID, severity = "error",
  summary = "TRUNCATE CASCADE empties tables it does not name",
  tags = { "TruncateStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    if t.behavior ~= "DROP_CASCADE" then return end
    local names = {}
    for _, r in ipairs(ast.list(t.relations)) do names[#names + 1] = ast.relname(r) end
    u:report(stmt, ID, { table = names[1], effect = "none",
      message = string.format("TRUNCATE %s CASCADE also empties every table that references %s, " ..
        "recursively: data the statement does not name is lost", table.concat(names, ", "),
        #names == 1 and names[1] or "them"),
      fix = string.format("TRUNCATE %s;  -- name every table to empty; without CASCADE it fails " ..
        "if another table still references them", table.concat(names, ", ")) })
  end,
}
