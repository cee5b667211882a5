--- migrun.hash: sha256 of strings and files, streamed in C through OpenSSL.
local core = require "migrun.core.hash"

local M = {
  sha256 = core.sha256,            -- sha256(s) -> hex
  sha256_file = core.sha256_file,  -- sha256_file(path) -> hex | nil, message
  new = core.new,                  -- new() -> h; h:update(s); h:hex()
}

--- hash.text(s) -> sha256 of s with line endings normalised (a CRLF checkout is not drift)
function M.text(s)
  if s:find("\r\n", 1, true) then s = s:gsub("\r\n", "\n") end   -- gsub copies even with no match
  return core.sha256(s)
end

return M
