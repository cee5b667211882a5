--- changing-column-type: ALTER COLUMN ... TYPE rewrites the table and rebuilds its indexes
-- under ACCESS EXCLUSIVE unless the old type converts to the new one without a rewrite
-- (varchar -> text, a longer varchar, more numeric precision, cidr -> inet, ...).
local ast = require "migrun.lint.ast"

local ID = "changing-column-type"

local TEXTUAL = { text = true, varchar = true, citext = true }
local TIMES = { timestamp = true, timestamptz = true, time = true, timetz = true, interval = true }

-- may `to` be a change that needs no rewrite from some other type? (when the old one is unknown)
local WIDENING = { text = true, varchar = true, citext = true, numeric = true, timestamp = true,
                   timestamptz = true, time = true, timetz = true, interval = true, inet = true,
                   varbit = true }

local function mod(t, i) return t.mods and tonumber(t.mods[i]) end

-- true when PostgreSQL changes from -> to without rewriting (ATColumnChangeRequiresRewrite:
-- a binary-coercible cast, or a length coercion that can only widen)
local function free(from, to, u)
  if from.array ~= to.array then return false end
  local a, b = from.name, to.name
  if a == b then
    local n1, n2 = mod(from, 1), mod(to, 1)
    if a == "varchar" or a == "varbit" or TIMES[a] then
      return n2 == nil or (n1 ~= nil and n2 >= n1)
    end
    if a == "numeric" then
      if n2 == nil then return true end
      return n1 ~= nil and n2 >= n1 and (mod(to, 2) or 0) == (mod(from, 2) or 0)
    end
    if a == "bpchar" or a == "bit" then return n1 == n2 end
    return #(from.mods or {}) == #(to.mods or {})
  end
  if TEXTUAL[a] and TEXTUAL[b] then
    return not (b == "varchar" and mod(to, 1))       -- text -> varchar(n) checks every value
  end
  if a == "cidr" and b == "inet" then return true end
  if a == "bit" and b == "varbit" then return mod(to, 1) == nil or (mod(from, 1) or 0) <= mod(to, 1) end
  if a == "xml" and b == "text" then return true end
  if a == "timestamp" and b == "timestamptz" and u.pg_version >= 120000 and u.shared.server then
    return u.shared.server:timezone() == "UTC" and (mod(to, 1) == nil or (mod(from, 1) or 6) <= mod(to, 1))
  end
  return false
end

-- USING col::type (Django writes one on every change) is the plain conversion
local function plain_using(expr, col)
  if expr == nil then return true end
  if expr.tag == "TypeCast" then return ast.colname(expr.arg) == col end
  return false
end

return {
  id = ID, severity = "error",
  summary = "a column type change that is not binary-coercible rewrites the table",
  cmds = { "AT_AlterColumnType" },
  check_cmd = function(stmt, u, cmd)
    if not cmd.def then return end
    local t = stmt.tree
    local rel = stmt.rel
    local info = u:table(rel)
    local col = cmd.name
    local to = ast.type(cmd.def.typeName)
    local known = info and info.columns and info.columns[col]
    local from = known and known.type
    local using = cmd.def.raw_default
    local severity, detail
    if not plain_using(using, col) then
      detail = "its USING expression is computed for every row"
    elseif from then
      if free(from, to, u) then return end
      detail = string.format("%s to %s is not binary-coercible", from.text, to.text)
    elseif WIDENING[to.name] then
      severity = "warning"
      detail = string.format("unless %s already is a type that widens to %s without a " ..
        "rewrite (e.g. varchar to text, a longer varchar, more numeric precision)", col, to.text)
    else
      detail = string.format("converting to %s computes every value", to.text)
    end
    u:report(stmt, ID, { table = rel, effect = "rewrite", lock = "AccessExclusive",
      severity = severity,
      message = string.format("ALTER COLUMN %s TYPE %s rewrites %s and its indexes under " ..
        "ACCESS EXCLUSIVE (%s): reads and writes wait", col, to.text, rel, detail),
      fix = string.format("ALTER TABLE %s ADD COLUMN %s %s;\n-- write both columns from the " ..
        "application (or a trigger), backfill %s in batches,\n-- then switch reads over and " ..
        "drop %s in a later release", ast.rel_sql(t.relation), ast.ident(col .. "_new"),
        to.text, ast.ident(col .. "_new"), ast.ident(col)) })
  end,
}
