--- migrun.import.sqitch: a Sqitch project (policy layer). sqitch.plan lists the changes in
-- order; each has deploy/<change>.sql, revert/<change>.sql and verify/<change>.sql. A
-- reworked change keeps its earlier version as <change>@<tag>.sql. sqitch.conf can move the
-- plan and the folders (top_dir, plan_file, deploy_dir, ...) and give script variables.
-- history() reads the registry's changes table (schema sqitch by default).
local digest = require "migrun.import.digest"
local errors = require "migrun.errors"
local fs = require "migrun.import.fs"

local M = { name = "sqitch", title = "Sqitch", table = "sqitch.changes" }

-- sqitch.conf is git-config style: [section] or [section "sub"], then key = value lines
local function read_conf(path)
  local conf, section = {}, ""
  if not fs.is_file(path) then return conf end
  for line in (fs.read(path) .. "\n"):gmatch("([^\n]*)\n") do
    local name, sub = line:match('^%s*%[%s*([%w._-]+)%s+"([^"]*)"%s*%]')
    if name then
      section = name:lower() .. "." .. sub
    else
      name = line:match("^%s*%[%s*([%w._-]+)%s*%]")
      if name then
        section = name:lower()
      else
        local k, v = line:match("^%s*([%w_-]+)%s*=%s*(.-)%s*$")
        if k then
          v = v:gsub("%s+[#;].*$", "")
          v = v:match('^"(.*)"$') or v
          conf[section .. "." .. k] = v
        end
      end
    end
  end
  return conf
end

