--- migrun.cli: the command line (policy layer). Help, option parsing and dispatch all come
-- from the table of verbs in migrun.commands. main(argv) returns the exit code (DESIGN.md):
-- 0 ok · 1 failed, database in a known state · 2 usage or playbook error · 3 environment
-- (connect, lock, missing tool) · 4 declined at a gate · 5 recovery failed too · 130
-- interrupted. With --json the last line on stdout is always the `result` event with `exit`.
local commands = require "migrun.commands"
local errors = require "migrun.errors"
local text = require "migrun.text"

local M = {}

local OPTIONS = commands.OPTIONS

local function usage(msg, hint)
  errors.raise("usage", msg, { hint = hint or "see migrun --help" }, 2)
end

local function flag_of(name)
  return (OPTIONS[name] and OPTIONS[name].short) and ("-" .. name) or ("--" .. name)
end

local function all_flags()
  local list = {}
  for name in pairs(OPTIONS) do list[#list + 1] = flag_of(name) end
  table.sort(list)
  return list
end

local function verb_names()
  local list = {}
  for _, v in ipairs(commands.VERBS) do list[#list + 1] = v.name end
  return list
end

-- ---------------------------------------------------------------------------------------
-- help, generated from the table

local function wrap(s, width, indent)
  local lines, line = {}, ""
  for word in s:gmatch("%S+") do
    if #line + #word + 1 > width and line ~= "" then
      lines[#lines + 1] = line
      line = word
    else
      line = line == "" and word or (line .. " " .. word)
    end
  end
  if line ~= "" then lines[#lines + 1] = line end
  return table.concat(lines, "\n" .. string.rep(" ", indent))
end

local function option_line(name)
  local o = OPTIONS[name]
  local left = flag_of(name) .. (o.arg and (" " .. o.arg) or "")
  return string.format("  %-18s %s", left, wrap(o.help, 72, 21))
end

local EXIT_CODES = [[
exit codes: 0 ok · 1 failed (database in a known state) · 2 usage or playbook error ·
3 environment error (cannot connect, lock held, tool missing) · 4 declined at a gate ·
5 failed and recovery failed: needs a human · 130 interrupted]]

--- cli.help([verb]) -> the help text of migrun, or of one verb: its page of the reference
-- (migrun.docs, the same text as `migrun help VERB` and the man page)
function M.help(name)
  if name then
    if not commands.by_name[name] then
      usage("no verb named '" .. name .. "'" .. text.did_you_mean(name, verb_names()))
    end
    return require("migrun.docs").text(name)
  end
  local lines = { "migrun — run a PostgreSQL production migration as a program", "", "usage:",
                  "  migrun PLAYBOOK.lua [options]    run it (same as `migrun run PLAYBOOK.lua`)",
                  "  migrun SCRIPT.lua [ARGS...]      a file that declares no playbook runs as a Lua script",
                  "  migrun -e CODE                   run a Lua chunk (`db` connects on first use)" }
  for _, v in ipairs(commands.VERBS) do
    local head = string.format("  migrun %s %s", v.name, table.concat(v.args, " "))
    if #head > 34 then
      lines[#lines + 1] = head
      lines[#lines + 1] = string.rep(" ", 35) .. wrap(v.summary, 60, 35)
    else
      lines[#lines + 1] = string.format("%-34s %s", head, wrap(v.summary, 60, 35))
    end
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "options (each verb takes the ones `migrun help VERB` lists):"
  local names = {}
  for o in pairs(OPTIONS) do names[#names + 1] = o end
  table.sort(names)
  for _, o in ipairs(names) do lines[#lines + 1] = option_line(o) end
  lines[#lines + 1] = ""
  lines[#lines + 1] = EXIT_CODES
  return table.concat(lines, "\n") .. "\n"
end

-- ---------------------------------------------------------------------------------------
-- parsing

local function allowed(v, name)
  for _, o in ipairs(v.options) do if o == name then return true end end
  return false
end

-- the positional arguments a verb takes: required ones, optional [ones], or a free tail
local function check_positional(v, opts, pos)
  if v.passthrough then return end
  if v.variadic then
    if #pos == 0 then
      usage(string.format("migrun %s needs %s", v.name, table.concat(v.args, " ")), "see migrun help " .. v.name)
    end
    opts.arg1, opts.files = pos[1], pos
    return
  end
  local required, optional = 0, 0
  for _, a in ipairs(v.args) do
    if a:find("^%[") then optional = optional + 1 else required = required + 1 end
  end
  if #pos < required then
    usage(string.format("migrun %s needs %s", v.name, table.concat(v.args, " ")),
          "see migrun help " .. v.name)
  end
  if #pos > required + optional then
    local extra = pos[required + optional + 1]
    usage(string.format("migrun %s takes %s; unexpected extra argument '%s'", v.name,
                        #v.args > 0 and table.concat(v.args, " ") or "no arguments", extra),
          v.extra_hint and v.extra_hint:format(extra) or ("see migrun help " .. v.name))
  end
  opts.arg1 = pos[1]
end

--- cli.parse(argv) -> verb entry, opts; raises kind="usage"
function M.parse(argv)
  local opts = { load = {}, set = {}, args = {} }
  local verb, pos, seen = nil, {}, {}
  local i, n = 1, #argv
  while i <= n do
    local a = argv[i]
    if verb and verb.passthrough and a ~= "--help" then
      opts.args[#opts.args + 1] = a                  -- busted's own options and paths
    elseif a == "--" then
      for j = i + 1, n do opts.args[#opts.args + 1] = argv[j] end
      break
    elseif a:sub(1, 1) == "-" and #a > 1 then
      local name, inline = a:match("^%-%-?([%w][%w-]*)=(.*)$")
      name = name or a:match("^%-%-?([%w][%w-]*)$")
      local o = name and OPTIONS[name]
      if not o or (o.short and a:sub(1, 2) == "--") or (not o.short and a:sub(1, 2) ~= "--") then
        usage("unknown option " .. a:match("^[^=]*") .. text.did_you_mean(a:match("^[^=]*"), all_flags()))
      end
      seen[#seen + 1] = name
      local key = name:gsub("-", "_")
      if o.kind == "flag" then
        if inline then usage(flag_of(name) .. " takes no value") end
        opts[key] = true
      else
        local v = inline
        if not v then
          i = i + 1
          v = argv[i]
          if v == nil then usage(flag_of(name) .. " needs a value (" .. o.arg .. ")") end
        end
        if o.kind == "list" then
          opts[key] = opts[key] or {}
          table.insert(opts[key], v)
        else
          if opts[key] ~= nil then usage(flag_of(name) .. " given twice") end
          opts[key] = v
        end
      end
    elseif not verb and #pos == 0 and commands.by_name[a] then
      verb = commands.by_name[a]
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  if not verb then
    verb = commands.SCRIPT
    if pos[1] then
      opts.file = table.remove(pos, 1)
      for k, a in ipairs(pos) do table.insert(opts.args, k, a) end   -- a script's own arguments
    end
  elseif not verb.passthrough and not opts.help then             -- busted reads test's own
    check_positional(verb, opts, pos)
    if verb.args[1] and verb.args[1]:find("%.lua") then opts.file = pos[1] end
  end
  for _, name in ipairs(seen) do
    if not allowed(verb, name) then
      local run = commands.by_name.run
      -- `migrun PLAYBOOK.lua --fleet F`: the verb's own option, written without the verb
      local hint = verb.script and allowed(run, name) and
        string.format("%s is an option of the run verb: migrun run %s %s ...", flag_of(name),
                      opts.file or "PLAYBOOK.lua", flag_of(name))
      usage(string.format("%s is not an option of `migrun %s`", flag_of(name),
                          verb.script and "PLAYBOOK.lua" or verb.name),
            hint or ("see migrun help " .. (verb.script and "run" or verb.name)))
    end
  end
  opts.vars = {}
  for _, kv in ipairs(opts.set or {}) do
    local k, v = kv:match("^([%a_][%w_]*)=(.*)$")
    if not k then usage("--set needs K=V (K a name of letters, digits and _), got " .. kv) end
    opts.vars[k] = v
  end
  return verb, opts
end

-- ---------------------------------------------------------------------------------------
-- main

local function report_error(out, e, verbose, tb)
  if out and out.json then
    out:error(e)
  else
    io.stderr:write("migrun: ", errors.text(e), "\n")
  end
  if verbose and tb then io.stderr:write(tb, "\n") end
end

local function argv_has_json(argv)
  for _, a in ipairs(argv) do if a == "--json" then return true end end
  return false
end

--- cli.main(argv) -> exit code
function M.main(argv)
  local ctx, verb, opts, tb
  local ok, res = xpcall(function()
    verb, opts = M.parse(argv)
    ctx = require("migrun.command").new(opts)
    if opts.help then
      ctx.out:text(M.help(not verb.script and verb.name or nil))
      return 0
    end
    if verb.script and opts.version then
      ctx.out:text(string.format("migrun %s (%s)\n", require("migrun").VERSION, _VERSION))
      ctx.out:data("version", { version = require("migrun").VERSION, lua = _VERSION })
      return 0
    end
    if verb.script and not opts.file and not opts.e then
      usage("nothing to run", "migrun PLAYBOOK.lua, migrun SCRIPT.lua, migrun -e CODE, or migrun --help")
    end
    return require("migrun.commands." .. verb.file).run(opts, ctx)
  end, function(e)
    tb = debug.traceback("", 2)
    return e
  end)
  if ctx then pcall(ctx.close, ctx) end
  local out = ctx and ctx.out
  local code = ok and res or errors.exit_code(res)
  if not ok then
    -- a JSON reader needs the error on stdout even before the options were understood
    if not out and argv_has_json(argv) then out = require("migrun.output").new({ json = true }) end
    report_error(out, res, opts and opts.verbose, tb)
  end
  if out then out:result({ exit = code, status = ctx and ctx.status, run_id = ctx and ctx.run_id,
                           report = ctx and ctx.report }) end
  return code
end

return M
