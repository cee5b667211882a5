-- A documented example that stops working fails the suite: every example of the reference
-- (entries and options) loads with the playbook language; every ```lua block of the Markdown
-- in docs/, README.md and examples/*/README.md compiles, loads as a playbook where it is one,
-- and runs against PostgreSQL where it is marked to; every `migrun ...` line of a ```sh block
-- or a command example parses as the command line would parse it.
--
-- Markers, on the line right before a fence:
--   <!-- migrun:example CONTEXT [run] [set K=V]... -->   load it in CONTEXT (docs.CONTEXTS),
--                                           with --set K=V; run: also run it, on a fresh
--                                           database holding the last setup
--   <!-- migrun:setup -->                   this ```sql block is the next run's database
--   <!-- migrun:example abridged FILE -->   an abridged copy of FILE (from the repository root):
--                                           FILE loads, and every token of the block is in FILE,
--                                           in order (`...` stands for what was left out)
-- An unmarked ```lua block that declares a playbook loads as a whole file; any other compiles.
-- An example loads with the environment variables of EXAMPLE_ENV set (below).
local H = require "helper"
local R = require "runtime"
local docs = require "migrun.docs"
local lfs = require "lfs"

-- ---------------------------------------------------------------------------------------
-- loading an example

-- the environment variables an example may read, as they are while it loads: a fleet file's
-- catalog (env.CATALOG_URL) is the harness's database, which a targets function then queries
local EXAMPLE_ENV = { CATALOG_URL = function() return H.conninfo() end }

-- loader.load(path, opts) with EXAMPLE_ENV set: os.getenv answers for it meanwhile (the DSLs
-- read env.NAME through os.getenv, and a C getenv would need a setenv this VM has not)
local function load_with_env(loader, path, opts)
  local getenv = os.getenv
  os.getenv = function(k)                     -- luacheck: ignore 122 (restored below)
    if EXAMPLE_ENV[k] then return EXAMPLE_ENV[k]() end
    return getenv(k)
  end
  local ok, res = pcall(require(loader).load, path, opts)
  os.getenv = getenv                          -- luacheck: ignore 122
  return ok, res
end

