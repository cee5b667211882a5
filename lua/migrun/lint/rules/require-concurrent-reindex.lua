--- require-concurrent-reindex: REINDEX without CONCURRENTLY locks out writes to the table
-- (and reads through the index) for the whole rebuild.
local ast = require "migrun.lint.ast"

local ID = "require-concurrent-reindex"

local KEYWORD = { REINDEX_OBJECT_INDEX = "index", REINDEX_OBJECT_TABLE = "table",
                  REINDEX_OBJECT_SCHEMA = "schema", REINDEX_OBJECT_DATABASE = "database" }

return {
  id = ID, severity = "error",
  summary = "REINDEX without CONCURRENTLY blocks the table while the index is rebuilt",
  tags = { "ReindexStmt" },
  check = function(stmt, u)
    local t = stmt.tree
    local kw = KEYWORD[t.kind]
    if not kw or ast.reindex_concurrent(t) then return end   -- REINDEX SYSTEM has no CONCURRENTLY
    local rel = t.relation and ast.relname(t.relation)
    if rel and (u:is_new(rel) or u.shared.new_indexes[rel]) then return end
    local table_name = rel
    if t.kind == "REINDEX_OBJECT_INDEX" and rel then table_name = u:index_table(rel) end
    local fix = ast.insert_after(ast.stmt_sql(u, stmt), kw, "CONCURRENTLY")
    u:report(stmt, ID, { table = table_name, effect = "build", lock = "AccessExclusive",
      message = string.format("REINDEX %s %s without CONCURRENTLY blocks writes to %s (and " ..
        "reads that use the index) until the rebuild ends", kw:upper(), rel or t.name or "",
        table_name or "the table"),
      fix = fix and (fix .. "  -- PostgreSQL 12+, outside a transaction") })
  end,
}
