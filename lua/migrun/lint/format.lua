--- migrun.lint.format: lint findings as text (gcc style, for terminals and editors), JSON,
-- SARIF 2.1.0 (code-scanning uploads) and GitHub workflow annotations (policy layer).
-- Lines and columns are 1-based everywhere.
local cjson = require "cjson"
local json = require "migrun.json"

local M = {}

local VERSION = "0.1.0"
local INFO_URI = "https://github.com/migrun/migrun"

local function paint(on, code, s)
  if not on then return s end
  return "\27[" .. code .. "m" .. s .. "\27[0m"
end

local function text(findings, opts)
  local color = opts.color
  local out = {}
  for _, e in ipairs(opts.parse_errors or {}) do
    local where = e.file and string.format("%s:%d:%d: ", e.file, e.line or 1, e.col or 1) or ""
    out[#out + 1] = where .. paint(color, "1;31", "error:") .. " " .. (e.message or tostring(e)) ..
      " " .. paint(color, "2", "[" .. (e.kind == "parse" and "syntax" or e.kind or "error") .. "]")
  end
  for _, f in ipairs(findings) do
    local sev = f.severity == "error" and paint(color, "1;31", "error:")
                                       or paint(color, "1;33", "warning:")
    out[#out + 1] = string.format("%s:%d:%d: %s %s %s", f.file, f.line, f.col, sev, f.message,
                                  paint(color, "2", "[" .. f.rule .. "]"))
    if f.fix and f.fix ~= "" then
      for line in (f.fix .. "\n"):gmatch("([^\n]*)\n") do
        out[#out + 1] = paint(color, "32", "    | " .. line)
      end
    end
    out[#out + 1] = paint(color, "2", "    = " .. f.url)
  end
  local e, w = 0, 0
  for _, f in ipairs(findings) do
    if f.severity == "error" then e = e + 1 else w = w + 1 end
  end
  local pe = #(opts.parse_errors or {})
  if opts.summary ~= false then
    if #findings == 0 and pe == 0 then
      out[#out + 1] = "lint: no findings"
    else
      out[#out + 1] = string.format("lint: %d error%s, %d warning%s%s", e, e == 1 and "" or "s", w,
        w == 1 and "" or "s", pe > 0 and string.format(", %d file%s not parsed", pe, pe == 1 and "" or "s") or "")
    end
  end
  return table.concat(out, "\n") .. "\n"
end


-- The JSON document, piece by piece into emit (a finding a piece): a 10k-statement file has
-- thousands of findings, and one string of them all (then copied into the document, then
-- written) costs more in fresh memory than the encoding does. cjson straight on each (flat)
-- finding; empty lists are written as [] by hand (cjson would write {}).
local function emit_json(findings, opts, emit)
  local e, w = 0, 0
  emit('{"findings":[')
  for i, f in ipairs(findings) do   -- the engine's findings hold only the documented fields
    if f.severity == "error" then e = e + 1 else w = w + 1 end
    if i > 1 then emit(",") end
    emit(cjson.encode(f))
  end
  local errs = {}
  for _, pe in ipairs(opts.parse_errors or {}) do
    errs[#errs + 1] = { kind = pe.kind, file = pe.file, line = pe.line, col = pe.col,
                        message = pe.message }
  end
  emit(string.format('],"errors":%s,"summary":%s}\n', #errs == 0 and "[]" or cjson.encode(errs),
    cjson.encode({ errors = e, warnings = w, unparsed = #errs })))
end

local function as_json(findings, opts)
  local parts = {}
  emit_json(findings, opts, function(s) parts[#parts + 1] = s end)
  return table.concat(parts)
end

local function sarif(findings, opts, rules)
  local used, rule_list, index = {}, json.array(), {}
  for _, f in ipairs(findings) do used[f.rule] = true end
  local ids = {}
  for id in pairs(used) do ids[#ids + 1] = id end
  table.sort(ids)
  for i, id in ipairs(ids) do
    local r = rules[id] or { severity = "warning", summary = id, url = "docs/lint/" .. id .. ".md" }
    index[id] = i - 1
    rule_list[i] = { id = id, name = id, shortDescription = { text = r.summary or id },
      helpUri = r.url, defaultConfiguration = { level = r.severity == "error" and "error" or "warning" } }
  end
  local results = json.array()
  for _, f in ipairs(findings) do
    local msg = f.message
    if f.fix then msg = msg .. "\nSafer: " .. f.fix end
    results[#results + 1] = {
      ruleId = f.rule, ruleIndex = index[f.rule],
      level = f.severity == "error" and "error" or "warning",
      message = { text = msg },
      locations = { { physicalLocation = {
        artifactLocation = { uri = (f.file:gsub("^%./", "")) },
        region = { startLine = f.line, startColumn = f.col } } } },
    }
  end
  for _, e in ipairs(opts.parse_errors or {}) do
    results[#results + 1] = { ruleId = "syntax", level = "error",
      message = { text = e.message or "syntax error" },
      locations = { { physicalLocation = {
        artifactLocation = { uri = ((e.file or "?"):gsub("^%./", "")) },
        region = { startLine = e.line or 1, startColumn = e.col or 1 } } } } }
  end
  return json.encode({
    ["$schema"] = "https://json.schemastore.org/sarif-2.1.0.json",
    version = "2.1.0",
    runs = { { tool = { driver = { name = "migrun lint", version = VERSION,
                                   informationUri = INFO_URI, rules = rule_list } },
               columnKind = "unicodeCodePoints",
               results = results } },
  }) .. "\n"
end

-- workflow command escaping (actions/toolkit: escapeData / escapeProperty)
local function esc_data(s)
  return (s:gsub("%%", "%%25"):gsub("\r", "%%0D"):gsub("\n", "%%0A"))
end
local function esc_prop(s)
  return (esc_data(s):gsub(":", "%%3A"):gsub(",", "%%2C"))
end

local function github(findings, opts)
  local out = {}
  for _, e in ipairs(opts.parse_errors or {}) do
    out[#out + 1] = string.format("::error file=%s,line=%d,col=%d,title=%s::%s", esc_prop(e.file or "?"),
      e.line or 1, e.col or 1, "syntax", esc_data(e.message or "syntax error"))
  end
  for _, f in ipairs(findings) do
    local msg = f.message
    if f.fix then msg = msg .. "\nSafer:\n" .. f.fix end
    out[#out + 1] = string.format("::%s file=%s,line=%d,col=%d,title=%s::%s",
      f.severity == "error" and "error" or "warning", esc_prop(f.file), f.line, f.col,
      esc_prop("migrun lint " .. f.rule), esc_data(msg))
  end
  return #out > 0 and (table.concat(out, "\n") .. "\n") or ""
end

M.FORMATS = { text = text, json = as_json, sarif = sarif, github = github }

--- format.render(findings, format, opts, rules) -> text; opts: color, parse_errors, summary
function M.render(findings, format, opts, rules)
  local f = M.FORMATS[format]
  if not f then error(string.format("lint: unknown format %q (text, json, sarif, github)", format), 2) end
  return f(findings, opts, rules)
end

--- format.write(file, findings, format, opts, rules): what render returns, written to file
-- (JSON a finding at a time, never as one string)
function M.write(file, findings, format, opts, rules)
  if format ~= "json" then
    file:write(M.render(findings, format, opts, rules))
    return
  end
  emit_json(findings, opts, function(s) file:write(s) end)
end

return M
