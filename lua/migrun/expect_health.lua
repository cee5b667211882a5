--- migrun.expect_health: the health of the server as expectations (policy layer), for a
-- preflight that refuses to start into trouble and for a watch window: sessions that would
-- make a migration queue or hold it back, connections, replication, extensions. Each is one
-- SQL statement (batched with the other checks) that names what it found, so a refusal says
-- which transaction, which session, which standby. migrun.expect plugs these in:
--
--   expect.no_long_transactions { max = "5m" [, all_databases = true] }
--   expect.idle_in_transaction { max = "1m" [, all_databases = true] }
--   expect.connections { max = 200 [, min = n] [, state = "active"] [, all_databases = true] }
--   expect.no_blocked_sessions([{ min_wait = "1s" }])
--   expect.replication_lag { max = "10s" [, standbys = n (default 1; 0: none is fine)] }
--   expect.extension(name [, { version = "1.10" }])
--
-- Sessions are the database's client backends, this run's own connection left out; with
-- all_databases = true the whole cluster's.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local text = require "migrun.text"

local M = {}

local function bad(at, fmt, ...)
  errors.raise("playbook", string.format(fmt, ...), { file = at.file, line = at.line })
end

local function options(at, fn, opts, allowed, required)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then bad(at, "expect.%s: options must be a table {%s}", fn, table.concat(allowed, ", ")) end
  local set = {}
  for _, k in ipairs(allowed) do set[k] = true end
  for k in pairs(opts) do
    if not set[k] then
      bad(at, "expect.%s: unknown option %s%s", fn, tostring(k), text.did_you_mean(tostring(k), allowed))
    end
  end
  for _, k in ipairs(required or {}) do
    if opts[k] == nil then bad(at, "expect.%s: %s is required", fn, k) end
  end
  return opts
end

local function duration(at, fn, what, v)
  local ns, err = clock.parse(v)
  if not ns then bad(at, "expect.%s: %s: %s", fn, what, err or "not a duration") end
  return { ns = ns, text = v, seconds = ns / 1e9 }
end

local function count(at, fn, what, v)
  if math.tointeger(v) == nil or v < 0 then bad(at, "expect.%s: %s must be a whole number >= 0", fn, what) end
  return math.tointeger(v)
end

local function flag(at, fn, what, v)
  if v ~= nil and type(v) ~= "boolean" then bad(at, "expect.%s: %s must be true or false", fn, what) end
  return v == true
end

-- the sessions a check looks at: client backends of this database (or all), not our own
local function sessions_where(e)
  return "a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()" ..
         (e.all_databases and "" or " AND a.datname = pg_catalog.current_database()")
end

local function age(seconds)
  return clock.format(math.floor((tonumber(seconds) or 0) * 1e9))
end

local function one_line(s, max)
  s = tostring(s or ""):gsub("%s+", " ")
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

-- "pid 4242 (alice via psql from 10.0.0.7)"
local function who(r)
  return string.format("pid %s (%s via %s from %s)", tostring(r.pid), r.usename or "?",
                       (r.application_name or "") ~= "" and r.application_name or "an unnamed client",
                       r.client or "local socket")
end

local SESSION_COLUMNS = [[a.pid, a.usename, a.application_name, a.state, a.datname,
  coalesce(host(a.client_addr), 'local socket') AS client, left(a.query, 300) AS query]]