-- write the example as a playbook in a directory of its own, with each `sql "x.sql"` file,
-- relative `cafile = "x"` and a file for each `expect.pgtap "glob"` it names (their content is
-- not what the example shows), and load it with the DSL (or the context's own loader: a fleet
-- file's), with the --set variables `vars`
local function load_playbook(text, loader, vars)
  local dir = H.tmpdir()
  local files = {}
  for file in text:gmatch('sql%s*%(?%s*"([^"%s]+%.sql)"') do files[#files + 1] = file end
  for file in text:gmatch('cafile%s*=%s*"([^"/][^"]*)"') do files[#files + 1] = file end
  for glob in text:gmatch('pgtap%s*%(?%s*"([^"/][^"]*)"') do
    files[#files + 1] = (glob:gsub("%*", "example"))
  end
  for _, file in ipairs(files) do
    local path = dir .. "/" .. file
    local parent = path:match("^(.*)/")
    assert(require("migrun.proc").run({ "mkdir", "-p", parent }).ok)
    H.write(path, "SELECT 1;\n")
  end
  H.write(dir .. "/playbook.lua", text)
  local ok, pb = load_with_env(loader or "migrun.dsl", dir .. "/playbook.lua", { vars = vars or {} })
  assert(ok, "does not load: " .. tostring(pb) .. "\n" .. text)
  assert(pb, "declares nothing:\n" .. text)
  return pb, dir
end

-- the words of a command line as a POSIX shell splits them (quotes, backslashes, comments);
-- environment assignments before the command are dropped
local function shell_words(line)
  local words, w, i, quote = {}, nil, 1, nil
  while i <= #line do
    local c = line:sub(i, i)
    if quote then
      if c == quote then quote = nil
      elseif c == "\\" and quote == '"' then i = i + 1; w = (w or "") .. line:sub(i, i)
      else w = (w or "") .. c end
    elseif c == '"' or c == "'" then quote = c; w = w or ""
    elseif c == "\\" then i = i + 1; w = (w or "") .. line:sub(i, i)
    elseif c:match("%s") then
      if w then words[#words + 1] = w; w = nil end
    elseif c == "#" and not w then break
    elseif (c == "|" or c == ";" or c == ">" or c == "&") then break
    else w = (w or "") .. c end
    i = i + 1
  end
  assert(not quote, "unclosed quote in: " .. line)
  if w then words[#words + 1] = w end
  while words[1] and words[1]:match("^[%a_][%w_]*=") do table.remove(words, 1) end
  return words
end

-- each `migrun ...` line of a shell text parses (raises the usage error it would print)
local function parse_commands(text, where)
  local n = 0
  for line in (text:gsub("\\\n", " ") .. "\n"):gmatch("([^\n]*)\n") do
    local words = shell_words((line:gsub("^%$ ", "")))
    if words[1] == "migrun" then
      table.remove(words, 1)
      local ok, err = pcall(require("migrun.cli").parse, words)
      assert(ok, where .. ": `" .. line .. "` does not parse: " .. tostring(err))
      n = n + 1
    end
  end
  return n
end

-- run a playbook text on a fresh database holding setup: `migrun --db ... playbook.lua --yes`
-- (args: more, --set K=V)
local function run_playbook(text, setup, where, args, vars)
  local _, dir = load_playbook(text, nil, vars)
  local name = H.fresh_db("docs_example")
  local c <close> = H.connect(name)
  if setup then c:script(setup, { name = where .. " (setup)" }) end
  c:close()
  local argv = { "--db", H.conninfo(name), dir .. "/playbook.lua", "--yes" }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  local r = H.migrun(argv, { cwd = dir })
  H.drop_db(name)
  assert.equal(0, r.status, where .. " does not run green:\n" .. r.stdout .. r.stderr)
end

-- ---------------------------------------------------------------------------------------
-- Lua tokens, for comparing an abridged block with its file

local function tokens(src)
  local out, i = {}, 1
  local function long(at)
    local eq = src:match("^%[(=*)%[", at)
    if not eq then return nil end
    local from = at + #eq + 2
    local s, e = src:find("]" .. eq .. "]", from, true)
    return src:sub(from, (s or #src + 1) - 1), (e or #src) + 1
  end
  while i <= #src do
    local c = src:sub(i, i)
    if c:match("%s") then
      i = i + 1
    elseif src:sub(i, i + 1) == "--" then
      local _, after = long(i + 2)
      i = after or (src:find("\n", i, true) or #src) + 1
    elseif long(i) then
      local s, after = long(i)
      out[#out + 1] = { str = s }
      i = after
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= #src and src:sub(j, j) ~= c do j = j + (src:sub(j, j) == "\\" and 2 or 1) end
      out[#out + 1] = { str = src:sub(i + 1, j - 1) }
      i = j + 1
    elseif src:sub(i, i + 2) == "..." then
      out[#out + 1] = { skip = true }
      i = i + 3
    else
      local w = src:match("^[%a_][%w_]*", i) or src:match("^%d[%w%.]*", i) or src:match("^%.%.", i) or c
      out[#out + 1] = { tok = w }
      i = i + #w
    end
  end
  -- a string is compared as SQL: its -- comments and its spacing do not count
  for _, t in ipairs(out) do
    if t.str then
      t.str = t.str:gsub("%-%-[^\n]*", ""):gsub("%s+", " "):gsub("^ ", ""):gsub(" $", "")
      if t.str:find("...", 1, true) then t.skip, t.str = true, nil end
    end
  end
  return out
end

-- nil when every token of `part` is in `whole`, in order; else the first one that is not
local function missing_token(part, whole)
  local j = 1
  for _, t in ipairs(tokens(part)) do
    if not t.skip then
      local found = false
      local list = whole
      while j <= #list do
        local u = list[j]
        j = j + 1
        if (t.tok and u.tok == t.tok) or (t.str and u.str == t.str) then
          found = true
          break
        end
      end
      if not found then return t.tok or ("\"" .. t.str .. "\"") end
    end
  end
  return nil
end

-- ---------------------------------------------------------------------------------------
-- the reference's own examples

describe("the reference's examples", function()
  for _, e in ipairs(docs.entries()) do
    if e.example and docs.example_context(e) ~= "shell" then
      it(e.name .. ": its example loads with the playbook language", function()
        load_playbook(docs.example_file(e.example, docs.example_context(e)))
      end)
    end
    if e.example and e.verb then
      it(e.name .. ": its command lines parse", function()
        assert.truthy(parse_commands(e.example, e.name) > 0, e.name .. ": its example has no migrun command line")
      end)
    end
    if not e.verb then
      for _, o in ipairs(e.options or {}) do
        it(e.name .. "." .. o[1] .. ": its example uses it and loads", function()
          assert.is_string(o[4], e.name .. "." .. o[1] .. " has no example")
          assert.truthy(o[4]:find(o[1], 1, true), e.name .. "." .. o[1] .. "'s example does not use it: " .. o[4])
          load_playbook(docs.example_file(o[4], docs.example_context(e, o)))
        end)
      end
    end
  end

  it("has an example for every name of the language and every verb", function()
    local without = {}
    for _, e in ipairs(docs.entries()) do
      if (R.LANGUAGE_PAGES[e.page] or e.page == "fleet" or (e.verb and not e.man_section)) and not e.example then
        without[#without + 1] = e.name
      end
    end
    assert.are.same({}, without, "entries with no example: " .. table.concat(without, ", "))
  end)

  it("has contexts that each make a file their loader reads", function()
    local minimal = { file = 'playbook "x" { phase "p" { sql "SELECT 1" } }', playbook = 'description = "x"',
                      phase = 'budget = "1s"', steps = 'sql "SELECT 1"', verify = 'expect.count("t", 1)',
                      fleet = 'fleet { targets = { "postgresql://db1/app" } }' }
    for context, c in pairs(docs.CONTEXTS) do
      if c then
        assert.is_string(minimal[context], "no minimal example here for the context " .. context)
        load_playbook(docs.example_file(minimal[context], context))
      end
    end
  end)

  it("refuses an example that names an option the DSL does not take", function()
    -- the check above can fail: a misspelt option in an example is an error, not ignored
    local ok, err = pcall(load_playbook, docs.example_file("budgt = \"1s\"", "phase"))
    assert.is_false(ok)
    assert.truthy(tostring(err):find("unknown key 'budgt'", 1, true), tostring(err))
  end)
end)

-- ---------------------------------------------------------------------------------------
-- the Markdown

local function markdown_files()
  local files = { "README.md" }
  local function scan(dir, deep)
    local full = H.source .. "/" .. dir
    if lfs.attributes(full, "mode") ~= "directory" then return end
    local names = {}
    for f in lfs.dir(full) do names[#names + 1] = f end
    table.sort(names)
    for _, f in ipairs(names) do
      local path = dir .. "/" .. f
      if f:find("%.md$") then files[#files + 1] = path
      elseif deep and f:sub(1, 1) ~= "." and lfs.attributes(H.source .. "/" .. path, "mode") == "directory" then
        scan(path, deep - 1)
      end
    end
  end
  scan("docs", 1)
  scan("examples", 1)
  return files
end

-- the fenced blocks of a Markdown text: {lang, text, line, marker}
local function fences(md)
  local list, lines = {}, {}
  for line in (md .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local i = 1
  while i <= #lines do
    local lang = lines[i]:match("^```(%w*)%s*$")
    if lang then
      local marker = i > 1 and lines[i - 1]:match("^<!%-%- migrun:(.-) %-%->$")
      local body, start = {}, i
      i = i + 1
      while i <= #lines and not lines[i]:match("^```%s*$") do
        body[#body + 1] = lines[i]
        i = i + 1
      end
      list[#list + 1] = { lang = lang, text = table.concat(body, "\n"), line = start, marker = marker }
    end
    i = i + 1
  end
  return list
end

describe("the examples in Markdown", function()
  for _, file in ipairs(markdown_files()) do
    local setup
    for _, f in ipairs(fences(H.read(H.source .. "/" .. file))) do
      local where = file .. ":" .. f.line
      local kind, rest = (f.marker or ""):match("^(%S+)%s*(.*)$")
      if kind == "setup" then
        setup = f.text
      elseif f.lang == "lua" and kind == "example" and rest:match("^abridged ") then
        local full = rest:match("^abridged (%S+)$")
        it(where .. " is " .. full .. ", abridged", function()
          local text = H.read(H.source .. "/" .. full)
          load_playbook(text)
          local miss = missing_token(f.text, tokens(text))
          assert.is_nil(miss, where .. ": " .. tostring(miss) .. " is not in " .. full .. " (in this order)")
        end)
      elseif f.lang == "lua" and kind == "example" then
        local words = {}
        for w in rest:gmatch("%S+") do words[#words + 1] = w end
        local context, run, vars, args = table.remove(words, 1), false, {}, {}
        for i, w in ipairs(words) do
          local k, v = (words[i - 1] == "set" and w or ""):match("^([%w_]+)=(.*)$")
          if w == "run" then run = true elseif k then vars[k] = v; args[#args + 1] = "--set"; args[#args + 1] = w end
        end
        local given = setup
        it(where .. (run and " runs green" or " loads"), function()
          assert.is_string(context, where .. ": a marker names its context")
          local text, loader = docs.example_file(f.text, context)
          if run then run_playbook(text, given, where, args, vars) else load_playbook(text, loader, vars) end
        end)
      elseif f.lang == "lua" and f.text:find('playbook%s*"') then
        it(where .. " loads", function() load_playbook(f.text) end)
      elseif f.lang == "lua" then
        it(where .. " compiles", function()
          local chunk, err = load(f.text, "=" .. where, "t")
          assert(chunk, err)
        end)
      elseif f.lang == "sh" or f.lang == "bash" then
        it(where .. ": its migrun command lines parse", function()
          parse_commands(f.text, where)
        end)
      end
    end
  end

  it("fails a block that is not a faithful abridgement", function()
    local whole = tokens('phase "a" { sql [[SELECT 1]], budget = "1s" }')
    assert.is_nil(missing_token('phase "a" { ... budget = "1s" }', whole))
    assert.equal('"2s"', missing_token('phase "a" { ... budget = "2s" }', whole))
  end)

  it("fails a command line that does not parse", function()
    assert.has_error(function() parse_commands("migrun plan --nope playbook.lua", "here") end)
    assert.equal(1, parse_commands("PGHOST=x migrun plan 'my playbook.lua' # a comment", "here"))
  end)
end)
