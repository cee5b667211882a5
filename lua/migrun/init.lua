--- migrun: the Lua layer's entry point. `require "migrun"` loads the error shape and reports
-- the C<->Lua contract version the binary checks (R8).
local M = {}

M.VERSION = "0.1.0"
M.CORE_ABI = 1

require "migrun.errors"   -- fills in the migrun.error metatable the C core raises with

return M
