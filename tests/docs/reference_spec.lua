-- The reference cannot go stale: it is compared with the runtime in both directions (the
-- names a playbook's environment holds, the options each DSL function accepts, the verbs and
-- options of the command line, the ledger's tables and columns), and its three outputs are
-- checked against the one source (docs/reference/ checked in, the man pages built by scdoc).
local H = require "helper"
local R = require "runtime"
local docs = require "migrun.docs"
local build = require "migrun.docs.build"
local commands = require "migrun.commands"

-- the names the reference documents as parts of the language
local function documented()
  local s = {}
  for _, e in ipairs(docs.entries()) do
    if R.LANGUAGE_PAGES[e.page] then s[e.name] = true end
  end
  return s
end

-- `list` as one message line per item, for a failure that says exactly what is missing
local function say(what, list)
  return #list .. " " .. what .. ":\n  " .. table.concat(list, "\n  ")
end

describe("the reference and the playbook language", function()
  it("has an entry for every name a playbook's environment holds", function()
    local doc, missing = documented(), {}
    for _, name in ipairs(R.sorted(R.names())) do
      if not doc[name] then missing[#missing + 1] = name end
    end
    assert.are.same({}, missing, say("names of the language with no entry in lua/migrun/docs (add one, or " ..
                                     "list a library function in tests/docs/runtime.lua)", missing))
  end)

  it("documents only names a playbook has", function()
    local env, names, extra = R.env(), R.names(), {}
    for _, name in ipairs(R.sorted(documented())) do
      -- a name, or a module's own page (expect: what every expectation shares)
      if not names[name] and type(rawget(env, name)) ~= "table" then extra[#extra + 1] = name end
    end
    assert.are.same({}, extra, say("entries of the reference that name nothing in a playbook", extra))
  end)

  it("links only to topics it has", function()
    local broken = {}
    for _, e in ipairs(docs.entries()) do
      for _, t in ipairs(e.see or {}) do
        if not docs.find(t) then broken[#broken + 1] = e.name .. " -> " .. t end
      end
    end
    assert.are.same({}, broken, say("see-also topics that do not exist", broken))
  end)

  it("lists every option each DSL function accepts, and only those", function()
    local missing, extra = {}, {}
    for fn, accepted in pairs(R.options()) do
      local e = docs.find(fn)
      local listed = {}
      for _, o in ipairs(e and e.options or {}) do listed[o[1]] = true end
      for _, k in ipairs(R.sorted(accepted)) do
        local key = fn .. "." .. k
        if not listed[k] and not R.ACCEPTED[key] then missing[#missing + 1] = key end
      end
      for _, k in ipairs(R.sorted(listed)) do
        if not accepted[k] then extra[#extra + 1] = fn .. "." .. k end
      end
    end
    table.sort(missing)
    table.sort(extra)
    assert.are.same({ {}, {} }, { missing, extra },
                    say("options the DSL accepts with no line in their entry's options", missing) .. "\n" ..
                    say("options in the reference that the DSL refuses", extra))
  end)
end)

describe("the reference and the command line", function()
  local page = require "migrun.docs.commands"

  it("describes every verb, and only verbs", function()
    local missing, extra = {}, {}
    for _, v in ipairs(commands.VERBS) do
      local p = page.prose[v.name]
      if not (p and p.text and p.example) then missing[#missing + 1] = v.name end
    end
    for name in pairs(page.prose) do
      if not commands.by_name[name] then extra[#extra + 1] = name end
    end
    table.sort(extra)
    assert.are.same({}, missing, say("verbs with no text and example in lua/migrun/docs/commands.lua", missing))
    assert.are.same({}, extra, say("verbs described in lua/migrun/docs/commands.lua that migrun has not", extra))
  end)

  it("prints every option a verb accepts in that verb's help, and every option in `help options`", function()
    local all = docs.text("options")
    for name, o in pairs(commands.OPTIONS) do
      local flag = (o.short and "-" or "--") .. name
      assert.truthy(all:find("\n  " .. flag:gsub("%-", "%%-") .. "[ \n]"),
                    flag .. " missing from `migrun help options`")
    end
    for _, v in ipairs(commands.VERBS) do
      local text = docs.text(v.name)
      for _, o in ipairs(v.options) do
        local flag = (commands.OPTIONS[o].short and "-" or "--") .. o
        assert.truthy(text:find("\n  " .. flag:gsub("%-", "%%-") .. "[ \n]"),
                      flag .. " missing from `migrun help " .. v.name .. "`")
      end
    end
  end)

  it("mentions only options the command line has", function()
    -- a `--flag` code span of the prose (other programs' flags are written with their
    -- program: `pg_dump --schema-only`); command lines in examples are parsed by examples_spec
    local unknown = {}
    local function scan(s, where)
      for flag in (s or ""):gmatch("`%-%-([%a][%w%-]*)[^`]*`") do
        if not commands.OPTIONS[flag] then unknown[#unknown + 1] = "--" .. flag .. " in " .. where end
      end
    end
    for _, name in ipairs(docs.PAGES) do
      local p = docs.page(name)
      scan(p.intro, name)
      for _, e in ipairs(p.entries) do
        scan(e.summary, e.name)
        scan(e.text, e.name)
        for _, o in ipairs(e.options or {}) do scan(o[3], e.name .. "." .. o[1]) end
      end
    end
    assert.are.same({}, unknown, say("options the reference mentions that migrun does not take", unknown))
  end)
end)

describe("the reference and the ledger", function()
  local PG_TYPE = { bigserial = "bigint", int = "integer", timestamptz = "timestamp with time zone" }

  it("has every table and column of a fresh ledger, with its type, and no other", function()
    local name = H.fresh_db("docs_ledger")
    local c <close> = H.connect(name)
    require("migrun.ledger").ensure(c)
    local live = {}
    for _, r in ipairs(c:query([[SELECT table_name AS t, column_name AS c, data_type AS type
                                 FROM information_schema.columns WHERE table_schema = 'migrun']])) do
      live["ledger." .. r.t .. "." .. r.c] = r.type
    end
    local doc = {}
    for _, e in ipairs(docs.page("ledger").entries) do
      for _, col in ipairs(e.columns or {}) do doc[e.name .. "." .. col[1]] = PG_TYPE[col[2]] or col[2] end
    end
    local missing, wrong = {}, {}
    for _, k in ipairs(R.sorted(live)) do
      if not doc[k] then missing[#missing + 1] = k .. " " .. live[k] end
    end
    for _, k in ipairs(R.sorted(doc)) do
      if live[k] ~= doc[k] then wrong[#wrong + 1] = k .. ": " .. doc[k] .. " documented, " .. tostring(live[k]) end
    end
    c:close()
    H.drop_db(name)
    assert.are.same({}, missing, say("ledger columns missing from lua/migrun/docs/ledger.lua", missing))
    assert.are.same({}, wrong, say("ledger columns documented wrong (or not in the ledger)", wrong))
  end)
end)

describe("the reference's outputs", function()
  it("docs/reference/ is what lua/migrun/docs writes (regenerate: make docs_markdown)", function()
    local dir = H.source .. "/docs/reference/"
    local want, stale = build.markdown_files(), {}
    for file, body in pairs(want) do
      local f = io.open(dir .. file, "rb")
      local have = f and f:read("a")
      if f then f:close() end
      if have ~= body then stale[#stale + 1] = "docs/reference/" .. file end
    end
    for file in require("lfs").dir(dir) do
      if file:find("%.md$") and not want[file] then
        stale[#stale + 1] = "docs/reference/" .. file .. " (not generated)"
      end
    end
    table.sort(stale)
    assert.are.same({}, stale, say("pages out of date: make -C BUILD docs_markdown writes them", stale))
  end)

  it("builds both man pages with scdoc, each holding every entry of its pages", function()
    local dir = H.tmpdir()
    local made = build.man(dir)
    assert.equal(#docs.MAN, #made)
    for _, man in ipairs(docs.MAN) do
      local scd = H.read(dir .. "/" .. man.file .. ".scd")
      local roff = H.read(dir .. "/" .. man.file)
      assert.truthy(roff:find("^%.%\\\""), "scdoc wrote no roff for " .. man.file)
      for _, page in ipairs(man.pages) do
        for _, e in ipairs(docs.page(page).entries) do
          local heading = e.man_section and ("# " .. e.man_section) or ("## " .. e.name:gsub("_", "\\_"))
          assert.truthy(scd:find("\n" .. heading .. "\n", 1, true), man.file .. " has no " .. heading)
        end
      end
    end
  end)

  it("`migrun help TOPIC` and the man pages say the same for every topic", function()
    local dir = H.tmpdir()
    build.man(dir)
    local man = {}
    for _, m in ipairs(docs.MAN) do man[#man + 1] = H.read(dir .. "/" .. m.file .. ".scd") end
    -- words only: scdoc's escapes and bold, the terminal's `code` marks and line breaks go
    local function words(s) return (s:gsub("\\", ""):gsub("[*`]", ""):gsub("%s+", " ")) end
    man = words(table.concat(man, "\n"))
    for _, topic in ipairs(docs.topics()) do
      local e = docs.find(topic)
      local summary = e.option and e.option[3] or e.summary
      if summary then
        assert.truthy(man:find(words(summary), 1, true), topic .. ": its text is not in the man pages")
        assert.truthy(words(docs.text(topic)):find(words(summary), 1, true),
                      topic .. ": its text is not in `migrun help " .. topic .. "`")
      end
    end
  end)
end)
