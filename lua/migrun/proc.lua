--- migrun.proc: run programs from an argv list (never a shell); see engine/proc.c.
-- opts: env = {K = V|false}, cwd, user, new_session, timeout = "30s" | ms,
-- stdin = "null" | "inherit" | {data = s} | {file = p},
-- stdout/stderr = "capture" | "null" | "inherit" | {file = p} | {append = p}
local core = require "migrun.core.proc"
local clock = require "migrun.clock"

local M = { SIGTERM = core.SIGTERM, SIGKILL = core.SIGKILL, SIGINT = core.SIGINT }

local function normalise(opts)
  opts = opts or {}
  if opts.timeout then
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    local ns = assert(clock.parse(opts.timeout))
    o.timeout, o.timeout_ms = nil, math.max(1, ns // 1000000)
    return o
  end
  return opts
end

--- proc.run(argv, opts) -> {ok, status, signal, timed_out, interrupted, stdout, stderr}
function M.run(argv, opts)
  opts = normalise(opts)
  local r = core.run(argv, opts)
  -- a captured stream is a string even when the program wrote nothing
  if opts.stdout == nil or opts.stdout == "capture" then r.stdout = r.stdout or "" end
  if opts.stderr == nil or opts.stderr == "capture" then r.stderr = r.stderr or "" end
  return r
end

--- proc.spawn(argv, opts) -> handle with :wait([ms]), :kill([sig]), :pid(); closed = killed.
-- stdio goes to files, /dev/null or the terminal (no capture), and there is no timeout option.
function M.spawn(argv, opts)
  return core.spawn(argv, normalise(opts))
end

--- proc.which(name) -> absolute path of an executable found in PATH, or nil
function M.which(name)
  if name:find("/") then return name end
  for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    local p = dir .. "/" .. name
    local f = io.open(p, "r")
    if f then
      f:close()
      return p
    end
  end
  return nil
end

return M
