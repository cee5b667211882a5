--- migrun.snapshot: exact row counts and content fingerprints of named tables (policy layer;
-- reads through a migrun.db connection, never commits: works inside an open transaction).
-- Feeds expect.delta/unchanged, `protect`, and the before/after/change table of reports.
local ident = require "migrun.ident"

local M = {}

-- The fingerprint sums two 64-bit halves of each row's md5 as numeric: independent of row
-- order and physical layout, duplicates count, and memory stays flat however big the table
-- (a string_agg would hold every hash at once). It reads the rows' text form, so it is
-- comparable between snapshots taken under the same session settings (DateStyle, TimeZone).
local FINGERPRINT_SQL = [[
SELECT n, md5(n::text || ':' || a::text || ':' || b::text) AS fp
FROM (SELECT count(*) AS n,
             coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0) AS a,
             coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0) AS b
      FROM (SELECT md5(migrun_fp_row::text) AS h FROM %s AS migrun_fp_row) AS h) AS agg]]

local function name_set(x)
  local set = {}
  if x == nil then return set end
  for k, v in pairs(x) do
    if type(k) == "number" then set[ident.key(v)] = true
    elseif v then set[ident.key(k)] = true end
  end
  return set
end

--- snapshot.count_rows(db, name) -> exact row count, or nil when the table does not exist
function M.count_rows(db, name)
  if not ident.oid(db, name) then return nil end
  return db:query("SELECT count(*) AS n FROM " .. ident.quote(db, name))[1].n
end

--- snapshot.fingerprint(db, name) -> count, fingerprint (hex), or nil when it does not exist
function M.fingerprint(db, name)
  if not ident.oid(db, name) then return nil end
  local row = db:query(FINGERPRINT_SQL:format(ident.quote(db, name)))[1]
  return row.n, row.fp
end

-- The report's row counts: exact for a table under this size, the planner's estimate above it
-- (a count(*) of a 10^8-row table would take minutes). A check that needs an exact figure
-- (protect, expect.count, delta, unchanged) always counts.
M.EXACT_BYTES = 16 * 1024 * 1024

