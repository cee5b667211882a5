-- The CI files users copy: .pre-commit-hooks.yaml (the migrun-lint hook) and
-- examples/ci/github-actions.yml. Both parse (a strict reader of the YAML they use, below), and
-- every migrun command in them is one the binary accepts: a real verb, options its help lists,
-- checked by running it with --help (the parser rejects what it does not know and runs nothing).
-- The hook is also run the way pre-commit runs it, on a safe and a dangerous SQL file.
local H = require "helper"
local proc = require "migrun.proc"

-- ---------------------------------------------------------------------------------------
-- YAML, the subset these files use: block mappings and sequences, plain and quoted scalars,
-- flow sequences of scalars, | and > block scalars, comments. Anything else (tabs, anchors,
-- tags, flow mappings, documents, duplicate keys) is an error naming the line. Scalars stay
-- strings; a key without a value holds M.NULL.

local M = { NULL = setmetatable({}, { __tostring = function() return "null" end }) }

local function yaml(text, name)
  local raw = {}
  for line in (text:gsub("\n?$", "\n")):gmatch("(.-)\n") do raw[#raw + 1] = line end
  local i = 1
  local function fail(msg, n) error(string.format("%s:%d: %s", name, n or i, msg), 0) end

  -- the line without its comment (a # at the start or after a space, outside quotes)
  local function content(n)
    local s, quote = raw[n], nil
    if s:find("\t") then fail("a tab", n) end
    for k = 1, #s do
      local c = s:sub(k, k)
      if quote then
        if c == quote then quote = nil end
      elseif (c == "'" or c == '"') and (k == 1 or s:sub(k - 1, k - 1):find("[%s%[,]")) then
        quote = c
      elseif c == "#" and (k == 1 or s:sub(k - 1, k - 1) == " ") then
        s = s:sub(1, k - 1)
        break
      end
    end
    return (s:gsub("%s+$", ""))
  end

  local function next_line()        -- the next line with content, from i on: index, indent, text
    while i <= #raw do
      local s = content(i)
      if s ~= "" then return i, #s:match("^ *"), s:match("^ *(.*)$") end
      i = i + 1
    end
  end

  local function scalar(s)
    if s == "" or s == "~" or s == "null" then return M.NULL end
    local first = s:sub(1, 1)
    if first == "'" then
      local body = s:match("^'(.*)'$") or fail("an unclosed 'string'")
      if body:gsub("''", ""):find("'") then fail("a ' inside a 'string'") end
      return (body:gsub("''", "'"))
    elseif first == '"' then
      local body = s:match('^"(.*)"$') or fail('an unclosed "string"')
      local esc = { n = "\n", t = "\t", ['"'] = '"', ["\\"] = "\\" }
      return (body:gsub("\\(.)", function(c) return esc[c] or fail("the escape \\" .. c) end))
    elseif first == "[" then
      local body = s:match("^%[(.*)%]$") or fail("an unclosed [list]")
      if body:find("[%[%]{}]") then fail("a nested flow collection") end
      local list = {}
      for item in (body .. ","):gmatch("%s*(.-)%s*,") do
        if item ~= "" then list[#list + 1] = scalar(item) end
      end
      return list
    elseif s:find("^[{&*!%%@`]") or s == "---" or s == "..." then
      fail("unsupported YAML: " .. s)
    end
    return s
  end

  local function block_scalar(style, parent)
    local lines, indent = {}, nil
    i = i + 1
    while i <= #raw do
      local s = raw[i]
      if s:find("\t") then fail("a tab") end
      local ind = #s:match("^ *")
      if s:match("^%s*$") then
        lines[#lines + 1] = ""
      elseif ind <= parent then
        break
      else
        indent = indent or ind
        if ind < indent then fail("a block scalar line indented less than its first") end
        lines[#lines + 1] = s:sub(indent + 1)
      end
      i = i + 1
    end
    while lines[#lines] == "" do lines[#lines] = nil end
    local joined = table.concat(lines, style:sub(1, 1) == ">" and " " or "\n")
    return style:sub(-1) == "-" and joined or joined .. "\n"
  end

  local block
  -- a value after "key:" or "- ": inline, a block scalar, or a block on the following lines
  local function value(rest, parent, n)
    if rest:find("^[|>]%-?$") then return block_scalar(rest, parent) end
    if rest ~= "" then
      local v = scalar(rest)
      i = n + 1
      return v
    end
    i = n + 1
    local m, ind = next_line()
    if m and ind > parent then return block(ind) end
    return M.NULL
  end

  function block(indent)
    local n, ind, s = next_line()
    if not n or ind ~= indent then fail("expected a block indented " .. indent) end
    if s == "-" or s:find("^%- ") then
      local list = {}
      while true do
        n, ind, s = next_line()
        if not n or ind < indent then break end
        if ind > indent or not (s == "-" or s:find("^%- ")) then fail("unexpected indentation or item") end
        local rest = s:sub(3)
        if rest:find("^[^'\"%[][^:]*:%s") or rest:find("^[^'\"%[][^:]*:$") then
          -- "- key: value": a mapping whose first line starts after the dash
          raw[n] = string.rep(" ", indent + 2) .. rest
          list[#list + 1] = block(indent + 2)
        else
          list[#list + 1] = value(rest, indent, n)
        end
      end
      return list
    end
    local map, seen = {}, {}
    while true do
      n, ind, s = next_line()
      if not n or ind < indent then break end
      if ind > indent then fail("unexpected indentation") end
      local key, rest = s:match("^([%w_][%w_%-%.]*):%s*(.-)$")
      if not key then fail("expected key: value, got " .. s) end
      if seen[key] then fail("the key " .. key .. " twice") end
      seen[key] = true
      map[key] = value(rest, indent, n)
    end
    return map
  end

  local n, ind = next_line()
  if not n then return nil end
  if ind ~= 0 then fail("the document must start at column 1") end
  local doc = block(0)
  if next_line() then fail("unexpected text after the document") end
  return doc
end

-- ---------------------------------------------------------------------------------------
-- the binary's own account of itself

local function run(argv, opts)
  local r = proc.run(argv, opts)
  assert(r.ok, table.concat(argv, " ") .. " failed: " .. tostring(r.stderr))
  return r.stdout
end

local said = {}
local function verbs()
  if not said.verbs then
    said.verbs = {}
    for name in run({ H.bin, "--help" }):gmatch("\n  migrun (%l[%l-]*)") do said.verbs[name] = true end
  end
  return said.verbs
end

-- the options `migrun help VERB` lists, as a set (VERB nil: every option, from `migrun --help`)
local function options(verb)
  local key = verb or "*"
  if not said[key] then
    local set = {}
    local out = run(verb and { H.bin, "help", verb } or { H.bin, "--help" })
    for line in out:match("\noptions[^\n]*:\n(.*)$"):gmatch("[^\n]+") do
      local o = line:match("^  (%-%-?%w[%w-]*)")
      if o then set[o] = true end
    end
    said[key] = set
  end
  return said[key]
end

-- words of a shell command line: quotes kept together (and removed), $VAR and ${VAR} left as
-- they are (a value, for the check)
local function shell_words(line)
  local words, w, quote, k = {}, nil, nil, 1
  while k <= #line do
    local c = line:sub(k, k)
    if quote then
      if c == quote then quote = nil else w = w .. c end
    elseif c == "'" or c == '"' then
      quote, w = c, w or ""
    elseif c:find("%s") then
      if w then words[#words + 1], w = w, nil end
    else
      w = (w or "") .. c
    end
    k = k + 1
  end
  assert(not quote, "an unclosed quote in: " .. line)
  if w then words[#words + 1] = w end
  return words
end

-- the migrun commands of a `run:` script: continuation lines joined, split at ; && || |
local function migrun_commands(script)
  local cmds = {}
  for line in (script:gsub("\\\n", " ") .. "\n"):gmatch("(.-)\n") do
    for part in (line:gsub("&&", ";"):gsub("||", ";"):gsub("|", ";") .. ";"):gmatch("(.-);") do
      local words = shell_words(part)
      if words[1] == "migrun" then cmds[#cmds + 1] = words end
    end
  end
  return cmds
end

-- a migrun command line is one the binary takes: its verb is real, each option is listed by
-- the verb's help, and the parser accepts the whole line (run with --help: nothing happens)
local function assert_real(words, where)
  local verb = verbs()[words[2]] and words[2] or nil
  assert(verb or (words[2] or ""):find("%.lua$") or (words[2] or ""):find("^%$"),
         string.format("%s: %s is not a verb of migrun", where, tostring(words[2])))
  local listed = options(verb or "run")
  for _, w in ipairs(words) do
    local o = w:match("^(%-%-?[%w][%w-]*)")
    if o then assert(listed[o], string.format("%s: %s is not an option of migrun %s", where, o, verb or "")) end
  end
  local argv = { H.bin }
  for k = 2, #words do argv[#argv + 1] = words[k]:gsub("%${?(%w+)}?", "x") end
  argv[#argv + 1] = "--help"
  local r = proc.run(argv)
  assert(r.status == 0, string.format("%s: `%s` is refused: %s", where, table.concat(words, " "), r.stderr))
  return verb
end

-- ---------------------------------------------------------------------------------------

describe("the YAML reader of this spec", function()
  it("reads the forms the CI files use", function()
    local doc = yaml(table.concat({
      "# a comment", "a: plain text  # and a comment", "b: 'it''s'", 'c: "q\\"x"', "d: [x, 'y z']",
      "e:", "  - one", "  - k: v", "    k2: v2", "  -", "    - nested", "f: |", "  line 1", "", "  line 2",
      "g: >-", "  folded", "  text", "h:", "i: ${{ env.X }}", "j: don't # stop", "" }, "\n"), "t")
    assert.same({ a = "plain text", b = "it's", c = 'q"x', d = { "x", "y z" },
                  e = { "one", { k = "v", k2 = "v2" }, { "nested" } }, f = "line 1\n\nline 2\n",
                  g = "folded text", h = M.NULL, i = "${{ env.X }}", j = "don't" }, doc)
  end)

  it("refuses what it does not read, naming the line", function()
    for bad, line in pairs({ ["a: 1\na: 2"] = 2, ["a:\n\t- x"] = 2, ["a: &anchor x"] = 1, ["a: {x: 1}"] = 1,
                             ["a:\n  - x\n   - y"] = 3, ["a: 'open"] = 1, ["- x\nb: y"] = 2 }) do
      local ok, err = pcall(yaml, bad, "t")
      assert.is_false(ok, bad)
      assert.truthy(tostring(err):find("^t:" .. line .. ": "), tostring(err))
    end
  end)
end)

describe(".pre-commit-hooks.yaml", function()
  local hooks = yaml(H.read(H.source .. "/.pre-commit-hooks.yaml"), ".pre-commit-hooks.yaml")

  local function hook(id)
    for _, h in ipairs(hooks) do if h.id == id then return h end end
    error("no hook " .. id)
  end

  it("has the migrun-lint hook: a real verb and options, run from the system, on .sql files", function()
    local h = hook("migrun-lint")
    assert.equal("system", h.language)
    assert.equal("migrun lint", h.name)
    local words = shell_words(h.entry)
    for _, a in ipairs(h.args or {}) do words[#words + 1] = a end
    assert.equal("lint", assert_real(words, "entry"))
    assert.truthy(h.description and #h.description > 0)
    -- pre-commit matches `files` (a Python regex; this one reads the same in Lua) on the path
    local pattern = h.files:gsub("\\%.", "%%."):gsub("%$$", "$")
    assert.equal("\\.sql$", h.files)
    assert.truthy(("db/001_add.sql"):find(pattern))
    assert.falsy(("db/001_add.sql.orig"):find(pattern))
    assert.falsy(("playbook.lua"):find(pattern))
  end)

  it("passes a safe migration and fails a dangerous one, as pre-commit runs it", function()
    local h, dir = hook("migrun-lint"), H.tmpdir()
    local safe = H.write(dir .. "/001_safe.sql",
      "SET lock_timeout = '2s';\nCREATE TABLE t (id bigint PRIMARY KEY, note text);\n")
    local bad = H.write(dir .. "/002_index.sql",
      "SET lock_timeout = '2s';\nCREATE INDEX orders_customer_idx ON orders (customer_id);\n")
    -- pre-commit runs: entry, its args, then the changed files that match `files`
    local argv = shell_words(h.entry)
    argv[1] = H.bin
    for _, a in ipairs(h.args or {}) do argv[#argv + 1] = a end
    local function with(files)
      local a = { table.unpack(argv) }
      for _, f in ipairs(files) do a[#a + 1] = f end
      return proc.run(a, { env = { NO_COLOR = "1" } })
    end
    local ok = with({ safe })
    assert.equal(0, ok.status, ok.stdout .. ok.stderr)
    local r = with({ safe, bad })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("002_index.sql:2:1: error:", 1, true), r.stdout .. r.stderr)
    assert.truthy((r.stdout .. r.stderr):find("[require-concurrent-index]", 1, true))
  end)
end)

describe("examples/ci/github-actions.yml", function()
  local path = H.source .. "/examples/ci/github-actions.yml"
  local wf = yaml(H.read(path), "examples/ci/github-actions.yml")

  local function steps_running()
    local list = {}
    for job_name, job in pairs(wf.jobs) do
      for k, step in ipairs(job.steps) do
        if step.run then list[#list + 1] = { where = job_name .. ".steps[" .. k .. "]", run = step.run, job = job } end
      end
    end
    table.sort(list, function(a, b) return a.where < b.where end)
    return list
  end

  it("is a workflow: triggers, and jobs of steps that each use an action or run a script", function()
    assert.equal("migrun", wf.name)
    assert.truthy(wf.on.pull_request and wf.on.push)
    local n = 0
    for name, job in pairs(wf.jobs) do
      n = n + 1
      assert.truthy(job["runs-on"], name)
      assert.truthy(#job.steps > 0, name)
      for k, step in ipairs(job.steps) do
        assert((step.uses ~= nil) ~= (step.run ~= nil), name .. ".steps[" .. k .. "] needs uses or run")
      end
      for _, need in ipairs(type(job.needs) == "table" and job.needs or { job.needs }) do
        assert(wf.jobs[need], name .. " needs a job " .. need .. " that is not there")
      end
    end
    assert.truthy(n >= 2)
  end)

  it("runs migrun lint --format github over the playbook, and a rehearsal on a PostgreSQL 15 service", function()
    local seen = {}
    for _, s in ipairs(steps_running()) do
      for _, words in ipairs(migrun_commands(s.run)) do
        local verb = assert_real(words, s.where)
        seen[verb or "run"] = seen[verb or "run"] or {}
        table.insert(seen[verb or "run"], { words = table.concat(words, " "), job = s.job })
        -- the variables the command reads are set by the workflow or its job
        for var in table.concat(words, " "):gmatch("%$%{?([%w_]+)") do
          assert(wf.env[var] or (s.job.env and s.job.env[var]), s.where .. ": $" .. var .. " is never set")
        end
      end
    end
    assert.truthy(seen.lint, "no migrun lint")
    assert.truthy(seen.lint[1].words:find("--format github", 1, true), seen.lint[1].words)
    assert.truthy(seen.rehearse, "no migrun rehearse")
    local job = seen.rehearse[1].job
    assert.equal("postgres:15", job.services.postgres.image)
    assert.equal(job.services.postgres.env.POSTGRES_PASSWORD, job.env.PGPASSWORD)
    assert.equal("postgres", job.env.PGHOST)
  end)

  it("builds migrun with every library the build needs, and installs the .deb cpack makes", function()
    -- each -dev package scripts/deps.sh installs for the build is installed here too
    local deps = H.read(H.source .. "/scripts/deps.sh"):match("pkgs=%((.-)%)")
    local scripts = {}
    for _, s in ipairs(steps_running()) do scripts[#scripts + 1] = s.run end
    local all = table.concat(scripts, "\n")
    for p in deps:gmatch("[%w.+-]+%-dev") do
      assert.truthy(all:find(p, 1, true), p .. " is missing from the workflow's apt-get install")
    end
    assert.truthy(all:find("cpack -G DEB", 1, true))
    assert.truthy(all:find("apt-get install -y -qq ./migrun_*.deb", 1, true))
  end)
end)
