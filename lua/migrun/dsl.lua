--- migrun.dsl: the playbook language. Loads a playbook file in an environment of its own
-- whose globals are the DSL names (playbook, phase, step, sql, gate, expect, backup, var,
-- env), and validates everything before a database is touched: unknown keys (with a "did
-- you mean"), wrong types, duplicate phases, missing .sql files, budgets that don't parse.
-- Every error names the playbook file and line.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local hash = require "migrun.hash"
local http = require "migrun.http"
local hooks = require "migrun.hooks"
local text = require "migrun.text"

local M = {}

-- where the DSL call was written: the first stack level outside this file
local function here()
  for level = 2, 12 do
    local info = debug.getinfo(level, "Sl")
    if not info then break end
    if info.source:sub(1, 1) == "@" and not info.source:find("migrun/dsl%.lua$") then
      return info.source:sub(2), info.currentline
    end
  end
  return nil, nil
end

local function fail(at, fmt, ...)
  error(errors.new("playbook", string.format(fmt, ...), { file = at.file, line = at.line }), 0)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- check the hash part of a DSL table against its allowed keys and their types
local function check_keys(at, what, tbl, allowed)
  for k, v in pairs(tbl) do
    if math.type(k) ~= "integer" then
      local want = allowed[k]
      if not want then
        fail(at, "%s: unknown key '%s'%s", what, tostring(k),
             text.did_you_mean(tostring(k), sorted_keys(allowed)))
      end
      local ok = false
      for ty in want:gmatch("[^|]+") do
        if type(v) == ty or (ty == "expectations" and type(v) == "table")
           or (ty == "budget" and (type(v) == "string" or type(v) == "table"))
           or (ty == "step" and type(v) == "table" and v.kind and
               (v.kind == "sql" or v.kind == "lua" or v.kind == "backfill"))
           or (ty == "step" and type(v) == "function") then
          ok = true
        end
      end
      if not ok then
        fail(at, "%s: '%s' must be %s, not %s", what, k, want:gsub("|", " or "), type(v))
      end
    end
  end
end

local function parse_duration(at, what, v)
  local ns, err = clock.parse(v)
  if not ns then fail(at, "%s: %s", what, err) end
  return ns
end

-- budget = "400ms" | { "400ms", warn = true }
local function parse_budget(at, what, v)
  if v == nil then return nil end
  if type(v) == "table" then
    for k in pairs(v) do
      if k ~= 1 and k ~= "warn" then fail(at, "%s: budget table takes the duration and warn = true", what) end
    end
    return { ns = parse_duration(at, what .. ": budget", v[1]), warn = v.warn == true, text = v[1] }
  end
  return { ns = parse_duration(at, what .. ": budget", v), warn = false, text = v }
end

-- lines first..last of src joined by "\n" (lines past its end are none); starts: the byte each
-- line begins at, filled on first use
local function line_range(src, starts, first, last)
  if #starts == 0 then
    starts[1] = 1
    for nl in src:gmatch("()\n") do starts[#starts + 1] = nl + 1 end
  end
  first, last = math.max(first, 1), math.min(last, #starts)
  if first > last then return "" end
  return src:sub(starts[first], starts[last + 1] and starts[last + 1] - 2 or #src)
end

local function is_sql_file(s)
  return s:sub(-4):lower() == ".sql" and not s:find("%s")
end

--- M.new_env(path, opts) -> env, decl: a fresh playbook environment
-- opts.vars: {K = V} from --set; opts.globals: extra globals (the lazy `db` of scripts)
function M.new_env(path, opts)
  opts = opts or {}
  local dir = path:match("^(.*)/[^/]*$") or "."
  local decl = { dir = dir, path = path, used = false, playbooks = {} }
  -- the files expectations read (pgTAP tests, from the playbook's directory) are there now,
  -- not found missing after a phase has run
  local function files_there(list, what)
    for _, e in ipairs(list) do
      local missing = e:missing_files(dir)
      if missing then fail({ file = e.file, line = e.line }, "%s: %s: %s", what, tostring(e), missing) end
    end
  end
  local env = {}
  -- the Lua files this load reads (the playbook for its checksum and for each Lua step's
  -- body), each read once: path -> {src = text | false, starts = {}}
  local sources = {}
  local function source(file)
    local f = sources[file]
    if not f then
      f = { src = text.readfile(file) or false, starts = {} }
      sources[file] = f
    end
    return f
  end

  -- where a DSL name was called (the file now declares something, not a plain script's error);
  -- with `usage` (`phase "add column" { ... }`), name must be a non-empty string, else the
  -- error shows that usage
  local function call_site(name, usage)
    decl.used = true
    local file, line = here()
    local at = { file = file, line = line }
    if usage and (type(name) ~= "string" or name == "") then
      fail(at, "%s: expects a name first, like %s", usage:match("^%a+"), usage)
    end
    return at
  end

  local function resolve(p)
    if p:sub(1, 1) == "/" then return p end
    return dir .. "/" .. p
  end

  --- sql "file.sql" | sql [[inline]] -> a step
  local STEP_KEYS = { budget = "budget", name = "string" }

  function env.sql(s, o)
    local at = call_site()
    if type(s) ~= "string" then fail(at, "sql: expects a file name or SQL text, got %s", type(s)) end
    local step = { kind = "sql", line = at.line, source = at.file }
    if o ~= nil then
      if type(o) ~= "table" then fail(at, "sql: options must be a table { budget = ... }") end
      check_keys(at, "sql", o, STEP_KEYS)
      step.budget = parse_budget(at, "sql", o.budget)
      step.name = o.name
    end
    if is_sql_file(s) then
      step.name, step.file, step.path = step.name or s, s, resolve(s)
      local body, err = text.readfile(step.path)
      if not body then fail(at, "sql: cannot read %s (%s)", s, err) end
      step.text = body
    else
      step.text = s
    end
    local nul = step.text:find("\0", 1, true)
    if nul then
      fail(at, "sql: %s holds a NUL byte at byte offset %d: PostgreSQL would cut the SQL there",
           step.file or "the SQL", nul - 1)
    end
    -- psql's variables, from --set: :name, :'name' (a literal), :"name" (an identifier); the
    -- checksum is of the SQL that runs, so another value is drift
    -- (an inline step's line is looked up only when an error needs it: text_line reads the
    -- playbook file, and doing that for every step made loading quadratic in its size)
    step.text = require("migrun.sqlvars").expand(step.text, opts.vars or {},
      step.file and { file = step.path } or setmetatable({ file = at.file }, { __index = function(_, k)
        if k == "line" then return M.text_line(step) end
      end }))
    step.checksum = hash.text(step.text)
    return step
  end

  --- step "name" (function(db, run) ... end) -> a Lua step
  function env.step(name, o)
    local at = call_site(name, 'step "name" (function(db) ... end)')
    local budget
    if o ~= nil then
      if type(o) ~= "table" then fail(at, "step '%s': options must be a table { budget = ... }", name) end
      check_keys(at, "step '" .. name .. "'", o, STEP_KEYS)
      budget = parse_budget(at, "step '" .. name .. "'", o.budget)
    end
    -- options go with the name, step("x", { budget = "1s" }) (fn), or after the function,
    -- step "x" (fn, { budget = "1s" }); anything else after it is a mistake, not ignored
    return function(fn, o2, ...)
      if type(fn) ~= "function" then fail(at, "step '%s': expects a function, got %s", name, type(fn)) end
      if select("#", ...) > 0 then fail(at, "step '%s': takes a function and options, not more", name) end
      if o2 ~= nil then
        if type(o2) ~= "table" then fail(at, "step '%s': options must be a table { budget = ... }", name) end
        if o ~= nil then fail(at, "step '%s': options given twice", name) end
        check_keys(at, "step '" .. name .. "'", o2, STEP_KEYS)
        budget = parse_budget(at, "step '" .. name .. "'", o2.budget)
      end
      local info = debug.getinfo(fn, "S")
      local file = info.source:sub(1, 1) == "@" and source(info.source:sub(2))
      local src = file and file.src and line_range(file.src, file.starts, info.linedefined, info.lastlinedefined)
        or string.dump(fn, true)
      return { kind = "lua", name = name, fn = fn, line = at.line, budget = budget,
               checksum = hash.text(src or ""), body = src }
    end
  end

  local PHASE_KEYS = {
    description = "string", budget = "budget", verify = "expectations", rollback = "step",
    transaction = "boolean", lock_timeout = "string|number", statement_timeout = "string|number",
    retries = "number",
  }

  --- phase "name" { steps..., budget =, verify =, rollback =, transaction = } -> a phase
  function env.phase(name)
    local at = call_site(name, 'phase "add column" { sql [[...]], rollback = ... }')
    return function(t)
      local what = string.format("phase '%s'", name)
      if type(t) ~= "table" then fail(at, "%s: expects a table { ... }", what) end
      check_keys(at, what, t, PHASE_KEYS)
      local ph = { kind = "phase", name = name, line = at.line, file = at.file, steps = {},
                   description = t.description, transaction = t.transaction ~= false,
                   budget = parse_budget(at, what, t.budget), verify = t.verify or {},
                   retries = t.retries }
      if t.lock_timeout then ph.lock_timeout = parse_duration(at, what .. ": lock_timeout", t.lock_timeout) end
      if t.statement_timeout then
        ph.statement_timeout = parse_duration(at, what .. ": statement_timeout", t.statement_timeout)
      end
      local names = {}
      for i, s in ipairs(t) do
        if type(s) ~= "table" or (s.kind ~= "sql" and s.kind ~= "lua" and s.kind ~= "backfill") then
          fail(at, "%s: item %d is not a step (use sql \"file.sql\", sql [[...]], step \"name\" (fn) " ..
                   "or backfill \"table\" { ... })", what, i)
        end
        if s.kind == "backfill" and ph.transaction then
          fail(at, "%s: a backfill commits batch by batch: its phase needs transaction = false", what)
        end
        if not s.name then s.name = string.format("sql #%d", i) end
        if names[s.name] then fail(at, "%s: two steps named '%s'", what, s.name) end
        names[s.name] = true
        ph.steps[#ph.steps + 1] = s
      end
      if #ph.steps == 0 then fail(at, "%s: has no steps", what) end
      if type(t.rollback) == "function" then
        ph.rollback = env.step("rollback")(t.rollback)
      elseif t.rollback then
        ph.rollback = t.rollback
      end
      if ph.rollback and ph.rollback.kind == "backfill" then
        if ph.transaction then
          fail(at, "%s: a backfill rollback commits batch by batch: the phase needs transaction = false", what)
        end
        ph.rollback.name = "rollback " .. ph.rollback.name     -- its own checkpoint
      end
      if ph.rollback and not ph.rollback.name then ph.rollback.name = "rollback" end
      for i, e in ipairs(ph.verify) do
        if not env.expect.is(e) then fail(at, "%s: verify item %d is not an expectation (expect.*)", what, i) end
      end
      files_there(ph.verify, what)
      return ph
    end
  end

  --- backfill "table" { set =, where = | from =, select =, ... } -> a batched, resumable step
  function env.backfill(tbl)
    local at = call_site()
    return function(t)
      return require("migrun.backfill").new(tbl, t, at, { fail = fail, check_keys = check_keys,
        parse_budget = parse_budget, parse_duration = parse_duration })
    end
  end

  --- watch "name" { duration =, every =, thresholds..., on_breach = } -> a window after the
  -- last phase (migrun.watch)
  function env.watch(name)
    local at = call_site(name, 'watch "after deploy" { duration = "15m", ... }')
    return function(t)
      return require("migrun.watch").new(name, t, at, { fail = fail, check_keys = check_keys,
        parse_duration = parse_duration, is_expectation = env.expect.is })
    end
  end

  --- gate "name" { "question", ... } -> a gate
  function env.gate(name)
    local at = call_site(name, 'gate "go/no-go" { "Is the app in maintenance mode?" }')
    return function(items)
      if type(items) ~= "table" then fail(at, "gate '%s': expects a list of questions", name) end
      for i, q in ipairs(items) do
        if type(q) ~= "string" then fail(at, "gate '%s': item %d is not a string", name, i) end
      end
      return { kind = "gate", name = name, items = items, line = at.line, file = at.file }
    end
  end

  local PLAYBOOK_KEYS = {
    description = "string", budget = "budget", lock_timeout = "string|number",
    statement_timeout = "string|number", on_failure = "string", preflight = "expectations",
    backup = "table", protect = "table", verify = "expectations", report = "string",
    database = "string", retries = "number", snapshot = "table", lint = "table", rehearse = "table",
    hooks = "table", notify = "table",
  }
  local POLICIES = { rollback = true, stop = true, restore = true }

  --- playbook "name" { ... }: declares the playbook of this file
  function env.playbook(name)
    local at = call_site(name, 'playbook "add email" { phase "..." { ... } }')
    return function(t)
      local what = string.format("playbook '%s'", name)
      if type(t) ~= "table" then fail(at, "%s: expects a table { ... }", what) end
      if #decl.playbooks > 0 then fail(at, "a file declares one playbook; this is the second") end
      check_keys(at, what, t, PLAYBOOK_KEYS)
      local pb = {
        name = name, file = at.file, line = at.line, dir = dir, path = path,
        description = t.description, budget = parse_budget(at, what, t.budget),
        lock_timeout = parse_duration(at, what .. ": lock_timeout", t.lock_timeout or "2s"),
        on_failure = t.on_failure or "rollback", preflight = t.preflight or {},
        verify = t.verify or {}, backup = t.backup, report = t.report and resolve(t.report),
        database = t.database, retries = t.retries or 5, items = {}, phases = {}, protect = {},
        snapshot = t.snapshot or {}, vars = opts.vars or {},
      }
      if t.statement_timeout then
        pb.statement_timeout = parse_duration(at, what .. ": statement_timeout", t.statement_timeout)
      end
      if not POLICIES[pb.on_failure] then
        fail(at, "%s: on_failure must be \"rollback\", \"stop\" or \"restore\", not %q%s", what,
             pb.on_failure, text.did_you_mean(pb.on_failure, { "rollback", "stop", "restore" }))
      end
      if pb.backup ~= nil then
        local ok, missing = require("migrun.backup").is_spec(pb.backup)
        if not ok then
          fail(at, "%s: backup must be a backup spec (backup.dump { ... } or backup.tables { ... }); " ..
               "this one has no %s", what, missing)
        end
      end
      if pb.on_failure == "restore" then
        if pb.backup == nil then
          fail(at, "%s: on_failure = \"restore\" needs a backup to restore: add " ..
               "backup = backup.dump { dir = ... }", what)
        elseif type(pb.backup.restore) ~= "function" then
          fail(at, "%s: on_failure = \"restore\", but this backup (%s) cannot restore itself", what,
               pb.backup:describe())
        end
      end
      for k, v in pairs(t.lint or {}) do
        if type(k) ~= "string" or (v ~= "off" and v ~= "warn" and v ~= "error") then
          fail(at, "%s: lint = { [\"rule-id\"] = \"off\" | \"warn\" | \"error\" }, not %s = %s", what,
               tostring(k), tostring(v))
        end
      end
      pb.lint = t.lint or {}
      for k, v in pairs(t.rehearse or {}) do
        if k ~= "prove_rollbacks" or type(v) ~= "boolean" then
          fail(at, "%s: rehearse = { prove_rollbacks = true | false }, not %s = %s", what, tostring(k), tostring(v))
        end
      end
      pb.rehearse = t.rehearse
      pb.hooks = hooks.parse(at, what, t.hooks)
      pb.notify = hooks.parse_notify(at, what, t.notify)
      for _, list in ipairs({ { "preflight", pb.preflight }, { "verify", pb.verify } }) do
        for i, e in ipairs(list[2]) do
          if not env.expect.is(e) then fail(at, "%s: %s item %d is not an expectation (expect.*)", what, list[1], i) end
        end
      end
      files_there(pb.preflight, what)
      files_there(pb.verify, what)
      for k, v in pairs(t.protect or {}) do
        if math.type(k) == "integer" then
          pb.protect[#pb.protect + 1] = { table = v, mode = "same" }
        elseif v == "grow" or v == "same" then
          pb.protect[#pb.protect + 1] = { table = k, mode = v }
        else
          fail(at, "%s: protect.%s must be \"same\" or \"grow\"", what, tostring(k))
        end
      end
      table.sort(pb.protect, function(a, b) return a.table < b.table end)
      for i, item in ipairs(t) do
        if type(item) ~= "table" or (item.kind ~= "phase" and item.kind ~= "gate" and item.kind ~= "watch") then
          fail(at, "%s: item %d is neither a phase, a gate nor a watch", what, i)
        end
        if item.kind == "phase" then
          if pb.phases[item.name] then
            fail({ file = item.file, line = item.line }, "%s: two phases named '%s' (lines %d and %d)",
                 what, item.name, pb.phases[item.name].line, item.line)
          end
          pb.phases[item.name] = item
        end
        if item.kind == "watch" then
          require("migrun.watch").add(pb, item, fail)         -- after the last phase, not an item
        else
          pb.items[#pb.items + 1] = item
        end
      end
      if not next(pb.phases) then fail(at, "%s: has no phases", what) end
      local last = pb.items[#pb.items]
      if last.kind == "gate" then
        fail({ file = last.file, line = last.line }, "%s: gate '%s' comes after the last phase, so it " ..
             "would never be asked: a gate holds back the phases after it; put it before the phase it " ..
             "guards", what, last.name)
      end
      pb.checksum = hash.text(source(path).src or "")
      decl.playbooks[#decl.playbooks + 1] = pb
      return pb
    end
  end

  env.expect = require "migrun.expect"
  -- `backup` stands for migrun.backup, loaded when the playbook first uses it: most playbooks
  -- never do, and its 1000 lines (with the sandbox's) were a fifth of what `migrun status
  -- PLAYBOOK` loaded to learn the playbook's name
  local backup
  local function backup_module()
    backup = backup or require "migrun.backup"
    return backup
  end
  env.backup = setmetatable({}, {
    __index = function(_, k) return backup_module()[k] end,
    __pairs = function() return next, backup_module(), nil end,   -- the reference, completion
  })

  --- var.K: a playbook variable from --set K=V (nil when unset); var("K", default)
  env.var = setmetatable({}, {
    __index = function(_, k) return (opts.vars or {})[k] end,
    __call = function(_, k, default)
      local v = (opts.vars or {})[k]
      if v == nil then return default end
      return v
    end,
    __newindex = function() error("var is read-only: set variables with --set K=V", 2) end,
  })
  --- env.NAME: an environment variable; env("NAME", default). A name that says it holds a
  -- credential (..TOKEN, ..SECRET, ..PASSWORD, ..KEY, ..WEBHOOK, ..AUTH..) gives a secret
  -- (migrun.http): "***" wherever it is shown, its text only in the request that carries it
  local function getenv(k, default)
    local v = os.getenv(k)
    if v == nil then return default end
    if type(k) == "string" and M.is_secret_name(k) then return http.secret(v) end
    return v
  end
  env.env = setmetatable({}, {
    __index = function(_, k) return getenv(k) end,
    __call = function(_, k, default) return getenv(k, default) end,
  })
  local loading = false
  decl.set_loading = function(v) loading = v end
  env.http = http.for_playbook(function() return loading end)

  for k, v in pairs(opts.globals or {}) do env[k] = v end
  -- in a playbook, a name that is neither a DSL name, a global of Lua, nor one the file set is
  -- a typo (`phsae "x"`): say so where it was written, instead of "attempt to call a nil value"
  local fallback = opts.index or _G
  setmetatable(env, { __index = function(t, k)
    local v
    if type(fallback) == "function" then v = fallback(t, k) else v = fallback[k] end
    if v == nil and decl.used and type(k) == "string" then
      local names = {}
      for name in pairs(env) do names[#names + 1] = name end
      for name in pairs(_G) do names[#names + 1] = name end
      table.sort(names)
      local file, line = here()
      fail({ file = file, line = line }, "unknown name '%s'%s", k, text.did_you_mean(k, names))
    end
    return v
  end })
  return env, decl
end

--- dsl.text_line(step) -> the playbook line where an inline SQL step's text begins. Lua
-- reports a call's last line (the closing ]]), and drops a newline right after [[, so the
-- text is looked up in the file itself; counted back from the call when it cannot be found.
function M.text_line(st)
  if st.text_line then return st.text_line end
  local _, k = st.text:gsub("\n", "")
  local guess = st.line - k
  local src = st.source and text.readfile(st.source)
  if src then
    src = src:gsub("\r\n", "\n")
    local best, at = nil, 1
    while true do
      local i = src:find(st.text, at, true)
      if not i then break end
      local line = select(2, src:sub(1, i - 1):gsub("\n", "")) + 1
      if line <= st.line and (not best or line > best) then best = line end
      at = i + 1
    end
    if best then
      -- a text that starts on the line after [[ begins at that line's start
      guess = best
    end
  end
  st.text_line = guess
  return guess
end

--- dsl.is_secret_name(name) -> true for an environment variable whose name says it holds a
-- credential
function M.is_secret_name(name)
  local n = name:upper()
  for _, w in ipairs({ "TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "WEBHOOK", "AUTH", "CREDENTIAL" }) do
    if n:find(w, 1, true) then return true end
  end
  return false
end

local function compile(path, env)
  local chunk, err = loadfile(path, "t", env)
  if not chunk then
    if err:find("^cannot open") then errors.raise("usage", err, nil, 3) end
    local file, line, msg = err:match("^(.-):(%d+): (.*)$")
    errors.raise("playbook", msg or err, { file = file, line = tonumber(line) }, 3)
  end
  return chunk
end

--- dsl.check_syntax(path): raises kind="playbook" (file:line) for a file Lua cannot compile,
-- before anything connects
function M.check_syntax(path)
  compile(path, {})
end

--- dsl.load(path [, opts]) -> playbook | nil, env (nil: the file declares no playbook, it
-- ran as a plain script); raises kind="playbook" with file and line. An error raised while the
-- file runs is the playbook's (exit 2) once it used a DSL name, or whenever opts.playbook says
-- the caller wants a playbook (plan, check, ...); else it is a plain script's own error.
function M.load(path, opts)
  local env, decl = M.new_env(path, opts)
  local chunk = compile(path, env)
  local previous = M.current
  M.current = env
  decl.set_loading(true)
  local ok, e = pcall(chunk, table.unpack(opts and opts.args or {}))
  decl.set_loading(false)
  M.current = previous
  if not ok then
    if errors.is(e) then error(e, 0) end
    if decl.used or (opts and opts.playbook) then
      local file, line, msg = tostring(e):match("^(.-):(%d+): (.*)$")
      errors.raise("playbook", msg or tostring(e), { file = file, line = tonumber(line) })
    end
    error(e, 0)                                       -- a plain script's own error
  end
  return decl.playbooks[1], env
end

return M