--- sqitch.parse_plan(body, file) -> {project, uri, changes = {{name, requires, conflicts,
-- note, line, tags = {...}}}}; raises kind="usage" at file:line where Sqitch would
function M.parse_plan(body, file)
  local plan = { changes = {}, pragmas = {} }
  local n, header = 0, true
  local function refuse(msg) errors.raise("usage", "Sqitch plan: " .. msg, { file = file, line = n }) end
  for raw in (body .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local line = raw:gsub("\r$", "")
    local blank = line:match("^%s*$") or line:match("^%s*#")
    if header then
      if line:match("^%s*$") and #plan.changes == 0 and next(plan.pragmas) then
        header = false
      elseif not blank then
        local k, v = line:match("^%s*%%%s*([%w_-]+)%s*=?%s*(.-)%s*$")
        if k then
          plan.pragmas[k] = v
        else
          header = false
        end
      end
    end
    if not header and not blank then
      local content, note = line:match("^(.-)%s*#%s*(.*)$")
      content = (content or line):match("^%s*(.-)%s*$")
      note = note or ""
      local tag = content:match("^@(%S+)")
      if tag then
        if #plan.changes == 0 then refuse(string.format('tag "@%s" declared without a preceding change', tag)) end
        local c = plan.changes[#plan.changes]
        c.tags[#c.tags + 1] = { name = tag, note = note, line = n }
      elseif not content:find("^%%") then
        local op, name, rest
        op, name, rest = content:match("^([+-]?)%s*([^%s%[]+)%s*(.*)$")
        if not name then refuse("not a change or a tag: " .. line) end
        if op == "-" then refuse("'-" .. name .. "': a revert line in the plan (an old syntax) is not imported") end
        local deps = ""
        if rest:sub(1, 1) == "[" then
          deps, rest = rest:match("^%[([^%]]*)%]%s*(.*)$")
          if not deps then refuse("unclosed [ in the dependencies of " .. name) end
        end
        if not rest:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ%s+.-<[^>]+>$") then
          refuse("change " .. name .. ": missing timestamp or planner name and email")
        end
        local c = { name = name, requires = {}, conflicts = {}, note = note, line = n, tags = {} }
        for d in deps:gmatch("%S+") do
          if d:sub(1, 1) == "!" then c.conflicts[#c.conflicts + 1] = d:sub(2) else c.requires[#c.requires + 1] = d end
        end
        plan.changes[#plan.changes + 1] = c
      end
    end
  end
  plan.project, plan.uri = plan.pragmas.project, plan.pragmas.uri
  if not plan.project then errors.raise("usage", "Sqitch plan: missing %project pragma", { file = file }) end
  return plan
end

-- where the project's files are: sqitch.conf's settings, [engine "pg"] over [core]
local function layout(dir)
  local conf = read_conf(fs.join(dir, "sqitch.conf"))
  local function get(k) return conf["engine.pg." .. k] or conf["core." .. k] end
  local top = get("top_dir") and fs.join(dir, get("top_dir")) or dir
  return {
    conf = conf,
    plan = get("plan_file") and fs.join(dir, get("plan_file")) or fs.join(top, "sqitch.plan"),
    top = top,
    deploy = get("deploy_dir") and fs.join(dir, get("deploy_dir")) or fs.join(top, "deploy"),
    revert = get("revert_dir") and fs.join(dir, get("revert_dir")) or fs.join(top, "revert"),
    verify = get("verify_dir") and fs.join(dir, get("verify_dir")) or fs.join(top, "verify"),
    extension = get("extension") or "sql",
    registry = conf["engine.pg.registry"] or "sqitch",
  }
end

--- sqitch.detect(dir) -> 1 when dir holds a Sqitch project (its plan), else 0
function M.detect(dir)
  return fs.is_file(layout(dir).plan) and 1 or 0
end

--- sqitch.read(dir) -> project {name, migrations, vars, defaults, warnings}
function M.read(dir)
  local lay = layout(dir)
  if not fs.is_file(lay.plan) then errors.raise("usage", "Sqitch: no plan file " .. lay.plan) end
  local plan = M.parse_plan(fs.read(lay.plan), lay.plan)
  local project = { name = plan.project, plan = plan, migrations = {}, vars = {}, defaults = {}, warnings = {},
                    registry = lay.registry }
  for k, v in pairs(lay.conf) do
    local name = k:match("^core%.variables%.(.+)$") or k:match("^deploy%.variables%.(.+)$")
      or k:match("^engine%.pg%.variables%.(.+)$")
    if name then project.defaults[name] = v end
  end
  project.defaults.registry = project.defaults.registry or lay.registry   -- sqitch --set's it
  local function rel(p) return fs.relative(p, dir) end

  -- the tags declared after each change, up to the next instance of the same name: the
  -- earlier instance's scripts are <name>@<one of those tags>.<ext>
  local instances, seen_at = {}, {}
  for i, c in ipairs(plan.changes) do
    instances[c.name] = (instances[c.name] or 0) + 1
    c.instance = instances[c.name]
    if seen_at[c.name] then
      local prev = plan.changes[seen_at[c.name]]
      prev.rework_tags = {}
      for j = seen_at[c.name], i - 1 do
        for _, t in ipairs(plan.changes[j].tags) do prev.rework_tags[#prev.rework_tags + 1] = t.name end
      end
      if #prev.rework_tags == 0 then
        errors.raise("usage", string.format("Sqitch plan: change %s is reworked without a tag between",
                     c.name), { file = lay.plan, line = c.line })
      end
    end
    seen_at[c.name] = i
  end

  local position = {}
  for i, c in ipairs(plan.changes) do
    local base = c.name
    if c.rework_tags then
      for _, t in ipairs(c.rework_tags) do
        if fs.is_file(fs.join(lay.deploy, c.name .. "@" .. t .. "." .. lay.extension)) then
          base = c.name .. "@" .. t
          break
        end
      end
      if base == c.name then base = c.name .. "@" .. c.rework_tags[1] end
    end
    local function script(folder, role)
      local p = fs.join(folder, base .. "." .. lay.extension)
      if not fs.is_file(p) then return nil end
      local raw = fs.read(p)
      local r = rel(p)
      return { file = r, raw = raw, text = raw, copy = role .. "/" .. base .. ".sql" }
    end
    local m = { key = c.name .. "#" .. c.instance, name = c.name, version = c.name,
                phase = base ~= c.name and base or c.name, up = script(lay.deploy, "deploy"),
                down = script(lay.revert, "revert"), verify = script(lay.verify, "verify") }
    if not m.up then
      errors.raise("usage", string.format("Sqitch: change %s has no deploy script %s", c.name,
                   rel(fs.join(lay.deploy, base .. "." .. lay.extension))), { file = lay.plan, line = c.line })
    end
    m.checksum = digest.sha1(m.up.raw)
    -- what a reader needs that the phase cannot say: the note, the dependencies
    local desc = c.note ~= "" and c.note or nil
    local deps = {}
    if #c.requires > 0 then deps[#deps + 1] = "requires " .. table.concat(c.requires, ", ") end
    if #c.conflicts > 0 then deps[#deps + 1] = "conflicts with " .. table.concat(c.conflicts, ", ") end
    if #deps > 0 then desc = (desc and (desc .. " ") or "") .. "(" .. table.concat(deps, "; ") .. ")" end
    m.description = desc
    for _, d in ipairs(c.requires) do
      local proj, dname = d:match("^([^:]+):(.+)$")
      if proj and proj ~= plan.project then
        project.warnings[#project.warnings + 1] = { file = rel(lay.plan), line = c.line, message = string.format(
          "%s requires %s of another Sqitch project: deploy that project first (not checked)", c.name, d) }
      else
        local target = (dname or d):match("^([^@]+)") or d
        if not position[target] and not d:find("@") then
          errors.raise("usage", string.format("Sqitch plan: %s requires %s, which is not planned before it",
                       c.name, d), { file = lay.plan, line = c.line })
        end
      end
    end
    m.after = {}
    for _, t in ipairs(c.tags) do
      m.after[#m.after + 1] = "@" .. t.name .. (t.note ~= "" and (": " .. t.note) or "")
    end
    position[c.name] = i
    project.migrations[#project.migrations + 1] = m
  end
  return project
end

--- sqitch.history(db, project) -> {table, applied, failed, unknown, changed}: the changes
-- the registry holds as deployed (a change deployed then reverted is not there; a deploy
-- that failed was reverted by Sqitch and is only in its events)
function M.history(db, project)
  local tbl = db:query("SELECT to_regclass($1)::text AS t",
                       db:quote_ident(project.registry) .. ".changes")[1].t
  if not tbl then return nil end
  local rows = db:query(string.format([[SELECT change, script_hash FROM %s WHERE project = $1
                                        ORDER BY committed_at, change_id]], tbl), project.name)
  local by_key = {}
  for _, m in ipairs(project.migrations) do by_key[m.key] = m end
  local count, applied, unknown, changed = {}, {}, {}, {}
  for i = 1, rows.n do
    local r = rows[i]
    count[r.change] = (count[r.change] or 0) + 1
    local key = r.change .. "#" .. count[r.change]
    local m = by_key[key]
    if not m then
      unknown[#unknown + 1] = "change " .. r.change
    else
      applied[key] = true
      if r.script_hash and r.script_hash ~= m.checksum then changed[#changed + 1] = m.phase end
    end
  end
  return { table = tbl, applied = applied, failed = {}, unknown = unknown, changed = changed }
end

return M
