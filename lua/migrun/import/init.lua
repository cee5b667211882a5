--- migrun.import: a playbook from another tool's migration folder (policy layer). Finds the
-- tool (migrun.import.<tool> reads the folder into a list of migrations), makes every
-- script runnable inside a migrun phase, writes the playbook, and with adopt = true records
-- what the tool's history table says is applied (migrun.import.adopt). Only the playbook DSL
-- is written: one phase per migration, its down/undo/revert script as the rollback.
local errors = require "migrun.errors"
local fs = require "migrun.import.fs"
local sqlsplit = require "migrun.sqlsplit"
local sqlvars = require "migrun.sqlvars"

local M = {}

--- import.TOOLS: the tools in the order detection tries them
M.TOOLS = { "sqitch", "flyway", "dbmate", "golang-migrate" }
local MODULES = { sqitch = "sqitch", flyway = "flyway", dbmate = "dbmate", ["golang-migrate"] = "golang_migrate" }

--- import.tool(name) -> the module of a tool; raises kind="usage" for an unknown name
function M.tool(name)
  local mod = MODULES[name] or MODULES[(name or ""):gsub("_", "-")]
  if not mod then
    errors.raise("usage", "no importer for " .. tostring(name) .. require("migrun.text").did_you_mean(
      tostring(name), M.TOOLS), { hint = "migrun import reads " .. table.concat(M.TOOLS, ", ") .. " folders" })
  end
  return require("migrun.import." .. mod)
end

--- import.detect(dir) -> the tool module whose files the folder holds; raises kind="usage"
-- when none does, or when two do as much
function M.detect(dir)
  if not fs.is_dir(dir) then errors.raise("usage", dir .. " is not a folder") end
  local best, best_n, tie = nil, 0, nil
  for _, name in ipairs(M.TOOLS) do
    local t = M.tool(name)
    local n = t.detect(dir)
    if name == "sqitch" and n > 0 then return t end      -- a plan file says it all
    if n > best_n then
      best, best_n, tie = t, n, nil
    elseif n > 0 and n == best_n then
      tie = t
    end
  end
  if not best then
    errors.raise("usage", dir .. " holds no migrations migrun can import", { hint = "it reads Flyway " ..
      "(V1__name.sql), dbmate (-- migrate:up), golang-migrate (1_name.up.sql) and Sqitch (sqitch.plan) folders" })
  end
  if tie then
    errors.raise("usage", string.format("%s looks like both a %s and a %s folder", dir, best.title, tie.title))
  end
  return best
end

-- ---------------------------------------------------------------------------------------
-- making a script runnable inside a phase

