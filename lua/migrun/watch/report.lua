--- migrun.watch.report: the watch windows in a report (policy layer). The document's `watch` is
-- a list of windows {name, duration, every, on_breach, outcome, seconds, baseline, thresholds
-- ({figure = {max =, min =}}), samples ({tick, at_seconds, metrics}), breaches, queries};
-- migrun.report_html draws it, this renders it as Markdown, and rebuilds it from the ledger for
-- a run that died before its summary was written.
local judge = require "migrun.watch.judge"
local json = require "migrun.json"

local M = {}

local function nz(v)
  if v == nil or v == json.null then return nil end
  return v
end

local function cell(v)
  v = nz(v)
  if v == nil then return "" end
  if math.type(v) == "float" and v ~= math.floor(v) then return string.format("%.1f", v) end
  if type(v) == "number" then return string.format("%d", math.floor(v)) end
  return (tostring(v):gsub("|", "\\|"):gsub("\n", " "))
end

local function ms(v)
  v = tonumber(nz(v))
  if not v then return "" end
  return v >= 1 and string.format("%.1f ms", v) or string.format("%.3f ms", v)
end

local function seconds(v)
  v = tonumber(nz(v)) or 0
  return v < 60 and string.format("%.1fs", v) or string.format("%dm%02ds", math.floor(v) // 60, math.floor(v) % 60)
end

-- the columns of the samples table: figure, heading, how a value shows
local COLUMNS = {
  { "commits", "Commits" }, { "rollbacks", "Rollbacks" },
  { "rollback_rate_pct", "Rollback rate", function(v) return string.format("%.1f%%", v) end },
  { "deadlocks", "Deadlocks" }, { "temp_bytes", "Temp files", judge.bytes },
  { "connections", "Connections" }, { "lock_waits", "Lock waits" },
  { "slower_pct", "Slowest query", function(v) return string.format("%+.0f%%", v) end },
  { "queries_compared", "Queries compared" }, { "expect_failed", "Expectations failed" },
}

local LIMIT_TEXT = {
  slower_pct = function(l) return string.format("a query's mean more than %s%% above its baseline (queries with " ..
                                                "at least %s calls before and in the window)", cell(l.max),
                                                cell(l.min_calls)) end,
  rollback_rate_pct = function(l) return string.format("at most %s%% of the window's transactions rolled back",
                                                       cell(l.max)) end,
  temp_bytes = function(l) return "at most " .. judge.bytes(l.max) .. " of temporary files in the window" end,
  expect_failed = function() return "every expectation passes at every sample" end,
}

local function limit_text(fig, l)
  if type(l) ~= "table" then return cell(l) end
  if LIMIT_TEXT[fig] then return LIMIT_TEXT[fig](l) end
  local parts = {}
  if nz(l.max) then parts[#parts + 1] = "at most " .. cell(l.max) end
  if nz(l.min) then parts[#parts + 1] = "at least " .. cell(l.min) end
  return table.concat(parts, ", ") .. (fig == "deadlocks" and " in the window" or " at every sample")
end

local function one(add, w)
  add("### %s", cell(w.name))
  add("")
  add("Watched for %s of %s, a sample every %s, on breach: %s. Outcome: **%s**.", seconds(w.seconds),
      cell(w.duration), cell(w.every), cell(w.on_breach), cell(w.outcome))
  local b = nz(w.baseline)
  if b then
    add("")
    add("Baseline, before the first phase: connections %s, sessions waiting on a lock %s%s.", cell(b.connections),
        cell(b.lock_waits), nz(b.statements) and string.format(", %s of the %s statements in pg_stat_statements " ..
        "called often enough to compare", cell(b.queries), cell(b.statements)) or
        " (no per-query figures: pg_stat_statements was not available)")
  end
  add("")
  local th = nz(w.thresholds) or {}
  local figs = {}
  for k in pairs(th) do figs[#figs + 1] = k end
  table.sort(figs)
  if #figs > 0 then
    add("| Figure | Threshold |")
    add("|---|---|")
    for _, k in ipairs(figs) do add("| %s | %s |", cell(k), limit_text(k, th[k])) end
    add("")
  end
  local samples = nz(w.samples) or {}
  local cols = {}
  for _, c in ipairs(COLUMNS) do
    for _, s in ipairs(samples) do
      if nz((nz(s.metrics) or {})[c[1]]) then cols[#cols + 1] = c break end
    end
  end
  if #samples == 0 then
    add("No sample was taken.")
    add("")
  elseif #cols > 0 then
    local head, rule = { "At" }, { "---:" }
    for _, c in ipairs(cols) do head[#head + 1], rule[#rule + 1] = c[2], "---:" end
    add("| %s |", table.concat(head, " | "))
    add("|%s|", table.concat(rule, "|"))
    for _, s in ipairs(samples) do
      local row = { seconds(s.at_seconds) }
      local m = nz(s.metrics) or {}
      for _, c in ipairs(cols) do
        local v = nz(m[c[1]])
        row[#row + 1] = v == nil and "" or c[3] and c[3](v) or cell(v)
      end
      add("| %s |", table.concat(row, " | "))
    end
    add("")
    add("Commits and rollbacks are counted since the previous sample; the rollback rate, deadlocks and temporary " ..
        "files since the window opened; connections (migrun's own session left out) and lock waits are as sampled.")
    add("")
  end
  local breaches = nz(w.breaches) or {}
  if #breaches > 0 then
    add("Breaches (each the first time it was seen):")
    add("")
    for _, br in ipairs(breaches) do
      add("- at %s, %s: %s", seconds(br.at_seconds), cell(br.metric), cell(br.message or br.why))
    end
    add("")
  end
  local queries = nz(w.queries) or {}
  if #queries > 0 then
    add("The queries that slowed down most, at the end of the window:")
    add("")
    add("| Query | Mean before | Calls before | Mean in the window | Calls in the window | Change |")
    add("|---|---:|---:|---:|---:|---:|")
    for _, q in ipairs(queries) do
      add("| `%s` %s | %s | %s | %s | %s | %s |", cell(q.queryid), cell((tostring(nz(q.query) or "")):gsub("`", "'")),
          ms(q.base_mean_ms), cell(q.base_calls), ms(q.mean_ms), cell(q.calls),
          nz(q.slower_pct) and string.format("%+.0f%%", q.slower_pct) or "")
    end
    add("")
  end
end

--- report.markdown(list) -> the report's "## Watch" section (text), or nil when there is none
function M.markdown(list)
  list = nz(list)
  if type(list) ~= "table" or #list == 0 then return nil end
  local out = {}
  local function add(...) out[#out + 1] = string.format(...) end
  add("## Watch")
  add("")
  for _, w in ipairs(list) do one(add, w) end
  return table.concat(out, "\n")
end

--- report.from_ledger(db, run_id) -> the windows as the ledger's samples hold them (a run that
-- died in its window has no summary), or nil when it has none
function M.from_ledger(db, run_id)
  local ok, res = pcall(db.query, db, [[
    SELECT watch, tick, at_seconds::float8 AS at, metrics::text AS metrics, breaches::text AS breaches
    FROM migrun.watch_samples WHERE run_id = $1 ORDER BY id]], run_id)
  if not ok or res.n == 0 then return nil end
  local list, by = json.array(), {}
  for i = 1, res.n do
    local r = res[i]
    local w = by[r.watch]
    if not w then
      w = { name = r.watch, samples = json.array(), breaches = json.array(), queries = json.array(),
            outcome = "not finished (the run ended in its window)" }
      by[r.watch], list[#list + 1] = w, w
      w.seen = {}
    end
    local m = json.decode(r.metrics)
    if r.tick == 0 then
      w.baseline = m
    else
      w.samples[#w.samples + 1] = { tick = r.tick, at_seconds = r.at, metrics = m }
      w.seconds = r.at
      for _, b in ipairs(r.breaches and json.decode(r.breaches) or {}) do
        local key = tostring(b.metric) .. ":" .. tostring(nz(b.queryid) or "")
        if not w.seen[key] then
          w.seen[key] = true
          w.breaches[#w.breaches + 1] = { metric = b.metric, value = b.value, limit = b.limit, message = b.why,
                                          at_seconds = r.at, tick = r.tick }
        end
      end
    end
  end
  for _, w in ipairs(list) do w.seen = nil end
  return list
end

return M
