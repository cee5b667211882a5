--- migrun test [DIR|busted options]: busted inside migrun's VM (migrun.testing helps specs
-- run playbooks on a sandbox).
local M = {}

function M.run(opts)
  _G.arg = { [0] = "migrun test", table.unpack(opts.args) }
  require("busted.runner")({ standalone = false })
  return 0
end

return M