-- the sessions found, named one per line (at most five, then how many more)
local function name_sessions(rows, line)
  local out = {}
  for i, r in ipairs(rows) do
    if i > 5 then
      out[#out + 1] = string.format("and %d more", #rows - 5)
      break
    end
    out[#out + 1] = line(r)
  end
  return table.concat(out, "; ")
end

---------------------------------------------------------------------------------------------

M.kinds = {}

M.kinds.no_long_transactions = {
  new = function(at, opts)
    opts = options(at, "no_long_transactions", opts, { "max", "all_databases" }, { "max" })
    return { max = duration(at, "no_long_transactions", "max", opts.max),
             all_databases = flag(at, "no_long_transactions", "all_databases", opts.all_databases) }
  end,
  kind = {
    describe = function(e) return "no transaction open longer than " .. e.max.text end,
    expected = function(e) return "none open longer than " .. e.max.text end,
    sql = function(e)
      return [[SELECT ]] .. SESSION_COLUMNS .. [[,
                 extract(epoch FROM clock_timestamp() - a.xact_start)::float8 AS seconds
               FROM pg_catalog.pg_stat_activity a
               WHERE a.xact_start IS NOT NULL AND ]] .. sessions_where(e) .. [[
                 AND clock_timestamp() - a.xact_start > make_interval(secs => $1)
               ORDER BY a.xact_start]], e.max.seconds
    end,
    judge = function(e, res)
      if res.n == 0 then return true, "none", "none open longer than " .. e.max.text end
      return false, name_sessions(res, function(r)
        return string.format("%s in a transaction for %s (%s): %s", who(r), age(r.seconds), r.state or "?",
                             one_line(r.query, 120))
      end), "none open longer than " .. e.max.text
    end,
  },
}

M.kinds.idle_in_transaction = {
  new = function(at, opts)
    opts = options(at, "idle_in_transaction", opts, { "max", "all_databases" }, { "max" })
    return { max = duration(at, "idle_in_transaction", "max", opts.max),
             all_databases = flag(at, "idle_in_transaction", "all_databases", opts.all_databases) }
  end,
  kind = {
    describe = function(e) return "no session idle in a transaction longer than " .. e.max.text end,
    expected = function(e) return "none idle in a transaction longer than " .. e.max.text end,
    sql = function(e)
      return [[SELECT ]] .. SESSION_COLUMNS .. [[,
                 extract(epoch FROM clock_timestamp() - a.state_change)::float8 AS seconds
               FROM pg_catalog.pg_stat_activity a
               WHERE a.state IN ('idle in transaction', 'idle in transaction (aborted)')
                 AND ]] .. sessions_where(e) .. [[
                 AND clock_timestamp() - a.state_change > make_interval(secs => $1)
               ORDER BY a.state_change]], e.max.seconds
    end,
    judge = function(e, res)
      local expected = "none idle in a transaction longer than " .. e.max.text
      if res.n == 0 then return true, "none", expected end
      return false, name_sessions(res, function(r)
        return string.format("%s idle in a transaction for %s after: %s", who(r), age(r.seconds),
                             one_line(r.query, 120))
      end), expected
    end,
  },
}

local STATES = { active = true, idle = true, ["idle in transaction"] = true }

M.kinds.connections = {
  new = function(at, opts)
    opts = options(at, "connections", opts, { "max", "min", "state", "all_databases" })
    if opts.max == nil and opts.min == nil then bad(at, "expect.connections: give max, min or both") end
    if opts.state ~= nil and not STATES[opts.state] then
      bad(at, "expect.connections: state must be \"active\", \"idle\" or \"idle in transaction\"")
    end
    return { max = opts.max and count(at, "connections", "max", opts.max),
             min = opts.min and count(at, "connections", "min", opts.min), state = opts.state,
             all_databases = flag(at, "connections", "all_databases", opts.all_databases) }
  end,
  kind = {
    describe = function(e)
      local what = (e.state and (e.state .. " ") or "") .. "connections"
      if e.min and e.max then return string.format("%s between %d and %d", what, e.min, e.max) end
      return e.max and string.format("%s at most %d", what, e.max) or string.format("%s at least %d", what, e.min)
    end,
    expected = function(e)
      if e.min and e.max then return string.format("%d..%d", e.min, e.max) end
      return e.max and ("<= " .. e.max) or (">= " .. e.min)
    end,
    -- the count, and who holds them: by application, biggest first
    sql = function(e)
      return [[SELECT coalesce(nullif(a.application_name, ''), '(unnamed)') AS app, count(*)::int AS n
               FROM pg_catalog.pg_stat_activity a
               WHERE ]] .. sessions_where(e) .. [[ AND ($1::text IS NULL OR a.state = $1)
               GROUP BY 1 ORDER BY 2 DESC, 1]], e.state
    end,
    judge = function(e, res)
      local n, parts = 0, {}
      for i, r in ipairs(res) do
        n = n + r.n
        if i <= 5 then parts[#parts + 1] = string.format("%s %d", r.app, r.n) end
      end
      local ok = (not e.max or n <= e.max) and (not e.min or n >= e.min)
      local expected = M.kinds.connections.kind.expected(e)
      return ok, #parts > 0 and string.format("%d (%s)", n, table.concat(parts, ", ")) or "0", expected
    end,
  },
}

M.kinds.no_blocked_sessions = {
  new = function(at, opts)
    opts = options(at, "no_blocked_sessions", opts, { "min_wait", "all_databases" })
    return { min_wait = duration(at, "no_blocked_sessions", "min_wait", opts.min_wait or "0s"),
             all_databases = flag(at, "no_blocked_sessions", "all_databases", opts.all_databases) }
  end,
  kind = {
    describe = function(e)
      return "no session waiting for a lock" .. (e.min_wait.ns > 0 and (" longer than " .. e.min_wait.text) or "")
    end,
    expected = function() return "none waiting" end,
    -- a waiting session, how long it has waited for its lock (pg_locks.waitstart, PostgreSQL
    -- 14+; its statement may have run long before it had to wait), and who holds it up
    sql = function(e)
      return [[SELECT * FROM (
                 SELECT ]] .. SESSION_COLUMNS .. [[,
                   extract(epoch FROM clock_timestamp() - coalesce(
                     (SELECT min(l.waitstart) FROM pg_catalog.pg_locks l WHERE l.pid = a.pid AND NOT l.granted),
                     a.state_change))::float8 AS seconds,
                   pg_catalog.array_to_string(pg_catalog.pg_blocking_pids(a.pid), ', ') AS blockers
                 FROM pg_catalog.pg_stat_activity a
                 WHERE a.wait_event_type = 'Lock' AND ]] .. sessions_where(e) .. [[) w
               WHERE w.seconds >= $1
               ORDER BY w.seconds DESC]], e.min_wait.seconds
    end,
    judge = function(_, res)
      if res.n == 0 then return true, "none", "none waiting" end
      return false, name_sessions(res, function(r)
        return string.format("%s waiting %s for a lock held by pid %s: %s", who(r), age(r.seconds),
                             r.blockers ~= "" and r.blockers or "?", one_line(r.query, 120))
      end), "none waiting"
    end,
  },
}

M.kinds.replication_lag = {
  new = function(at, opts)
    opts = options(at, "replication_lag", opts, { "max", "standbys" }, { "max" })
    return { max = duration(at, "replication_lag", "max", opts.max),
             -- a lag check with nothing to check is no pass: one standby unless told otherwise
             standbys = opts.standbys and count(at, "replication_lag", "standbys", opts.standbys) or 1 }
  end,
  kind = {
    describe = function(e)
      return "replication lag at most " .. e.max.text ..
             (e.standbys > 0 and string.format(" on at least %d standby(s)", e.standbys) or "")
    end,
    expected = function(e) return "<= " .. e.max.text end,
    -- on a primary, each standby's replay lag: none when it has replayed everything (its
    -- replay_lag then goes NULL), else the time since its last replayed commit was current;
    -- on a standby, the time since its last replayed commit, unless it has replayed all it got
    sql = function()
      return [[
        SELECT coalesce(s.application_name, '') || ' ' || coalesce(host(s.client_addr), 'local') AS standby,
               s.state,
               CASE WHEN s.replay_lsn = pg_catalog.pg_current_wal_lsn() THEN 0
                    ELSE coalesce(extract(epoch FROM s.replay_lag), extract(epoch FROM s.write_lag), 0) END::float8
                 AS seconds,
               pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_lsn(), s.replay_lsn)::float8 AS bytes
        FROM pg_catalog.pg_stat_replication s WHERE NOT pg_catalog.pg_is_in_recovery()
        UNION ALL
        SELECT 'this standby', 'replaying',
               CASE WHEN pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() THEN 0
                    ELSE extract(epoch FROM clock_timestamp() - pg_catalog.pg_last_xact_replay_timestamp()) END::float8,
               pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_last_wal_receive_lsn(),
                                          pg_catalog.pg_last_wal_replay_lsn())::float8
        WHERE pg_catalog.pg_is_in_recovery()
        ORDER BY 3 DESC]]
    end,
    judge = function(e, res)
      local expected = M.kinds.replication_lag.kind.expected(e)
      if res.n < e.standbys then
        return false, string.format("%d standby(s) connected, %d expected", res.n, e.standbys), expected
      end
      if res.n == 0 then return true, "no standby connected", expected end
      local worst, parts = 0, {}
      for i, r in ipairs(res) do
        worst = math.max(worst, r.seconds or 0)
        if i <= 5 then
          parts[#parts + 1] = string.format("%s %s behind (%d bytes)", r.standby:gsub("^%s+", ""), age(r.seconds),
                                            math.floor(r.bytes or 0))
        end
      end
      return worst <= e.max.seconds, table.concat(parts, "; "), expected
    end,
  },
}