-- counts of many tables in a few round trips: one query finds which exist (and, unless exact,
-- how big they are), then one UNION ALL per 50 tables counts the ones to count. Returns
-- {key = count} for the existing ones, and the set of keys whose count is an estimate.
local function count_many(db, list, exact)
  local counts, estimated = {}, {}
  if #list == 0 then return counts, estimated end
  local quoted = {}
  for i, t in ipairs(list) do quoted[i] = ident.quote(db, t) end
  -- only relations that hold rows: an index named in expect.exists is not counted. The live
  -- tuples come from the statistics function itself: the pg_stat_user_tables view computes
  -- some twenty of them for every table of the database it joins
  local found = db:query([[
    SELECT i::int AS i, c.relkind::text AS kind,
           CASE WHEN c.relkind IN ('r', 'm') THEN pg_catalog.pg_relation_size(c.oid) END AS bytes,
           greatest(c.reltuples, pg_catalog.pg_stat_get_live_tuples(c.oid))::int8 AS estimate
    FROM json_array_elements_text($1::json) WITH ORDINALITY AS x(q, i)
    JOIN pg_catalog.pg_class c ON c.oid = pg_catalog.to_regclass(q)
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')]], require("cjson").encode(quoted))
  local present = {}
  for _, r in ipairs(found) do
    local key = ident.key(list[r.i])
    if r.bytes == 0 then
      counts[key] = 0 -- no page, no row: exact, and a count(*) would only open the table
    elseif exact ~= true and not exact[key] and r.bytes and r.bytes > M.EXACT_BYTES and r.estimate then
      counts[key], estimated[key] = r.estimate, true
    else
      present[#present + 1] = r.i
    end
  end
  for first = 1, #present, 50 do
    local parts = {}
    for j = first, math.min(first + 49, #present) do
      local i = present[j]
      parts[#parts + 1] = string.format("SELECT %d AS i, count(*) AS n FROM %s", i, quoted[i])
    end
    for _, r in ipairs(db:query(table.concat(parts, " UNION ALL "))) do
      counts[ident.key(list[r.i])] = r.n
    end
  end
  return counts, estimated
end

local Snapshot = {}
Snapshot.__name = "migrun.snapshot"

-- methods accept snap:count(name) and snap.count(name) (DESIGN.md's run.before.count("t"))
local function bind(snap, fn)
  return function(a, ...)
    if a == snap then return fn(snap, ...) end
    return fn(snap, a, ...)
  end
end

local function count(snap, name)
  return snap._counts[ident.key(name)]
end

local function fingerprint(snap, name)
  return snap._fingerprints[ident.key(name)]
end

local function tables(snap)
  local list = {}
  for k in pairs(snap._taken) do list[#list + 1] = k end
  table.sort(list)
  return list
end

local function taken(snap, name)
  return snap._taken[ident.key(name)] == true
end

local function estimated(snap, name)
  return snap._estimated ~= nil and snap._estimated[ident.key(name)] == true
end

local function exists(snap, name)
  return snap._counts[ident.key(name)] ~= nil
end

local function finish(snap)
  snap.count = bind(snap, count)
  snap.fingerprint = bind(snap, fingerprint)
  snap.tables = bind(snap, tables)
  snap.taken = bind(snap, taken)
  snap.exists = bind(snap, exists)
  snap.estimated = bind(snap, estimated)
  return snap
end

--- snapshot.take(db, tables [, {fingerprint = {name = true} | {name, ...} | true, exact = true | {name = true}}])
-- -> snap. A table over EXACT_BYTES gets the planner's estimate unless exact (or fingerprinted).
-- snap:count(name) -> rows | nil (missing table); snap:fingerprint(name) -> hex | nil;
-- snap:tables() -> sorted names; snap:taken(name) -> was it in the list; snap:exists(name)
-- snap:estimated(name) -> true when its count is the planner's estimate
function M.take(db, list, opts)
  opts = opts or {}
  local want_fp = opts.fingerprint == true and true or name_set(opts.fingerprint)
  local snap = setmetatable({ _counts = {}, _fingerprints = {}, _taken = {},
                              taken_at = os.time() }, Snapshot)
  local names = {}
  for _, t in ipairs(list or {}) do names[#names + 1] = t end
  if type(want_fp) == "table" then
    for k in pairs(want_fp) do names[#names + 1] = k end
  end
  local plain = {}
  for _, t in ipairs(names) do
    local key = ident.key(t)
    if not snap._taken[key] then
      snap._taken[key] = true
      if want_fp == true or want_fp[key] then
        snap._counts[key], snap._fingerprints[key] = M.fingerprint(db, t)
      else
        plain[#plain + 1] = t
      end
    end
  end
  local counts, guessed = count_many(db, plain, opts.exact == true or name_set(opts.exact))
  for key, n in pairs(counts) do snap._counts[key] = n end
  snap._estimated = guessed
  return finish(snap)
end

--- snapshot.encode(snap) -> JSON text (for the ledger: a resumed run compares with it)
function M.encode(snap)
  local names = {}
  for k in pairs(snap._taken) do names[#names + 1] = k end
  table.sort(names)
  return require("cjson").encode({ counts = snap._counts, fingerprints = snap._fingerprints,
                                   taken = names, taken_at = snap.taken_at })
end

--- snapshot.decode(text) -> snap, as snapshot.take returned it
function M.decode(text)
  local t = require("cjson").decode(text)
  local snap = setmetatable({ _counts = {}, _fingerprints = {}, _taken = {}, taken_at = t.taken_at },
                            Snapshot)
  for k, v in pairs(t.counts or {}) do snap._counts[k] = math.tointeger(v) or v end
  for k, v in pairs(t.fingerprints or {}) do snap._fingerprints[k] = v end
  for _, k in ipairs(t.taken or {}) do snap._taken[k] = true end
  return finish(snap)
end

--- snapshot.dedupe(db, names) -> names without the ones naming a table already listed
-- ("public.accounts" and "accounts"); names of tables that don't exist yet are kept
function M.dedupe(db, names)
  if #names == 0 then return names end
  local quoted = {}
  for i, t in ipairs(names) do quoted[i] = ident.quote(db, t) end
  local oids = {}
  for _, r in ipairs(db:query([[SELECT i::int AS i, to_regclass(q)::oid::int8 AS oid
                                FROM json_array_elements_text($1::json) WITH ORDINALITY AS x(q, i)]],
                              require("cjson").encode(quoted))) do
    oids[r.i] = r.oid
  end
  local seen, out = {}, {}
  for i, t in ipairs(names) do
    local key = oids[i] or ("name:" .. t)
    if not seen[key] then
      seen[key] = true
      out[#out + 1] = t
    end
  end
  return out
end

--- snapshot.is(x) -> true for a snapshot
function M.is(x)
  return getmetatable(x) == Snapshot
end

--- snapshot.diff(before, after) -> {{table, before, after, change [, content]}, ...} sorted
-- by table; before/after are row counts (nil: the table did not exist), change = after -
-- before when both exist; content = "same" | "changed" when both have a fingerprint.
function M.diff(before, after)
  local seen, names = {}, {}
  for _, snap in ipairs({ before, after }) do
    if snap then
      for _, t in ipairs(snap:tables()) do
        if not seen[t] then seen[t] = true; names[#names + 1] = t end
      end
    end
  end
  table.sort(names)
  local rows = {}
  for _, t in ipairs(names) do
    local b = before and before:count(t)
    local a = after and after:count(t)
    if b ~= nil or a ~= nil then                       -- else not a table (an index) at either point
      local row = { table = t, before = b, after = a,
                    estimated = (before and before:estimated(t)) or (after and after:estimated(t)) or nil }
      if a and b then row.change = a - b end
      local fb, fa = before and before:fingerprint(t), after and after:fingerprint(t)
      if fb and fa then row.content = fb == fa and "same" or "changed" end
      rows[#rows + 1] = row
    end
  end
  return rows
end

return M