-- a statement reduced to its words: comments gone, literals empty, lower case, one space
local function words(sql)
  local parts = {}
  for _, seg in ipairs(sqlvars.segments(sql)) do
    if seg.kind == "code" then
      parts[#parts + 1] = sql:sub(seg.first, seg.last)
    elseif seg.kind ~= "comment" then
      parts[#parts + 1] = " '' "
    else
      parts[#parts + 1] = " "
    end
  end
  return (table.concat(parts):lower():gsub("%s+", " "):gsub("^ ", ""):gsub("[ ;]+$", ""))
end

-- statements PostgreSQL refuses inside a transaction block (Flyway's own list for
-- PostgreSQL, and the CONCURRENTLY forms): their migration ran outside one
local NO_TX = { "^create database", "^drop database", "^create tablespace", "^drop tablespace",
                "^create subscription", "^drop subscription", "^alter system", "^create index concurrently",
                "^create unique index concurrently", "^drop index concurrently", "^reindex .*concurrently",
                "^reindex schema", "^reindex database", "^reindex system", "^reindex %(.-%) ?schema",
                "^reindex %(.-%) ?database", "^reindex %(.-%) ?system", "^reindex verbose schema",
                "^reindex verbose database", "^reindex verbose system", "^vacuum", "^discard all",
                "^alter table .* detach partition .* concurrently", "^cluster$" }

local function control(w)
  if w:find("^begin") or w:find("^start transaction") then return "begin" end
  if w:find("^commit") or w == "end" or w:find("^end transaction") or w:find("^end work") then return "commit" end
  if (w:find("^rollback") and not w:find("^rollback to")) or w:find("^abort") then return "rollback" end
  if w:find("^prepare transaction") or w:find("^commit prepared") or w:find("^rollback prepared") then
    return "other"
  end
  return nil
end

local function outside_tx(w)
  for _, p in ipairs(NO_TX) do if w:find(p) then return true end end
  return false
end

-- psql meta-commands: \set NAME VALUE becomes the value itself (later in the same script)
-- when VALUE is a plain word or quoted string, a variable to --set when it is a `command`;
-- \echo and friends only print, \g ends a statement as ; does; the rest (\gexec, \i, \if,
-- \connect, ...) cannot run in a playbook and stays as it is, reported
local HARMLESS = { ["\\echo"] = true, ["\\qecho"] = true, ["\\timing"] = true, ["\\pset"] = true,
                   ["\\t"] = true, ["\\a"] = true, ["\\x"] = true, ["\\warn"] = true }

local function meta_commands(s, note)
  local body = s.text
  if not body:find("\\", 1, true) then return end
  local edits, fixed, skip = {}, {}, 0
  for _, seg in ipairs(sqlvars.segments(body)) do
    local at = math.max(seg.first, skip)
    while seg.kind == "code" do
      local k = body:find("\\", at, true)
      if not k or k > seg.last then break end
      local cmd = body:match("^\\%a*", k)
      local eol = (body:find("\n", k, true) or #body + 1) - 1
      local line_no = select(2, body:sub(1, k):gsub("\n", "")) + 1
      local bol = body:sub(1, k - 1):match("[^\n]*$"):find("^%s*$") ~= nil
      local args = body:sub(k + #cmd, eol)
      local comment_out = false
      if cmd == "\\set" and bol then
        local name, value = args:match("^%s+([%a_][%w_]*)%s*(.-)%s*$")
        local lit = value and value:match("^'(.*)'$")
        if name and (value == "" or lit or not value:find("[%s`'\"]")) then
          fixed[name] = lit and lit:gsub("''", "'") or value
          comment_out = true
        elseif name and value:find("^`.*`$") then
          s.needs = s.needs or {}
          s.needs[name] = value
          note(string.format("psql \\set %s runs %s: its value comes from --set %s=...", name, value, name),
               line_no)
          comment_out = true
        else
          note("psql \\set with a value the import cannot read", line_no, true)
        end
      elseif HARMLESS[cmd] and bol then
        comment_out = true
      elseif cmd == "\\g" and args:find("^%s*$") then
        edits[#edits + 1] = { k, k + #cmd - 1, ";" }
      else
        note(string.format("psql meta-command %s cannot run in a playbook: edit the script", cmd), line_no, true)
      end
      if comment_out then edits[#edits + 1] = { k, k - 1, "-- (psql) " } end
      at = eol + 1
      skip = at
    end
  end
  if #edits == 0 and not next(fixed) then return end
  local parts, pos = {}, 1
  for _, e in ipairs(edits) do
    parts[#parts + 1] = body:sub(pos, e[1] - 1)
    parts[#parts + 1] = e[3]
    pos = e[2] + 1
  end
  parts[#parts + 1] = body:sub(pos)
  local text = table.concat(parts)
  if next(fixed) then text = sqlvars.expand(text, fixed, { partial = true }) end
  if text ~= body then
    s.text = text
    s.why = s.why or "psql meta-commands written as SQL"
  end
end

--- import.prepare(script, role, note) -> needs: makes a script's text runnable in a phase
-- (role "up", "down" or "verify"): the tool's own BEGIN ... COMMIT around it goes (the phase
-- is the transaction; a verify's BEGIN ... ROLLBACK too), psql's \set becomes SQL. Returns
-- why the phase must run outside a transaction, or nil. note(message, line, serious) reports.
function M.prepare(s, role, note)
  meta_commands(s, note)
  local ok, stmts = pcall(sqlsplit.split, s.text, s.file)
  if not ok then return nil end
  local first, last = stmts[1], stmts[#stmts]
  if first and #stmts >= 2 and control(words(first.sql)) == "begin" and (control(words(last.sql)) == "commit"
      or (role == "verify" and control(words(last.sql)) == "rollback")) then
    local inner = false
    for i = 2, #stmts - 1 do if control(words(stmts[i].sql)) then inner = true end end
    if not inner then
      local body = s.text
      s.text = body:sub(1, first.start - 1) .. "/* " .. first.sql .. " */" ..
               body:sub(first.stop + 1, last.start - 1) .. "/* " .. last.sql .. " */" .. body:sub(last.stop + 1)
      s.why = s.why or string.format("its own BEGIN ... %s taken out (the phase is the transaction)",
                                     control(words(last.sql)) == "rollback" and "ROLLBACK" or "COMMIT")
      table.remove(stmts, #stmts)
      table.remove(stmts, 1)
    end
  end
  for _, st in ipairs(stmts) do
    local w = words(st.sql)
    if control(w) then return "it commits on its own (" .. w:match("^%S+"):upper() .. ")" end
    if outside_tx(w) then return (w:match("^%S+ %S+ %S+") or w):upper() .. " cannot run in a transaction" end
  end
  return nil
end

-- any value will do to parse a script that uses variables
local ANY = setmetatable({}, { __index = function() return "x" end })

--- import.syntax_error(text) -> {line, message} where PostgreSQL's parser rejects the script,
-- or nil (also nil when this build has no parser, or the script holds psql meta-commands)
function M.syntax_error(body)
  local has, pgquery = pcall(require, "migrun.core.pgquery")
  if not has or not pcall(sqlsplit.split, body) then return nil end
  local ok, e = pcall(pgquery.open, (sqlvars.expand(body, ANY)))
  if ok or type(e) ~= "table" or e.kind ~= "parse" then return nil end
  local line = e.position and sqlsplit.position(body, math.min(e.position, #body)) or nil
  return { line = line, message = tostring(e.message or "syntax error") }
end

-- ---------------------------------------------------------------------------------------
-- the playbook

local function q(s) return string.format("%q", s) end

local NAMELESS = { migrations = true, migration = true, db = true, sql = true, schema = true, migrate = true,
                   resources = true, main = true, src = true, database = true, postgres = true,
                   postgresql = true, ["."] = true, [""] = true }

--- import.playbook_name(project, dir) -> the playbook's name: Sqitch's project, else the
-- first folder up from dir whose name is not a generic one (db/migrations -> the app's)
function M.playbook_name(project, dir)
  if project.name then return project.name end
  local p = fs.absolute(dir)
  while p ~= "/" and p ~= "" do
    local b = fs.basename(p)
    if not NAMELESS[b:lower()] and not NAMELESS[b:lower():gsub("_.*", "")] then return b end
    p = fs.dirname(p)
  end
  return project.tool.name
end

local function lua_comment(s) return (s:gsub("\n", " ")) end

-- a long comment written over several lines of at most 100 characters
local function wrap_comment(add, first, rest, s)
  local line = first
  for word in lua_comment(s):gmatch("%S+") do
    if #line + #word + 1 > 100 and line ~= first and line ~= rest then
      add(line)
      line = rest
    end
    line = line .. ((line == first or line == rest) and "" or " ") .. word
  end
  add(line)
end

--- import.generate(project, out_path) -> {text, files = {{path, text}}, phases, vars,
-- warnings, no_rollback}: the playbook and the rewritten scripts beside it, nothing written
function M.generate(project, out)
  local tool, dir = project.tool, project.dir
  local pbdir = fs.dirname(out)
  local copies_dir = ".migrun/" .. tool.name
  local files, warnings, copied, autocommit, no_rollback = {}, {}, {}, {}, {}
  local used_vars = {}
  for _, w in ipairs(project.warnings or {}) do warnings[#warnings + 1] = w end

  local reasons = {}
  local function place(s)
    if s.raw ~= nil and s.text == s.raw then return fs.relative(fs.join(dir, s.file), pbdir) end
    local rel = copies_dir .. "/" .. s.copy
    files[#files + 1] = { path = fs.join(pbdir, rel), text = s.text }
    local why = s.why or "rewritten"
    if not copied[why] then
      copied[why] = {}
      reasons[#reasons + 1] = why
    end
    table.insert(copied[why], s.copy)
    return rel
  end
  local function script(s, role, m)
    local serious = false
    local why = M.prepare(s, role, function(msg, line, is_serious)
      if is_serious then
        serious = true
        warnings[#warnings + 1] = { file = s.file, line = line and (line + (s.line or 1) - 1), message = msg }
      end
    end)
    for _, r in ipairs(sqlvars.refs(s.text)) do used_vars[r.name] = true end
    for name, cmd in pairs(s.needs or {}) do used_vars[name] = cmd end
    if why and role ~= "verify" and m.transaction ~= false then
      m.transaction, m.no_tx_why = false, why
    end
    local path = place(s)
    local bad = not serious and M.syntax_error(s.text)
    if bad then
      warnings[#warnings + 1] = { file = path, line = bad.line, message = bad.message ..
        ": the playbook will not load until it is fixed" }
    end
    return path
  end

  local lines = {}
  local function add(s) lines[#lines + 1] = s end
  local body = {}
  local has_verify = false
  for _, m in ipairs(project.migrations) do
    local steps = {}
    for _, s in ipairs(m.ups or { m.up }) do steps[#steps + 1] = script(s, "up", m) end
    local down = m.down and script(m.down, "down", m)
    local verify = m.verify and script(m.verify, "verify", m)
    if not down then no_rollback[#no_rollback + 1] = m.phase end
    if m.transaction == false then
      autocommit[#autocommit + 1] = string.format("%s: %s", m.phase, m.no_tx_why or "the tool ran it so")
    end
    local b = {}
    b[#b + 1] = string.format("  phase %s {", q(m.phase))
    if m.description then b[#b + 1] = string.format("    description = %s,", q(m.description)) end
    for _, p in ipairs(steps) do b[#b + 1] = string.format("    sql %s,", q(p)) end
    if m.transaction == false then b[#b + 1] = "    transaction = false," end
    if verify then
      has_verify = true
      b[#b + 1] = string.format("    verify = { verify_script %s },", q(verify))
    end
    if down then b[#b + 1] = string.format("    rollback = sql %s,", q(down)) end
    b[#b + 1] = "  },"
    for _, c in ipairs(m.after or {}) do b[#b + 1] = "  -- " .. lua_comment(c) end
    for _, l in ipairs(b) do body[#body + 1] = l end
  end

  local name = M.playbook_name(project, dir)
  local src = fs.relative(dir, pbdir)
  local where = src == "" and "this folder" or ("the folder " .. src)
  add(string.format("-- Imported by `migrun import` from the %s migrations in %s: %d, one phase each,",
                    tool.title, where, #project.migrations))
  add("-- in the order the tool runs them; each phase's rollback is the migration's " ..
      (tool.name == "flyway" and "undo (U) script." or tool.name == "sqitch" and "revert script." or "down script."))
  add("-- The ledger knows this playbook by its name: keep the name to keep its history.")
  if #reasons > 0 then
    add("--")
    add(string.format("-- Rewritten copies under %s/ (commit them with this file; the originals stay as", copies_dir))
    add("-- they are):")
    for _, why in ipairs(reasons) do
      add("--   " .. why .. ":")
      local line = "--    "
      for _, f in ipairs(copied[why]) do
        if #line + #f > 96 then
          add(line)
          line = "--    "
        end
        line = line .. " " .. f
      end
      add(line)
    end
  end
  if #autocommit > 0 then
    add("--")
    add("-- Outside a transaction (transaction = false), as the tool ran them:")
    for _, c in ipairs(autocommit) do add("--   " .. lua_comment(c)) end
  end
  local var_names = {}
  for v in pairs(used_vars) do var_names[#var_names + 1] = v end
  table.sort(var_names)
  if #var_names > 0 then
    add("--")
    add("-- Variables the SQL uses (psql's :name, :'name', :\"name\"): pass each with --set NAME=VALUE")
    for _, v in ipairs(var_names) do
      local d = (project.defaults or {})[v]
      local from = project.vars and project.vars[v]
      local extra = {}
      if from and from ~= v then extra[#extra + 1] = "was ${" .. from .. "}" end
      if type(used_vars[v]) == "string" then extra[#extra + 1] = "psql ran " .. used_vars[v] end
      if d then extra[#extra + 1] = "configured value: " .. d end
      add(string.format("--   %s%s", v, #extra > 0 and ("  (" .. lua_comment(table.concat(extra, "; ")) .. ")") or ""))
    end
  end
  if #no_rollback > 0 then
    add("--")
    wrap_comment(add, "-- Without a rollback (no down script): ", "--   ", table.concat(no_rollback, ", "))
  end
  if #warnings > 0 then
    add("--")
    add("-- Not translated (see to these before the first run):")
    for _, w in ipairs(warnings) do wrap_comment(add, "--   ", "--     ", M.where(w) .. w.message) end
  end
  add("")
  if has_verify then
    add("-- A Sqitch verify script raises an error when its change is not deployed: each one is")
    add("-- an expectation that passes when the script runs without an error.")
    add("local function verify_script(file)")
    add("  local script = sql(file)")
    add("  return expect.that(\"sqitch verify \" .. file, function(db)")
    add("    local ok, err = pcall(db.script, db, script.text, { name = script.path })")
    add("    if ok then return true, \"ran without an error\", \"runs without an error\" end")
    add("    return false, tostring(err):match(\"[^\\n]*\"), \"runs without an error\"")
    add("  end)")
    add("end")
    add("")
  end
  add(string.format("playbook %s {", q(name)))
  add(string.format("  description = %s,", q(string.format("imported from the %s migrations in %s",
                                                        tool.title, where))))
  add("")
  for _, l in ipairs(body) do add(l) end
  add("}")
  return { text = table.concat(lines, "\n") .. "\n", files = files, phases = #project.migrations,
           vars = var_names, warnings = warnings, no_rollback = no_rollback, name = name, copied = #files }
end

--- import.where(w) -> "file:line:col: " of a warning (what it has of it)
function M.where(w)
  if not w.file then return "" end
  return w.file .. (w.line and (":" .. w.line .. (w.col and (":" .. w.col) or "")) or "") .. ": "
end

--- import.read(dir [, tool]) -> project: the folder read by its tool's module
function M.read(dir, tool_name)
  if not fs.is_dir(dir) then errors.raise("usage", dir .. " is not a folder") end
  local tool = tool_name and M.tool(tool_name) or M.detect(dir)
  local project = tool.read(dir)
  project.tool, project.dir = tool, dir
  if #project.migrations == 0 then
    errors.raise("usage", string.format("%s holds no %s migrations", dir, tool.title))
  end
  return project
end

--- import.run{dir, out = FILE, tool = nil | "flyway" | ..., adopt = bool, db = conn | connect =
-- fn() -> conn, conninfo, output = out, yes, vars, conninfo, before_adopt = fn(result)} ->
-- result {tool, playbook, written, reused, phases, warnings, vars, adopted}. Writes the
-- playbook (default DIR/playbook.lua) and the rewritten scripts, never replacing a file. With
-- adopt the playbook may exist already: it is used as it is.
function M.run(o)
  local dir = o.dir
  local project = M.read(dir, o.tool)
  local out = o.out or fs.join(dir, "playbook.lua")
  local gen = M.generate(project, out)
  local result = { tool = project.tool.name, title = project.tool.title, playbook = out, phases = gen.phases,
                   warnings = gen.warnings, vars = gen.vars, name = gen.name, written = {},
                   no_rollback = gen.no_rollback, project = project }
  local exists = fs.is_file(out)
  if exists and not o.adopt then
    local same = require("migrun.text").readfile(out) == gen.text
    errors.raise("usage", out .. " already exists" .. (same and " (as this import would write it)" or ""),
      { hint = "migrun import never replaces a file: move it away, write elsewhere with --out FILE, " ..
               "or add --adopt to record the history against it" })
  end
  if exists then
    result.reused = true
  else
    local list = { { path = out, text = gen.text } }
    for _, f in ipairs(gen.files) do list[#list + 1] = f end
    local plan = fs.plan_writes(list)
    for _, f in ipairs(plan.new) do
      fs.write_new(f.path, f.text)
      result.written[#result.written + 1] = f.path
    end
  end
  if o.adopt then
    if o.before_adopt then o.before_adopt(result) end
    local db, conninfo = o.db, o.conninfo
    if not db then db, conninfo = o.connect() end   -- only now: a bad folder connects nowhere
    result.adopted = require("migrun.import.adopt").run(project, {
      playbook = out, db = db, output = o.output, yes = o.yes, vars = o.vars, conninfo = conninfo,
      confirm = o.confirm })
  end
  return result
end

return M