-- extensions whose library must be loaded at server start for their views and functions
local PRELOAD = { pg_stat_statements = true, pg_cron = true, timescaledb = true, pg_squeeze = true }

M.kinds.extension = {
  new = function(at, name, opts)
    if type(name) ~= "string" or not name:find("^[%w_%-]+$") then
      bad(at, "expect.extension: the first argument must be an extension's name, like \"pg_stat_statements\"")
    end
    opts = options(at, "extension", opts, { "version" })
    if opts.version ~= nil and type(opts.version) ~= "string" then
      bad(at, "expect.extension: version must be a string like \"1.10\"")
    end
    return { name = name, version = opts.version }
  end,
  kind = {
    describe = function(e) return "extension " .. e.name .. (e.version and (" " .. e.version) or "") end,
    expected = function(e)
      return "installed" .. (e.version and (" at " .. e.version) or "") ..
             (PRELOAD[e.name] and " and loaded" or "")
    end,
    sql = function(e)
      return [[SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = $1::text) AS installed,
                      (SELECT default_version FROM pg_catalog.pg_available_extensions
                        WHERE name = $1::text) AS available,
                      $1::text = ANY (pg_catalog.string_to_array(
                        pg_catalog.replace(pg_catalog.current_setting('shared_preload_libraries'), ' ', ''), ','))
                        AS preloaded]], e.name
    end,
    judge = function(e, res)
      local r, expected = res[1], M.kinds.extension.kind.expected(e)
      if not r.installed then
        return false, r.available and string.format("not installed here (available: %s; CREATE EXTENSION %s)",
                                                     r.available, e.name)
                                  or "not installed, and not available on this server", expected
      end
      if e.version and r.installed ~= e.version then
        return false, "installed at " .. r.installed, expected
      end
      if PRELOAD[e.name] and not r.preloaded then
        return false, string.format("installed at %s but not loaded: add %s to shared_preload_libraries and " ..
                                    "restart the server", r.installed, e.name), expected
      end
      return true, "installed at " .. r.installed .. (PRELOAD[e.name] and ", loaded" or ""), expected
    end,
  },
}

return M
