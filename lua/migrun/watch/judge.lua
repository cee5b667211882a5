--- migrun.watch.judge: a tick's figures and the watch's thresholds -> the metrics of the
-- tick and its breaches (policy layer, pure: no database). Counters are deltas: since the
-- previous tick (commits, rollbacks) or since the window opened (rollback rate, deadlocks,
-- temp bytes, per-query means); connections and lock waits are what they are now.
local M = {}

--- judge.bytes(n) -> "512 B", "64.0 kB", "1.5 GB" (1024-based, as PostgreSQL writes sizes)
function M.bytes(n)
  local units = { "B", "kB", "MB", "GB", "TB" }
  local i = 1
  while n >= 1024 and i < #units do n, i = n / 1024, i + 1 end
  return i == 1 and string.format("%d B", n) or string.format("%.1f %s", n, units[i])
end

local function delta(now, before)
  return math.max(0, (now or 0) - (before or 0))   -- a reset counter counts from zero
end

local function ms(v)
  if v >= 100 then return string.format("%.0f ms", v) end
  if v >= 1 then return string.format("%.1f ms", v) end
  return string.format("%.3f ms", v)
end

--- judge.metrics(fig, ref, prev, pgss) -> {figure = number}: fig the tick's row, ref the
-- window's opening row, prev the previous tick's row
function M.metrics(fig, ref, prev, pgss)
  local dc, dr = delta(fig.commits, ref.commits), delta(fig.rollbacks, ref.rollbacks)
  local m = {
    commits = delta(fig.commits, prev.commits), rollbacks = delta(fig.rollbacks, prev.rollbacks),
    rollback_rate_pct = dc + dr > 0 and 100 * dr / (dc + dr) or 0,
    deadlocks = delta(fig.deadlocks, ref.deadlocks), temp_bytes = delta(fig.temp_bytes, ref.temp_bytes),
    connections = fig.connections, lock_waits = fig.lock_waits,
  }
  if pgss then
    m.queries_compared = fig.compared or 0
    local worst = fig.worst and fig.worst[1]
    if worst and worst.slower_pct then m.slower_pct = worst.slower_pct end
  end
  return m
end

-- a count against {max =, min =}
local function against(list, metric, v, lim, what, unit)
  if not lim then return end
  local fmt = unit or function(x) return tostring(x) end
  if lim.max and v > lim.max then
    list[#list + 1] = { metric = metric, key = metric, value = v, limit = "max " .. fmt(lim.max),
                        message = string.format("%s %s, more than the %s allowed", what, fmt(v), fmt(lim.max)) }
  elseif lim.min and v < lim.min then
    list[#list + 1] = { metric = metric, key = metric, value = v, limit = "min " .. fmt(lim.min),
                        message = string.format("%s %s, fewer than the %s expected", what, fmt(v), fmt(lim.min)) }
  end
end

--- judge.breaches(w, m, fig) -> list of {metric, key, value, limit, message [, query fields]}:
-- what this tick's metrics m break of watch w's thresholds (fig: the tick's row, for the
-- per-query figures). `key` tells one breach from another across ticks (a query's own key).
function M.breaches(w, m, fig)
  local list = {}
  if w.slower then
    for _, q in ipairs(fig.worst or {}) do
      if q.slower_pct and q.slower_pct > w.slower.pct and q.calls >= w.slower.min_calls
         and q.base_calls >= w.slower.min_calls then
        list[#list + 1] = {
          metric = "slower_pct", key = "slower_pct:" .. q.queryid, value = q.slower_pct,
          limit = string.format("%s slower", w.slower.text), queryid = q.queryid,
          base_mean_ms = q.base_mean, mean_ms = q.mean, calls = q.calls, base_calls = q.base_calls,
          message = string.format("query %s: mean %s in the window against %s before (%+.0f%%, more than %s), " ..
                                  "%d calls in the window, %d before", q.queryid, ms(q.mean), ms(q.base_mean),
                                  q.slower_pct, w.slower.text, q.calls, q.base_calls),
        }
      end
    end
  end
  if w.rollback_rate and m.rollback_rate_pct > w.rollback_rate then
    list[#list + 1] = { metric = "rollback_rate_pct", key = "rollback_rate_pct", value = m.rollback_rate_pct,
                        limit = string.format("max %s%%", w.rollback_rate),
                        message = string.format("rollback rate %.1f%% in the window, more than %s%%",
                                                m.rollback_rate_pct, w.rollback_rate) }
  end
  against(list, "deadlocks", m.deadlocks, w.deadlocks, "deadlocks in the window:")
  if w.temp_bytes and m.temp_bytes > w.temp_bytes then
    list[#list + 1] = { metric = "temp_bytes", key = "temp_bytes", value = m.temp_bytes,
                        limit = "max " .. M.bytes(w.temp_bytes),
                        message = string.format("temporary files of %s in the window, more than %s",
                                                M.bytes(m.temp_bytes), M.bytes(w.temp_bytes)) }
  end
  against(list, "connections", m.connections, w.connections, "connections:")
  against(list, "lock_waits", m.lock_waits, w.lock_waits, "sessions waiting on a lock:")
  return list
end

return M
