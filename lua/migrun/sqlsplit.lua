--- migrun.sqlsplit: split SQL text into statements the way psql does, so each can run on
-- its own (CREATE INDEX CONCURRENTLY refuses a multi-statement string) and every error maps
-- to its file:line:col. Comments, quoted strings and identifiers, E'' strings, dollar-quoted
-- bodies and BEGIN ATOMIC ... END bodies are never cut.
local errors = require "migrun.errors"

local M = {}

local function skip_quoted(text, i, q, backslash)
  -- text:sub(i, i) is the opening quote; returns the index after the closing one
  local n = #text
  local j = i + 1
  while j <= n do
    local c = text:sub(j, j)
    if backslash and c == "\\" then
      j = j + 2
    elseif c == q then
      if text:sub(j + 1, j + 1) == q then j = j + 2 else return j + 1 end
    else
      local nxt = text:find(backslash and "[\\" .. q .. "]" or q, j, not backslash)
      if not nxt then return n + 1 end
      j = nxt
    end
  end
  return n + 1
end

local function skip_block_comment(text, i)
  local depth, j, n = 1, i + 2, #text
  while depth > 0 do
    local a = text:find("[/*]", j)
    if not a then return n + 1 end
    local two = text:sub(a, a + 1)
    if two == "/*" then
      depth, j = depth + 1, a + 2
    elseif two == "*/" then
      depth, j = depth - 1, a + 2
    else
      j = a + 1
    end
  end
  return j
end

--- sqlsplit.position(text, byte) -> line, col (col counts characters, from 1)
function M.position(text, byte)
  local line, last = 1, 0
  for nl in text:sub(1, byte - 1):gmatch("()\n") do
    line, last = line + 1, nl
  end
  local col = utf8.len(text, last + 1, byte - 1, true) or (byte - last - 1)
  return line, col + 1
end

-- psql's heuristic: only CREATE [OR REPLACE] FUNCTION|PROCEDURE bodies have BEGIN ... END
local function in_routine(w)
  return w[1] == "create" and (w[2] == "function" or w[2] == "procedure" or
    (w[2] == "or" and w[3] == "replace" and (w[4] == "function" or w[4] == "procedure")))
end

-- psql's COPY ... FROM stdin: the data follows on the next line, up to a line "\."
local function copy_from_stdin(sql)
  local s = sql:lower():gsub("%-%-[^\n]*", " ")
  return s:match("^%s*copy%s") ~= nil and s:match("%sfrom%s+stdin[%s;]") ~= nil
end

-- the meta-commands of pg_dump's plain output that carry no SQL (15.14+ writes \restrict KEY
-- and \unrestrict KEY around a dump: a guard for psql itself)
local HARMLESS = { ["\\restrict"] = true, ["\\unrestrict"] = true }

--- sqlsplit.split(text [, name [, {psql = true}]]) -> { {sql, start, stop}, ... }
-- `start` is the byte offset of the statement's first token, `stop` of its last byte.
-- Raises migrun.error{kind="usage"} for a psql meta-command (\i, \set, ...): not SQL.
-- psql = true also reads what psql -f reads of pg_dump's plain format: a COPY ... FROM stdin
-- statement gets its data as `copy_data` (and `data_line`, the line the data starts on), and
-- \restrict / \unrestrict lines are skipped.
function M.split(text, name, o)
  -- most steps are one plain statement: no ; quote, dollar, comment or backslash to scan for
  if not text:find("[;'\"$\\/%-]") then
    local first = text:find("%S")
    if not first then return {} end
    local stop = text:find("%S%s*$")
    return { { sql = text:sub(first, stop), start = first, stop = stop } }
  end
  local psql = o and o.psql
  local out = {}
  local n = #text
  local i = 1
  local start, paren, depth, words = nil, 0, 0, {}
  local last = n                                     -- end of the last token seen

  local function finish(stop)
    if start then out[#out + 1] = { sql = text:sub(start, stop), start = start, stop = stop } end
    start, paren, depth, words = nil, 0, 0, {}
  end

  -- after a COPY ... FROM stdin statement that ended at byte `stop`: its data lines, up to
  -- "\."; returns where scanning goes on
  local function copy_data(stop)
    local st = out[#out]
    local nl = text:find("\n", stop + 1, true)
    local from = nl and nl + 1 or n + 1
    local pos, data_end = from, nil
    while pos <= n do
      local eol = text:find("\n", pos, true) or n + 1
      if text:sub(pos, eol - 1):gsub("\r$", "") == "\\." then data_end = pos; break end
      pos = eol + 1
    end
    if not data_end then
      local line = M.position(text, stop)
      errors.raise("usage", "COPY ... FROM stdin without its data's end marker (a line \\.)",
                   { file = name, line = line, col = 1 })
    end
    st.copy_data = text:sub(from, data_end - 1)
    st.data_line = M.position(text, from)
    return (text:find("\n", data_end, true) or n) + 1
  end

  while i <= n do
    local c = text:sub(i, i)
    local two = text:sub(i, i + 1)
    if c:find("^%s") then
      i = text:find("%S", i) or n + 1
    elseif two == "--" then
      i = (text:find("\n", i, true) or n) + 1
    elseif two == "/*" then
      i = skip_block_comment(text, i)
    elseif c == ";" and not start then
      i = i + 1                                      -- an empty statement
    else
      start = start or i
      if c == "'" then
        i = skip_quoted(text, i, "'", false)
      elseif c == '"' then
        i = skip_quoted(text, i, '"', false)
      elseif c == "$" then
        local tag = text:match("^%$[%a_\128-\255][%w_\128-\255]*%$", i) or text:match("^%$%$", i)
        if tag then
          local e = text:find(tag, i + #tag, true)
          i = e and e + #tag or n + 1
        else
          i = i + 1
        end
      elseif c == ";" then
        if paren == 0 and depth == 0 then
          finish(i)
          if psql and copy_from_stdin(out[#out].sql) then i = copy_data(i) - 1 end
        end
        i = i + 1
      elseif c == "(" then
        paren, i = paren + 1, i + 1
      elseif c == ")" then
        paren, i = math.max(0, paren - 1), i + 1
      elseif c == "\\" and psql and start == i and HARMLESS[text:match("^\\%a*", i)] then
        start = nil                                  -- the whole line is psql's, not SQL
        i = (text:find("\n", i, true) or n) + 1
      elseif c == "\\" then
        local line, col = M.position(text, i)
        local cmd = text:match("^\\%S*", i)
        errors.raise("usage", string.format(
          "psql meta-command %s is not SQL; migrun runs plain SQL files", cmd),
          { file = name, line = line, col = col,
            hint = "run the file's SQL directly, or split it into separate sql files" })
      elseif c:find("^[%a_\128-\255]") then
        local word = text:match("^[%w_$\128-\255]+", i)
        local nxt = i + #word
        if (word == "E" or word == "e") and text:sub(nxt, nxt) == "'" then
          i = skip_quoted(text, nxt, "'", true)
        else
          local lw = word:lower()
          if #words < 4 then words[#words + 1] = lw end
          if paren == 0 and in_routine(words) then
            if lw == "begin" then
              depth = depth + 1
            elseif lw == "case" and depth > 0 then
              depth = depth + 1
            elseif lw == "end" and depth > 0 then
              depth = depth - 1
            end
          end
          i = nxt
        end
      elseif c:find("^%d") then
        i = i + #text:match("^[%w.]+", i)
      else
        i = i + 1
      end
      last = i - 1
    end
  end
  finish(last)
  return out
end

return M
