--- migrun.docs.editor: what an editor needs to know a playbook (policy layer): the directory
-- of the LuaLS definitions (lua/migrun/meta, installed with the Lua layer) and the
-- .luarc.json that `migrun new` writes to point the Lua language server at it.
local lfs = require "lfs"

local M = {}

-- "/a/bin/../share/./x" -> "/a/share/x"
local function normalise(path)
  local parts = {}
  for p in path:gmatch("[^/]+") do
    if p == ".." then
      if #parts > 0 then parts[#parts] = nil end
    elseif p ~= "." then
      parts[#parts + 1] = p
    end
  end
  return "/" .. table.concat(parts, "/")
end

--- editor.meta_dir() -> the absolute path of the directory holding the definitions, found
-- where this migrun finds its Lua layer (the build tree, the install prefix, MIGRUN_LUA_PATH)
function M.meta_dir()
  local file = assert(package.searchpath("migrun.meta.migrun", package.path),
                      "migrun's LuaLS definitions (migrun/meta/migrun.lua) are not on the Lua path")
  local dir = file:match("^(.*)/[^/]*$") or "."
  if dir:sub(1, 1) ~= "/" then dir = lfs.currentdir() .. "/" .. dir end
  return normalise(dir)
end

--- editor.BUSTED: the globals busted gives a spec (spec/*_spec.lua of a project)
M.BUSTED = { "describe", "it", "pending", "before_each", "after_each", "setup", "teardown",
             "lazy_setup", "lazy_teardown", "strict_setup", "strict_teardown", "finally", "insulate",
             "expose", "randomize", "assert", "spy", "stub", "mock" }

-- a JSON string, slashes as they are (a path reads as a path)
local function str(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

--- editor.luarc() -> the text of a project's .luarc.json: Lua 5.4, migrun's definitions as a
-- library (playbook, phase, expect.*, ... are known, typed globals), busted's globals for specs
function M.luarc()
  local globals = {}
  for i, g in ipairs(M.BUSTED) do globals[i] = str(g) end
  return table.concat({
    "{",
    '  "$schema": "https://raw.githubusercontent.com/LuaLS/vscode-lua/master/setting/schema.json",',
    '  "runtime.version": "Lua 5.4",',
    '  "workspace.library": [' .. str(M.meta_dir()) .. "],",
    '  "workspace.checkThirdParty": false,',
    '  "diagnostics.globals": [',
    "    " .. table.concat(globals, ", ", 1, 10) .. ",",
    "    " .. table.concat(globals, ", ", 11) .. "]",
    "}", "" }, "\n")
end

return M
