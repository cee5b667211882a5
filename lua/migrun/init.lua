--- migrun: the Lua layer's entry point. `require "migrun"` loads the error shape and reports
-- the C<->Lua contract version the binary checks (R8).
local M = {}

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
