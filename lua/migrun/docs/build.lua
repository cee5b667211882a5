--- migrun.docs.build: the reference's two file outputs (policy layer): the Markdown pages of
-- docs/reference/ (checked in; the suite fails when they differ from what this writes) and the
-- man pages, scdoc text turned into roff by scdoc(1) at build time (docs/docs.cmake).
--   migrun -e "require('migrun.docs.build').markdown(arg[1])" docs/reference
--   migrun -e "require('migrun.docs.build').man(arg[1], arg[2])" OUTDIR SCDOC
local docs = require "migrun.docs"

local M = {}

M.GENERATED = "<!-- Generated from lua/migrun/docs/%s.lua by `make docs_markdown` (docs/docs.cmake): " ..
              "edit that file, not this one. -->"

-- prose with `code` spans: each piece of plain text through plain(), each span through code()
local function spans(s, plain, code)
  local out, pos = {}, 1
  while true do
    local i, j = s:find("`[^`]+`", pos)
    if not i then break end
    out[#out + 1] = plain(s:sub(pos, i - 1))
    out[#out + 1] = code(s:sub(i + 1, j - 1))
    pos = j + 1
  end
  out[#out + 1] = plain(s:sub(pos))
  return table.concat(out)
end

-- ---------------------------------------------------------------------------------------
-- Markdown, as GitHub shows it

--- build.anchor(heading) -> GitHub's anchor for a heading
function M.anchor(s)
  return (s:lower():gsub("[^%w%s_%-]", ""):gsub("%s", "-"))
end

local function md_prose(s)
  return spans(s, function(t) return (t:gsub("([*_<])", "\\%1")) end, function(c) return "`" .. c .. "`" end)
end

-- a topic as a link: same page "#anchor", else "page.md#anchor"
local function md_link(topic, from_page)
  local e = docs.find(topic)
  if not e then return "`" .. topic .. "`" end
  local entry = e.option and e.parent or e
  local file = docs.page(entry.page).file
  local href = (entry.page == from_page and "" or file) .. "#" .. M.anchor(entry.name)
  return "[" .. topic .. "](" .. href .. ")"
end

local function md_code(b, pad)
  pad = pad or ""
  local lines = {}
  if b.setup then lines[#lines + 1] = pad .. "<!-- migrun:setup -->" end
  if b.context then
    lines[#lines + 1] = pad .. "<!-- migrun:example " .. b.context .. (b.run and " run" or "") .. " -->"
  end
  lines[#lines + 1] = pad .. "```" .. (b.lang or "")
  for line in (b.text:gsub("%s+$", "") .. "\n"):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line == "" and "" or pad .. line
  end
  lines[#lines + 1] = pad .. "```"
  return table.concat(lines, "\n")
end

local function md_blocks(blocks, page)
  local out = {}
  for _, b in ipairs(blocks) do
    if b.kind == "usage" then
      out[#out + 1] = md_code({ text = table.concat(b.lines, "\n") })
    elseif b.kind == "para" then
      out[#out + 1] = md_prose(b.text)
    elseif b.kind == "list" then
      local items = {}
      for i, it in ipairs(b.items) do items[i] = "- " .. md_prose(it) end
      out[#out + 1] = table.concat(items, "\n")
    elseif b.kind == "code" then
      out[#out + 1] = md_code(b)
    elseif b.kind == "heading" then
      out[#out + 1] = "**" .. b.text .. "**"
    elseif b.kind == "defs" then
      local items = {}
      for _, d in ipairs(b.items) do
        local term = d.topic and md_link(d.topic, page) or ("`" .. d.term .. "`")
        local s = "- " .. term .. (d.topic and (": `" .. d.term .. "`") or "") .. " — " .. md_prose(d.text)
        if d.example and d.example:find("\n") then
          s = s .. "\n\n" .. md_code({ text = d.example, lang = "lua" }, "  ")
        elseif d.example then
          s = s .. " E.g. `" .. d.example .. "`"
        end
        items[#items + 1] = s
      end
      out[#out + 1] = table.concat(items, "\n")
    elseif b.kind == "see" then
      local links = {}
      for i, t in ipairs(b.topics) do links[i] = md_link(t, page) end
      out[#out + 1] = "See also: " .. table.concat(links, ", ") .. "."
    end
  end
  return table.concat(out, "\n\n")
end

--- build.markdown_page(name) -> the Markdown of one page of the reference
function M.markdown_page(name)
  local p = docs.page(name)
  local out = { M.GENERATED:format(name), "", "# " .. p.title, "" }
  for _, para in ipairs({ p.intro }) do out[#out + 1] = md_blocks(docs.prose_blocks(para), name) .. "\n" end
  for _, e in ipairs(p.entries) do
    out[#out + 1] = "- [" .. e.name .. "](#" .. M.anchor(e.name) .. ")" ..
                    (e.summary and (" — " .. md_prose(e.summary)) or "")
  end
  for _, e in ipairs(p.entries) do
    out[#out + 1] = ""
    out[#out + 1] = "## " .. e.name
    out[#out + 1] = ""
    out[#out + 1] = md_blocks(docs.blocks(e), name)
  end
  return table.concat(out, "\n") .. "\n"
end

--- build.markdown_index() -> docs/reference/README.md: the pages and every topic
function M.markdown_index()
  local out = { M.GENERATED:format("init"), "", "# migrun reference", "",
    "The same text as `migrun help TOPIC` and the man pages migrun(1) and migrun-playbook(5), " ..
    "from one source: the Lua tables of [lua/migrun/docs/](../../lua/migrun/docs/). The suite " ..
    "loads every example here with the playbook language, runs the complete ones against " ..
    "PostgreSQL, and fails when a name of the language, an option or a verb is missing here.", "" }
  for _, name in ipairs(docs.PAGES) do
    local p = docs.page(name)
    local links = {}
    for i, e in ipairs(p.entries) do links[i] = "[" .. e.name .. "](" .. p.file .. "#" .. M.anchor(e.name) .. ")" end
    out[#out + 1] = "- [" .. p.title .. "](" .. p.file .. "): " .. table.concat(links, ", ")
  end
  return table.concat(out, "\n") .. "\n"
end

--- build.markdown_files() -> {[file name] = text}: everything docs/reference/ holds
function M.markdown_files()
  local files = { ["README.md"] = M.markdown_index() }
  for _, name in ipairs(docs.PAGES) do files[docs.page(name).file] = M.markdown_page(name) end
  return files
end

local function write(path, body)
  local f = assert(io.open(path, "wb"))
  f:write(body)
  f:close()
end

--- build.markdown(dir): write docs/reference/ (dir) from the source
function M.markdown(dir)
  local names = {}
  for name, body in pairs(M.markdown_files()) do
    write(dir .. "/" .. name, body)
    names[#names + 1] = name
  end
  table.sort(names)
  print("wrote " .. dir .. "/{" .. table.concat(names, ",") .. "}")
end

-- ---------------------------------------------------------------------------------------
-- scdoc, for the man pages

local function sc_escape(s) return (s:gsub("([\\*_])", "\\%1")) end
-- a text line: a leading - . [ | or ; would start a list, a table or a comment
local function sc_prose(s)
  return (spans(s, sc_escape, function(c) return "*" .. sc_escape(c) .. "*" end):gsub("^([-.%[|;])", "\\%1"))
end
local function sc_literal(s)
  return "```\n" .. s:gsub("%s+$", ""):gsub("\\", "\\\\") .. "\n```"
end

local function sc_blocks(blocks)
  local out = {}
  for _, b in ipairs(blocks) do
    if b.kind == "usage" then
      out[#out + 1] = sc_literal(table.concat(b.lines, "\n"))
    elseif b.kind == "para" then
      out[#out + 1] = sc_prose(b.text)
    elseif b.kind == "list" then
      local items = {}
      for i, it in ipairs(b.items) do items[i] = "- " .. sc_prose(it) end
      out[#out + 1] = table.concat(items, "\n")
    elseif b.kind == "code" then
      out[#out + 1] = sc_literal(b.text)
    elseif b.kind == "heading" then
      out[#out + 1] = "*" .. b.text .. "*"
    elseif b.kind == "defs" then
      local items = {}
      for _, d in ipairs(b.items) do
        local s = "*" .. sc_escape(d.term) .. "*\n\t" .. sc_prose(d.text)
        if d.example then
          s = s .. " E.g.:\n\n" .. sc_literal(d.example)
        end
        items[#items + 1] = s
      end
      out[#out + 1] = table.concat(items, "\n\n")
    elseif b.kind == "see" then
      out[#out + 1] = "See also: " .. sc_escape(table.concat(b.topics, ", ")) .. "."
    end
  end
  return table.concat(out, "\n\n")
end

--- build.scdoc(man) -> the scdoc text of one of docs.MAN
function M.scdoc(man)
  local out = { string.format('%s(%d) "migrun %s" "migrun manual"', man.name, man.section,
                              require("migrun").VERSION),
                "", "# NAME", "", man.name .. " - " .. man.purpose, "", "# SYNOPSIS", "" }
  local first = docs.page(man.pages[1])
  local synopsis = {}
  for _, e in ipairs(first.entries) do
    if e.verb and not e.man_section then
      for _, line in ipairs(docs.blocks(e)[1].lines) do synopsis[#synopsis + 1] = line end
    end
  end
  if #synopsis == 0 then synopsis[1] = docs.blocks(first.entries[1])[1].lines[1] end
  out[#out + 1] = sc_literal(table.concat(synopsis, "\n"))
  out[#out + 1] = ""
  for i, name in ipairs(man.pages) do
    local p = docs.page(name)
    out[#out + 1] = i == 1 and "# DESCRIPTION" or ("# " .. p.title:upper())
    out[#out + 1] = ""
    out[#out + 1] = sc_blocks(docs.prose_blocks(p.intro))
    out[#out + 1] = ""
    if i == 1 then
      out[#out + 1] = "# " .. p.title:upper()
      out[#out + 1] = ""
    end
    local later = {}
    for _, e in ipairs(p.entries) do
      if e.man_section then
        later[#later + 1] = e
      else
        out[#out + 1] = "## " .. sc_escape(e.name)
        out[#out + 1] = ""
        out[#out + 1] = sc_blocks(docs.blocks(e))
        out[#out + 1] = ""
      end
    end
    for _, e in ipairs(later) do                       -- OPTIONS, EXIT STATUS, ...: sections
      out[#out + 1] = "# " .. e.man_section
      out[#out + 1] = ""
      local blocks = {}
      for j, b in ipairs(docs.blocks(e)) do            -- the section's heading says what it is
        if j > 1 and not (b.kind == "heading" and b.text:upper() == e.man_section) then blocks[#blocks + 1] = b end
      end
      out[#out + 1] = sc_blocks(blocks)
      out[#out + 1] = ""
    end
  end
  out[#out + 1] = "# SEE ALSO"
  out[#out + 1] = ""
  out[#out + 1] = sc_escape(man.see) .. "; `migrun help TOPIC` prints any part of this page."
  return table.concat(out, "\n"):gsub("`migrun help TOPIC`", "*migrun help* _TOPIC_") .. "\n"
end

--- build.man(outdir, scdoc) -> {path...}: each man page, as scdoc text (NAME.scd) and roff
-- (NAME, by scdoc); raises kind="environment" when scdoc fails
function M.man(outdir, scdoc_path)
  local proc = require "migrun.proc"
  local made = {}
  for _, man in ipairs(docs.MAN) do
    local sc = M.scdoc(man)
    write(outdir .. "/" .. man.file .. ".scd", sc)
    local r = proc.run({ scdoc_path or "scdoc" }, { stdin = { data = sc } })
    if not r.ok then
      require("migrun.errors").raise("environment", "scdoc failed on " .. man.file .. ": " .. r.stderr)
    end
    write(outdir .. "/" .. man.file, r.stdout)
    made[#made + 1] = outdir .. "/" .. man.file
  end
  return made
end

return M
