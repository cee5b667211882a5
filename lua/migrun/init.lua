--- migrun: the Lua layer's entry point. `require "migrun"` loads the error shape and reports
-- the C<->Lua contract version the binary checks (R8).
local M = {}

-- Precompiled modules: the build writes share/migrun/luac/**.luac beside share/migrun/lua
-- (scripts/compile-lua.lua, with the same chunk names). A module of this tree loads from its
-- bytecode while that is newer than the source (an edited source wins until the next build),
-- and from source otherwise or when the bytecode does not load (another Lua's format).
local lua_dir = select(2, ...)
lua_dir = type(lua_dir) == "string" and lua_dir:match("^(.*/share/migrun/lua)/migrun/init%.lua$")
if lua_dir then
  local lfs = require "lfs"
  local luac_dir = lua_dir .. "c"
  if lfs.attributes(luac_dir, "mode") == "directory" then
    table.insert(package.searchers, 2, function(name)
      local src = package.searchpath(name, package.path)
      if not src or src:sub(1, #lua_dir + 1) ~= lua_dir .. "/" then return nil end
      local bc = luac_dir .. src:sub(#lua_dir + 1) .. "c"
      local t_bc = lfs.attributes(bc, "modification")
      if not t_bc or t_bc <= lfs.attributes(src, "modification") then return nil end
      local chunk = loadfile(bc, "b")
      if not chunk then return nil end
      return chunk, src
    end)
  end
end

M.VERSION = require("migrun.core.sys").VERSION
M.CORE_ABI = 1

require "migrun.errors"   -- fills in the migrun.error metatable the C core raises with

-- `require "migrun"` inside a playbook gives the same DSL names as its globals
setmetatable(M, { __index = function(_, k)
  local dsl = package.loaded["migrun.dsl"]
  local env = dsl and dsl.current
  return env and rawget(env, k) or nil
end })

return M
