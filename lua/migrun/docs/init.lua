--- migrun.docs: the reference (policy layer). One source, the Lua tables of the pages beside
-- this file (commands, language, expect, http, backup, fleet, ledger); from it come `migrun
-- help TOPIC`, the man pages migrun(1) and migrun-playbook(5) (scdoc, at build time) and the
-- Markdown of docs/reference/ (both written by migrun.docs.build). A verb's usage and options
-- are read from migrun.commands, the command line's own table; its page adds only prose.
--
-- An entry (see language.lua for many):
--   { name = "phase", usage = 'phase "NAME" { ... }' | { ... }, summary = "one line",
--     text = [[paragraphs; "- " items make a list; ``` fences make code]],
--     options = { { NAME, TYPE, HELP [, EXAMPLE] }, ... },
--     example = [[code]], context = "playbook" (how the suite loads it: CONTEXTS below),
--     setup = [[SQL]], run = true (the suite runs the example on that database),
--     columns = { { NAME, TYPE, HELP }, ... } (a ledger table), see = { TOPIC, ... },
--     index_of = "expect." (an overview: lists the entries of that prefix),
--     verb = true (options are command-line flags), man_section = "OPTIONS" (a man section) }
-- A page: { name, title, file (docs/reference/FILE), intro, entries,
--   option_context = {[entry] = context} }; docs.MAN says which man page holds it.
--
-- Adding a name of the language: its entry in the page's file here, in the same change as the
-- name (a new page also goes in PAGES and MAN, and in R.LANGUAGE_PAGES of
-- tests/docs/runtime.lua when it documents the language); its definition in
-- lua/migrun/meta/migrun.lua (for editors); `make docs_markdown`. The docs suite (ctest
-- lua_docs) says what is missing, both ways, and loads every example.
local text = require "migrun.text"

local M = {}

--- docs.PAGES: in the order of the reference
M.PAGES = { "commands", "language", "expect", "http", "backup", "fleet", "ledger" }

--- docs.MAN: the man pages, each the pages it holds in order
M.MAN = {
  { file = "migrun.1", name = "migrun", section = 1,
    purpose = "run a PostgreSQL production migration as a program",
    pages = { "commands", "fleet", "ledger" }, see = "migrun-playbook(5), pg_dump(1), psql(1)" },
  { file = "migrun-playbook.5", name = "migrun-playbook", section = 5,
    purpose = "the playbook language of migrun",
    pages = { "language", "expect", "http", "backup" }, see = "migrun(1)" },
}

--- docs.CONTEXTS: how the suite loads an example, by its entry's `context` (an option's
-- example takes its page's option_context for that entry, else "playbook"): the template
-- makes a complete file of it (%s is the example), the loader module's load(path) reads that
-- file (default migrun.dsl, the playbook language); false: not Lua (a command line)
M.CONTEXTS = {
  file = { "%s\n" },                                              -- a whole playbook
  -- an item or option of the playbook's table: between two phases (a gate guards one)
  playbook = { 'playbook "doc" {\n  phase "doc" { sql "SELECT 1" },\n%s,\n  phase "after" { sql "SELECT 2" },\n}\n' },
  phase = { 'playbook "doc" {\n  phase "doc" {\n    sql "SELECT 1",\n%s,\n  },\n}\n' },
  steps = { 'playbook "doc" {\n  phase "doc" {\n    transaction = false,\n%s,\n  },\n}\n' },
  verify = { 'playbook "doc" {\n  phase "doc" { sql "SELECT 1" },\n  verify = {\n%s,\n  },\n}\n' },
  fleet = { "%s\n", loader = "migrun.fleet.dsl" },              -- a whole fleet file
  shell = false,                                                  -- a command line: not loaded
}

local pages, index, order

local function load_pages()
  if pages then return end
  pages, index, order = {}, {}, {}
  for _, name in ipairs(M.PAGES) do
    local p = require("migrun.docs." .. name)
    if p.build then p = p.build() end             -- commands: its entries come from the CLI's table
    pages[name] = p
    for _, e in ipairs(p.entries) do
      e.page = name
      if index[e.name] then error("docs: two entries named " .. e.name .. " (a topic is one entry)") end
      index[e.name] = e
      order[#order + 1] = e.name
      for _, o in ipairs(e.options or {}) do
        local key = e.name .. "." .. o[1]
        if not e.verb and not index[key] then
          index[key] = { name = key, option = o, parent = e, page = name }
        end
      end
    end
  end
end

--- docs.page(name) -> the page table
function M.page(name)
  load_pages()
  return pages[name]
end

--- docs.entries() -> every entry, in reference order
function M.entries()
  load_pages()
  local list = {}
  for _, name in ipairs(order) do list[#list + 1] = index[name] end
  return list
end

--- docs.find(topic) -> the entry (or option: {name, option, parent}) of a topic, or nil
function M.find(topic)
  load_pages()
  return index[topic]
end

--- docs.topics() -> every topic name: entries in reference order, then their options
function M.topics()
  load_pages()
  local list, opts = {}, {}
  for _, name in ipairs(order) do list[#list + 1] = name end
  for name, e in pairs(index) do if e.option then opts[#opts + 1] = name end end
  table.sort(opts)
  for _, name in ipairs(opts) do list[#list + 1] = name end
  return list
end

--- docs.example_context(entry, option) -> the CONTEXTS key an example is loaded in
function M.example_context(e, o)
  if o then
    local p = M.page(e.page)
    return (p.option_context or {})[e.name] or "playbook"
  end
  return e.context or "playbook"
end

--- docs.example_file(code, context) -> the example as a complete file, and the module whose
-- load(path) reads it; nil for a context that is not Lua (shell)
function M.example_file(code, context)
  local c = M.CONTEXTS[context]
  if c == nil then error("docs: no example context '" .. tostring(context) .. "'", 2) end
  if not c then return nil end
  code = code:gsub("[%s,]+$", "")                  -- the template puts the separator
  return (c[1]:gsub("%%s", function() return code end)), c.loader or "migrun.dsl"
end

-- ---------------------------------------------------------------------------------------
-- blocks: what every output renders. {kind = "usage" | "para" | "list" | "code" | "heading" |
-- "defs", ...}; prose keeps `code` spans, which each renderer shows its way

local function paragraphs(s)
  local out = {}
  if not s then return out end
  local lines = {}
  for line in (s:gsub("^\n+", ""):gsub("%s+$", "") .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local i = 1
  while i <= #lines do
    local line = lines[i]
    if line:match("^%s*```") then
      local lang = line:match("^%s*```(%w*)")
      local code, indent = {}, #line:match("^(%s*)")
      i = i + 1
      while i <= #lines and not lines[i]:match("^%s*```") do
        code[#code + 1] = lines[i]:sub(indent + 1)
        i = i + 1
      end
      out[#out + 1] = { kind = "code", text = table.concat(code, "\n"), lang = lang ~= "" and lang or nil }
      i = i + 1
    elseif line:match("^%s*$") then
      i = i + 1
    else
      local para = {}
      while i <= #lines and not lines[i]:match("^%s*$") and not lines[i]:match("^%s*```") do
        para[#para + 1] = lines[i]:gsub("^%s+", "")
        i = i + 1
      end
      if para[1]:match("^%- ") then
        local items = {}
        for _, l in ipairs(para) do
          if l:match("^%- ") then items[#items + 1] = l:sub(3) else items[#items] = items[#items] .. " " .. l end
        end
        out[#out + 1] = { kind = "list", items = items }
      else
        out[#out + 1] = { kind = "para", text = table.concat(para, " ") }
      end
    end
  end
  return out
end

--- docs.prose_blocks(text) -> the blocks of a page's intro or an entry's text
M.prose_blocks = paragraphs

local function usages(e)
  if type(e.usage) == "table" then return e.usage end
  return { e.usage or e.name }
end

--- docs.option_term(entry, option) -> "budget = DURATION" | "--db URL"
function M.option_term(e, o)
  if e.verb then return o[1] .. (o[2] and (" " .. o[2]) or "") end
  return o[1] .. " = " .. o[2]
end

--- docs.blocks(entry) -> the entry as blocks (its heading is the renderer's)
function M.blocks(e)
  if e.option then
    local o, parent = e.option, e.parent
    local b = { { kind = "usage", lines = { M.option_term(parent, o) } },
                { kind = "para", text = o[3] } }
    if o[4] then b[#b + 1] = { kind = "code", text = o[4], lang = "lua", context = M.example_context(parent, o) } end
    b[#b + 1] = { kind = "see", topics = { parent.name } }
    return b
  end
  local b = { { kind = "usage", lines = usages(e) } }
  if e.summary then b[#b + 1] = { kind = "para", text = e.summary } end
  for _, p in ipairs(paragraphs(e.text)) do b[#b + 1] = p end
  if e.options and #e.options > 0 then
    local defs = {}
    for _, o in ipairs(e.options) do
      defs[#defs + 1] = { term = M.option_term(e, o), text = o[3], example = o[4] }
    end
    b[#b + 1] = { kind = "heading", text = "Options" }
    b[#b + 1] = { kind = "defs", items = defs }
  end
  if e.columns then
    local defs = {}
    for _, c in ipairs(e.columns) do defs[#defs + 1] = { term = c[1] .. " " .. c[2], text = c[3] } end
    b[#b + 1] = { kind = "heading", text = "Columns" }
    b[#b + 1] = { kind = "defs", items = defs }
  end
  if e.index_of then                              -- an overview: the entries it heads
    local defs = {}
    for _, x in ipairs(M.entries()) do
      if x.name:sub(1, #e.index_of) == e.index_of then
        defs[#defs + 1] = { term = usages(x)[1], text = x.summary or "", topic = x.name }
      end
    end
    b[#b + 1] = { kind = "heading", text = "Topics" }
    b[#b + 1] = { kind = "defs", items = defs }
  end
  if e.example then
    b[#b + 1] = { kind = "heading", text = "Example" }
    if e.setup then
      b[#b + 1] = { kind = "para", text = "On a database holding:" }
      b[#b + 1] = { kind = "code", text = e.setup, lang = "sql", setup = true }
    end
    local lang = e.context == "shell" and "sh" or "lua"
    b[#b + 1] = { kind = "code", text = e.example, lang = lang, context = M.example_context(e), run = e.run }
  end
  if e.see then b[#b + 1] = { kind = "see", topics = e.see } end
  return b
end

-- ---------------------------------------------------------------------------------------
-- the terminal: `migrun help TOPIC`

local WIDTH = 90

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
  local pad = string.rep(" ", indent)
  return pad .. table.concat(lines, "\n" .. pad)
end

local function indent(s, n)
  local pad = string.rep(" ", n)
  return pad .. s:gsub("%s+$", ""):gsub("\n", "\n" .. pad)
end

--- docs.render_text(blocks) -> the text of `migrun help`
function M.render_text(blocks)
  local out = {}
  local function add(s) out[#out + 1] = s end
  for _, b in ipairs(blocks) do
    if b.kind == "usage" then
      add(table.concat(b.lines, "\n"))
    elseif b.kind == "para" then
      add(wrap(b.text, WIDTH, 0))
    elseif b.kind == "list" then
      local items = {}
      for i, it in ipairs(b.items) do items[i] = "  - " .. wrap(it, WIDTH - 4, 4):sub(5) end
      add(table.concat(items, "\n"))
    elseif b.kind == "code" then
      add(indent(b.text, 4))
    elseif b.kind == "heading" then
      add(b.text:lower() .. ":")
    elseif b.kind == "defs" then
      local items = {}
      for _, d in ipairs(b.items) do
        local s = "  " .. d.term .. "\n" .. wrap(d.text, WIDTH - 6, 6)
        if d.example then s = s .. "\n" .. indent("e.g. " .. d.example, 6) end
        items[#items + 1] = s
      end
      add(table.concat(items, "\n"))
    elseif b.kind == "see" then
      add(wrap("see also: " .. table.concat(b.topics, ", "), WIDTH, 0))
    end
  end
  -- a heading sits right above what it heads
  local s = table.concat(out, "\n\n"):gsub(":\n\n", ":\n")
  return s .. "\n"
end

--- docs.text(topic) -> what `migrun help TOPIC` prints, or nil for no such topic
function M.text(topic)
  local e = M.find(topic)
  if not e then return nil end
  return M.render_text(M.blocks(e))
end

--- docs.suggest(topic) -> " (did you mean 'x'?)" or ""
function M.suggest(topic)
  return text.did_you_mean(topic, M.topics())
end

--- docs.index_text() -> what `migrun help` prints: the topics, page by page
function M.index_text()
  load_pages()
  local lines = { "migrun help TOPIC: the reference (the same text as the man pages migrun(1) and",
                  "migrun-playbook(5), and as docs/reference/). The topics:", "" }
  for _, name in ipairs(M.PAGES) do
    local p = pages[name]
    local names = {}
    for _, e in ipairs(p.entries) do names[#names + 1] = e.name end
    lines[#lines + 1] = p.title .. ":"
    lines[#lines + 1] = wrap(table.concat(names, "  "), WIDTH - 2, 2)
    lines[#lines + 1] = ""
  end
  lines[#lines + 1] = wrap("An option of the language has a topic of its own: `migrun help phase.budget`, " ..
                           "`migrun help backfill.max_rate`. `migrun --help` is the short list of verbs " ..
                           "and options.", WIDTH, 0)
  return table.concat(lines, "\n") .. "\n"
end

return M
