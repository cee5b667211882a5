--- migrun.run.prove: rollbacks proven on a rehearsal's clone (policy layer). Each phase is
-- applied, then its rollback, and the schema (pg_dump --schema-only, normalised) and the
-- content fingerprints of the tables it touched are compared with the state before the
-- phase; then the phase is applied again and the next one proven. A rollback that does not
-- bring the database back (a dropped column that comes back empty, an index left behind,
-- rows lost) is reported with the diff. A re-added column's position is a known, unavoidable
-- difference: named as such, not hidden, and not a failure.
local expect = require "migrun.expect"
local pg = require "migrun.pg"
local snapshot = require "migrun.snapshot"
local state = require "migrun.run.state"

local M = {}

-- the tables a phase's SQL (and its rollback's) write or alter
local function touched(ph)
  local set = {}
  for _, st in ipairs(ph.steps) do
    if st.text then state.touched_tables(st.text, set) end
  end
  if ph.rollback and ph.rollback.text then state.touched_tables(ph.rollback.text, set) end
  local list = {}
  for t in pairs(set) do list[#list + 1] = t end
  table.sort(list)
  return list
end

-- what the proof compares: the normalised schema and each touched table's fingerprint
local function capture(run, tables)
  local text, err = pg.dump_schema({ db = run.db, conninfo = run.conninfo, env = run.env })
  if not text then error(err, 0) end
  local snap = snapshot.take(run.db, tables, { fingerprint = true })
  return { schema = expect.normalise_schema(text), snap = snap }
end

-- "CREATE TABLE t (...)" blocks as {name = sorted column lines}: the same columns in another
-- order is a dropped column added back at the end, which PostgreSQL cannot avoid
local function tables_of(schema)
  local out, cur = {}, nil
  for _, l in ipairs(schema) do
    local name = l:match("^CREATE TABLE ([^%s]+) %($")
    if name then
      cur = { name = name, cols = {} }
    elseif cur and l:match("^%);?$") then
      table.sort(cur.cols)
      out[cur.name] = table.concat(cur.cols, "\n")
      cur = nil
    elseif cur then
      cur.cols[#cur.cols + 1] = (l:gsub(",$", ""))
    end
  end
  return out
end

local function strip_tables(schema)
  local out, inside = {}, false
  for _, l in ipairs(schema) do
    if l:match("^CREATE TABLE [^%s]+ %($") then inside = true
    elseif inside and l:match("^%);?$") then inside = false
    elseif not inside then out[#out + 1] = l end
  end
  return out
end

--- prove.compare(before, after) -> ok, {diff =, known = {...}, tables = {{table, before, after}}}
function M.compare(before, after)
  local res = { known = {}, tables = {} }
  local ok = true
  local diff = expect.diff(before.schema, after.schema, { from = "before the phase", to = "after its rollback" })
  if diff then
    local tb, ta = tables_of(before.schema), tables_of(after.schema)
    local only_order = expect.diff(strip_tables(before.schema), strip_tables(after.schema)) == nil
    for name, cols in pairs(tb) do
      if ta[name] ~= cols then only_order = false end
    end
    for name in pairs(ta) do
      if tb[name] == nil then only_order = false end
    end
    if only_order then
      res.known[#res.known + 1] = "column order differs: a dropped column added back lands at the end " ..
                                  "of its table (PostgreSQL cannot put it back in place)"
    else
      ok = false
      res.diff = diff
    end
  end
  for _, t in ipairs(before.snap:tables()) do
    local b, a = before.snap:fingerprint(t), after.snap:fingerprint(t)
    local nb, na = before.snap:count(t), after.snap:count(t)
    if b ~= a then
      ok = false
      res.tables[#res.tables + 1] = { table = t, before = nb, after = na,
        what = nb ~= na and string.format("%s rows before, %s after", tostring(nb), tostring(na))
                         or "same number of rows, different content" }
    end
  end
  return ok, res
end

--- prove.before(run, ph) -> what the proof compares with, taken before the phase runs
function M.before(run, ph)
  local tables = touched(ph)
  return { tables = tables, state = capture(run, tables) }
end

--- prove.after(run, ph, before, apply) -> proof: ph has just been applied. Runs its rollback,
-- compares with `before`, records the proof in run.proofs, then apply() puts the phase back.
function M.after(run, ph, before, apply)
  local recovery = require "migrun.run.recovery"
  local proof = { phase = ph.name }
  local ok, err = pcall(recovery.undo, run, ph)
  if not ok then
    proof.ok, proof.error = false, require("migrun.errors").text(err)
  else
    local after = capture(run, before.tables)
    proof.ok, proof.detail = M.compare(before.state, after)
  end
  run.out:info(string.format("  rollback of '%s' %s", ph.name, proof.ok and "proven: the database is " ..
    "back as it was before the phase" or "does NOT bring the database back"))
  if not proof.ok then
    if proof.error then run.out:warn("  " .. proof.error) end
    if proof.detail and proof.detail.diff then run.out:info(proof.detail.diff) end
    for _, t in ipairs(proof.detail and proof.detail.tables or {}) do
      run.out:warn(string.format("  %s: %s", t.table, t.what))
    end
  end
  for _, k in ipairs(proof.detail and proof.detail.known or {}) do run.out:info("  known difference: " .. k) end
  run.proofs[#run.proofs + 1] = proof
  if ok then apply() end                             -- the next phase builds on this one
  return proof
end

return M
