--- migrun.report_html: a report document (migrun.report) as one self-contained HTML page for
-- looking (policy layer): inline CSS and inline SVG charts, no script, no reference outside the
-- file, and a Content-Security-Policy that forbids both. Every value from the document goes
-- through fill(), which escapes it unless it is markup built here (raw): the document carries
-- user SQL, error messages and names.
local clock = require "migrun.clock"
local json = require "migrun.json"
local status = require "migrun.run.status"

local M = {}

local function nz(v)
  if v == nil or v == json.null then return nil end
  return v
end

local function num(v)
  v = tonumber(nz(v))
  if not v then return "" end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format("%d", v) end
  return string.format("%.6g", v)
end

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }

local function esc(v)
  v = nz(v)
  if v == nil then return "" end
  if type(v) == "number" then return num(v) end
  return (tostring(v):gsub("[&<>\"']", ESC))
end

-- markup built here, which fill() passes through unescaped
local RAW = {}
local function raw(s) return setmetatable({ s }, RAW) end

-- fill(fmt, ...) -> fmt (only %s) with each argument escaped, except raw() ones
local function fill(fmt, ...)
  local args = table.pack(...)
  for i = 1, args.n do
    local a = args[i]
    if getmetatable(a) == RAW then args[i] = a[1] else args[i] = esc(a) end
  end
  return string.format(fmt, table.unpack(args, 1, args.n))
end

local function page()
  local out = {}
  return out, function(fmt, ...) out[#out + 1] = fill(fmt, ...) end
end

local function fmt_ms(v)
  v = tonumber(nz(v))
  if not v then return "" end
  return clock.format(math.floor(v * 1e6))
end

-- bytes, and the same for people: "123456 (121 kB)"
local function size(v)
  v = tonumber(nz(v))
  if not v then return "" end
  for _, u in ipairs({ { 2 ^ 40, "TB" }, { 2 ^ 30, "GB" }, { 2 ^ 20, "MB" }, { 2 ^ 10, "kB" } }) do
    if v >= u[1] then return string.format("%s (%.3g %s)", num(v), v / u[1], u[2]) end
  end
  return num(v)
end

local function px(v) return string.format("%.1f", v) end

-- at most n characters (UTF-8 aware), with an ellipsis when cut
local function clip(s, n)
  s = tostring(s or "")
  local len = utf8.len(s)
  if not len then return #s > n and s:sub(1, n - 1) .. "…" or s end
  if len <= n then return s end
  return s:sub(1, utf8.offset(s, n) - 1) .. "…"
end

local function list(v)
  v = nz(v)
  return type(v) == "table" and v or {}
end

-- a table value as one line: "k=v, k=v" (keys sorted), for fields whose shape may grow
local function describe(v)
  v = nz(v)
  if type(v) ~= "table" then return type(v) == "number" and num(v) or tostring(v or "") end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do
    parts[#parts + 1] = math.type(k) == "integer" and describe(v[k]) or (tostring(k) .. "=" .. describe(v[k]))
  end
  return table.concat(parts, ", ")
end

-- axes ----------------------------------------------------------------------------------

local TIME_STEPS = {}
for _, base in ipairs({ 1e3, 1e6 }) do
  for _, m in ipairs({ 1, 2, 5, 10, 20, 50, 100, 200, 500 }) do TIME_STEPS[#TIME_STEPS + 1] = m * base end
end
for _, s in ipairs({ 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000, 86400 }) do
  TIME_STEPS[#TIME_STEPS + 1] = s * 1e9
end

-- a step for about five ticks up to max_ns, from durations people count in
local function time_step(max_ns)
  for _, s in ipairs(TIME_STEPS) do
    if max_ns / s <= 5 then return s end
  end
  return TIME_STEPS[#TIME_STEPS]
end

-- an axis label: "0", "500us", "20ms", "5s", "2m", "1m30s", "2h"
local function tick_label(ns)
  if ns == 0 then return "0" end
  if ns < 1e6 then return string.format("%dus", ns // 1e3) end
  if ns < 1e9 then return string.format("%dms", ns // 1e6) end
  local s = ns // 1e9
  if s < 60 then return string.format("%ds", s) end
  if s < 3600 then
    return s % 60 == 0 and string.format("%dm", s // 60) or string.format("%dm%02ds", s // 60, s % 60)
  end
  local m = s // 60
  return m % 60 == 0 and string.format("%dh", m // 60) or string.format("%dh%02dm", m // 60, m % 60)
end

-- a 1/2/5 step for about n ticks over span
local function number_step(span, n)
  local rough = span / n
  local mag = 10 ^ math.floor(math.log(rough, 10))
  for _, m in ipairs({ 1, 2, 5, 10 }) do
    if rough <= m * mag then return m * mag end
  end
  return 10 * mag
end

-- classes -------------------------------------------------------------------------------

local RUN_CLASS = {
  succeeded = "ok", rollback_done = "ok", baselined = "ok", drift_accepted = "ok",
  nothing_to_do = "info", dry_run = "info", running = "info",
  declined = "warn", not_started = "warn", rollback_stopped = "warn", abandoned = "warn",
}

local PHASE_CLASS = {
  applied = "ok", dry_run_checked = "ok", baselined = "ok",
  already_applied = "skip", not_selected = "skip", after_to = "skip", dry_run_skipped = "skip",
  dry_run_not_reached = "skip",
  failed_rolled_back = "fail", failed_partly_applied = "fail", failed_nothing_applied = "fail",
  rollback_failed = "fail", restore_failed = "fail",
  rolled_back = "undone", undone_by_restore = "undone", rows_restored = "undone",
  not_rolled_back = "undone", no_rollback = "undone", no_backup = "undone",
}

local STEP_CLASS = { applied = "ok", ["ran (dry run)"] = "ok", failed = "fail", rollback_failed = "fail",
                     rolled_back = "undone" }

-- style ---------------------------------------------------------------------------------

local CSS = [[
:root{--ok:#1e7b34;--ok-bg:#e6f4ea;--fail:#b3261e;--fail-bg:#fce8e6;--warn:#8a5a00;--warn-bg:#fef3d6;
--info:#1a5fb4;--info-bg:#e8f0fb;--ink:#1f2328;--mute:#656d76;--line:#d8dee4;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);background:#fff}
main{max-width:1100px;margin:0 auto;padding:0 24px 48px}
header.hero{padding:20px 24px;border-bottom:4px solid var(--mute);background:var(--soft)}
header.hero>div{max-width:1100px;margin:0 auto}
header.s-ok{border-color:var(--ok);background:var(--ok-bg)}
header.s-fail{border-color:var(--fail);background:var(--fail-bg)}
header.s-warn{border-color:var(--warn);background:var(--warn-bg)}
header.s-info{border-color:var(--info);background:var(--info-bg)}
h1{font-size:22px;margin:0 0 8px;overflow-wrap:anywhere}
h2{font-size:18px;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid var(--line)}
h3{font-size:15px;margin:20px 0 8px}
.pill{display:inline-block;padding:1px 9px;border-radius:999px;font-weight:600;font-size:12px;
background:var(--soft);color:var(--mute);border:1px solid var(--line);white-space:nowrap}
.pill.big{font-size:15px;padding:3px 14px}
.ok{color:var(--ok)}.fail{color:var(--fail)}.warn{color:var(--warn)}.info{color:var(--info)}
.pill.ok{background:var(--ok-bg);border-color:var(--ok)}.pill.fail{background:var(--fail-bg);border-color:var(--fail)}
.pill.warn,.pill.undone{background:var(--warn-bg);border-color:var(--warn);color:var(--warn)}
.pill.info{background:var(--info-bg);border-color:var(--info)}
.banner{margin:10px 0;padding:8px 12px;border-left:4px solid var(--info);background:#fff}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:12px 0 0}
dl.meta dt{color:var(--mute)}dl.meta dd{margin:0;overflow-wrap:anywhere}
nav{margin:14px 0 0;display:flex;flex-wrap:wrap;gap:6px}
nav a{font-size:12px;color:var(--info);text-decoration:none;border:1px solid var(--line);border-radius:4px;
padding:1px 7px;background:#fff}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
th{background:var(--soft);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.bad td{background:var(--fail-bg)}
code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:var(--soft);border:1px solid var(--line);border-radius:4px;padding:8px 10px;
white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}
pre.error{background:var(--fail-bg);border-color:var(--fail)}
td pre{margin:2px 0}
.mute{color:var(--mute)}
.legend{font-size:12px;color:var(--mute);display:flex;flex-wrap:wrap;gap:14px;margin:4px 0}
.legend i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:middle;border-radius:2px}
svg{display:block;max-width:100%;height:auto}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:var(--ink)}
svg text.mute{fill:var(--mute);font-size:11px}
svg .axis{stroke:var(--line)}svg .grid{stroke:#eef1f4}
.b-ok{fill:#2e9d4d}.b-fail,.b-over{fill:#d93025}.b-undone{fill:#e0a100}
.b-skip{fill:none;stroke:#aab3bd;stroke-dasharray:4 3}
.b-budget{fill:#dfe6ee}.m-budget{stroke:#4b5b6e;stroke-width:2}
.b-before{fill:#9aa5b1}.b-after{fill:#1a73e8}.est{opacity:.45}
.l-line{fill:none;stroke:#1a73e8;stroke-width:1.8}.l-dot{fill:#1a73e8}
.l-limit{stroke:#d93025;stroke-dasharray:5 4;stroke-width:1.2}.l-band{fill:#fef3d6}
.l-breach{fill:#d93025;stroke:#fff;stroke-width:1}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(460px,1fr));gap:16px}
.chart{border:1px solid var(--line);border-radius:6px;padding:8px 10px}
.chart h3{margin:0 0 4px;font-size:13px}
details{margin:6px 0}summary{cursor:pointer}
footer{margin-top:40px;color:var(--mute);font-size:12px}
@media print{nav{display:none}header.hero{-webkit-print-color-adjust:exact;print-color-adjust:exact}}
]]

-- the page's parts ----------------------------------------------------------------------

local function section(put, id, title)
  put('<section id="%s">\n<h2>%s</h2>\n', id, title)
end

local function pill(text, class)
  return raw(fill('<span class="pill %s">%s</span>', class or "", text))
end

local function header(put, doc)
  local run, o = doc.run, doc.outcome
  local cls = RUN_CLASS[o.status or run.status] or "fail"
  put('<header class="hero s-%s"><div>\n', cls)
  put('<h1>migrun report: %s</h1>\n', run.playbook)
  put('<p>%s%s</p>\n', pill(o.status_text or run.status, "big " .. cls),
      nz(o.failed_phase) and raw(fill(' <span class="fail">failed in phase <b>%s</b></span>', o.failed_phase))
        or "")
  if run.rehearsal then
    local r = list(run.rehearsal_clone)
    put('<p class="banner"><b>REHEARSAL</b> on <code>%s</code>, a clone of <code>%s</code> (%s, %ss): the target ' ..
        'was not touched; these timings are the forecast for production.</p>\n', r.clone, r.source, r.method,
        string.format("%.1f", tonumber(nz(r.clone_seconds)) or 0))
  end
  if run.dry_run then
    put('<p class="banner"><b>DRY RUN</b>: every transactional phase ran inside one transaction that was rolled ' ..
        'back; nothing was changed. Timings are a forecast.%s</p>\n', nz(o.dry_run_stopped_at) and raw(fill(
        ' It stopped before phase <code>%s</code> (transaction = false), which a dry run cannot undo: that ' ..
        'phase and the ones after it were not checked; <code>migrun rehearse</code> runs them on a clone.',
        o.dry_run_stopped_at)) or "")
  end
  local gate = tonumber(nz(run.gate_ms))
  put('<dl class="meta">\n')
  for _, kv in ipairs({
    { "Playbook", raw(fill('%s%s', run.playbook, nz(run.playbook_file) and
      raw(fill(' <span class="mute">(<code>%s</code>)</span>', run.playbook_file)) or "")) },
    { "Target", run.target },
    { "Run", nz(run.id) and num(run.id) or "not recorded (dry run)" },
    { "Started", run.started_at }, { "Finished", run.finished_at },
    { "Duration", fmt_ms(run.duration_ms) .. (gate and gate >= 1000 and
      string.format(" (of which %s waiting at gates)", fmt_ms(gate)) or "") },
    { "By", raw(fill("%s@%s (database user %s)", run.os_user, run.host, run.db_user)) },
    { "migrun", run.migrun_version },
    { "Playbook sha256", raw(fill("<code>%s</code>", run.playbook_checksum)) },
  }) do
    put('<dt>%s</dt><dd>%s</dd>\n', kv[1], kv[2])
  end
  put('</dl>\n')
  return cls
end

local function outcome(put, doc, cls)
  local o = doc.outcome
  section(put, "outcome", "Outcome")
  put('<p>%s%s</p>\n', pill(o.status_text, cls),
      nz(o.failed_phase) and raw(fill(' failed in phase <b>%s</b>', o.failed_phase)) or "")
  if nz(o.error) then put('<pre class="error">%s</pre>\n', tostring(o.error)) end
  if nz(o.kept) then put('<p>The failed database is kept as <code>%s</code>.</p>\n', o.kept) end
  local rows = {}
  for _, p in ipairs(doc.phases) do
    local code = list(o.states)[p.name]
    if code then rows[#rows + 1] = { p.name, code } end
  end
  if #rows > 0 and cls ~= "ok" then
    put('<table><tr><th>Phase</th><th>State</th></tr>\n')
    for _, r in ipairs(rows) do
      put('<tr><td>%s</td><td>%s</td></tr>\n', r[1], pill(status.text(status.phase, r[2]), PHASE_CLASS[r[2]]))
    end
    put('</table>\n')
  end
  put('</section>\n')
end

-- the phase timeline: one row per phase, its duration over its budget (a lighter bar and a
-- marker); over budget in red; a phase that did not run is an empty dashed box
local function timeline(put, doc)
  local W, X0, X1, ROW, TOP = 1000, 262, 800, 36, 6
  local rows, max_ns = {}, 0
  for _, p in ipairs(doc.phases) do
    local ms = tonumber(nz(p.duration_ms))
    local budget = type(nz(p.budget)) == "string" and clock.parse(p.budget) or nil
    local final = list(doc.outcome.states)[p.name] or p.status
    local r = { p = p, ns = ms and math.floor(ms * 1e6), budget = budget, final = final }
    r.over = r.ns and budget and r.ns > budget
    r.cls = PHASE_CLASS[final] or (r.ns and "ok" or "skip")
    if not r.ns then r.cls = "skip" end
    max_ns = math.max(max_ns, r.ns or 0, budget or 0)
    rows[#rows + 1] = r
  end
  local step = time_step(math.max(max_ns, 1e6))
  local span = math.max(step, math.ceil(max_ns / step) * step)
  local function x(ns) return X0 + (X1 - X0) * ns / span end
  local H = TOP + ROW * #rows + 26
  put('<div class="legend"><span><i style="background:#2e9d4d"></i>duration</span>' ..
      '<span><i style="background:#dfe6ee;border-right:3px solid #4b5b6e;width:22px"></i>budget</span>' ..
      '<span><i style="background:#d93025"></i>over budget or failed</span>' ..
      '<span><i style="background:#e0a100"></i>applied, then undone</span>' ..
      '<span><i style="border:1px dashed #aab3bd"></i>did not run</span></div>\n')
  put('<svg class="timeline" viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s">\n',
      W, H, W, H, "phase timeline against budgets")
  for t = 0, span, step do
    put('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="mute" x="%s" y="%s" ' ..
        'text-anchor="middle">%s</text>\n', px(x(t)), TOP, px(x(t)), H - 22, px(x(t)), H - 6, tick_label(t))
  end
  put('<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>\n', X0, H - 22, X1, H - 22)
  for i, r in ipairs(rows) do
    local y, p = TOP + (i - 1) * ROW, r.p
    local st = p.status_text or status.text(status.phase, p.status)
    if r.final ~= p.status then st = st .. " → " .. status.text(status.phase, r.final) end
    local tip = string.format("%s: %s%s%s", p.name, st, r.ns and (", " .. fmt_ms(p.duration_ms)) or "",
                              nz(p.budget) and (", budget " .. p.budget) or "")
    put('<g class="phase"><title>%s</title>\n', tip)
    put('<text x="0" y="%s">%s</text><text class="mute" x="0" y="%s">%s</text>\n', y + 14, clip(p.name, 34),
        y + 28, clip(st, 44))
    if r.budget then
      put('<rect class="b-budget" x="%s" y="%s" width="%s" height="22" rx="2"/>' ..
          '<line class="m-budget" x1="%s" y1="%s" x2="%s" y2="%s"/>\n', X0, y + 3, px(x(r.budget) - X0),
          px(x(r.budget)), y, px(x(r.budget)), y + 28)
    end
    if r.ns then
      put('<rect class="b-%s" x="%s" y="%s" width="%s" height="12" rx="2"/>\n', r.over and "over" or r.cls, X0,
          y + 8, px(math.max(2, x(r.ns) - X0)))
    else
      put('<rect class="b-skip" x="%s" y="%s" width="%s" height="12" rx="2"/>\n', X0, y + 8, X1 - X0)
    end
    local what = not r.ns and "did not run"
      or r.over and string.format("%s, over its %s budget", fmt_ms(p.duration_ms), p.budget)
      or r.budget and string.format("%s of its %s budget", fmt_ms(p.duration_ms), p.budget)
      or fmt_ms(p.duration_ms)
    put('<text x="%s" y="%s"%s>%s</text>\n</g>\n', X1 + 12, y + 18, r.over and raw(' class="fail"') or "", what)
  end
  put('</svg>\n')
end

local function phases(put, doc)
  section(put, "phases", "Phases")
  if #doc.phases == 0 then
    put('<p>No phase ran.</p>\n</section>\n')
    return
  end
  timeline(put, doc)
  for _, p in ipairs(doc.phases) do               -- the run's error is in the outcome already
    if nz(p.error) and p.error ~= nz(doc.outcome.error) then
      put('<p><b>%s</b>:</p><pre class="error">%s</pre>\n', p.name, p.error)
    end
  end
  put('</section>\n')
end

local function steps(put, doc)
  local shown = {}
  for _, s in ipairs(doc.steps) do if s.kind ~= "phase" then shown[#shown + 1] = s end end
  local inline = {}
  for _, q in ipairs(doc.sql) do if nz(q.sql) then inline[#inline + 1] = q end end
  if #shown == 0 and #inline == 0 and #doc.logs == 0 then return end
  section(put, "steps", "Steps")
  if #shown > 0 then
    put('<table><tr><th>Phase</th><th>Step</th><th>Status</th><th class="n">Duration</th><th class="n">Budget</th>' ..
        '<th class="n">Rows</th></tr>\n')
    for _, s in ipairs(shown) do
      local cls = STEP_CLASS[s.status]
      local ms, budget = tonumber(nz(s.duration_ms)), type(nz(s.budget)) == "string" and clock.parse(s.budget)
      local over = ms and budget and ms * 1e6 > budget
      put('<tr%s><td>%s</td><td><code>%s</code></td><td>%s</td><td class="n%s">%s</td><td class="n">%s</td>' ..
          '<td class="n">%s</td></tr>\n', cls == "fail" and raw(' class="bad"') or "", s.phase, s.step,
          pill(status.text(status.phase, s.status), cls), over and " fail" or "", fmt_ms(s.duration_ms), s.budget,
          num(s.rows))
      if nz(s.error) then
        put('<tr class="bad"><td></td><td colspan="5"><pre class="error">%s</pre></td></tr>\n', s.error)
      end
    end
    put('</table>\n')
  end
  if #inline > 0 then
    put('<h3>Inline SQL</h3>\n')
    for _, q in ipairs(inline) do
      put('<details%s><summary>%s / %s</summary><pre><code>%s</code></pre></details>\n',
          #inline <= 5 and raw(" open") or "", q.phase, q.step, (q.sql:gsub("^\n+", ""):gsub("%s+$", "")))
    end
  end
  if #doc.logs > 0 then
    put('<h3>Log of Lua steps</h3>\n<ul>\n')
    for _, l in ipairs(doc.logs) do put('<li>%s / %s: %s</li>\n', l.phase, l.step, l.message) end
    put('</ul>\n')
  end
  put('</section>\n')
end

local function expectations(put, doc)
  section(put, "expectations", "Expectations")
  if #doc.expectations == 0 then
    put('<p>No expectation was checked.</p>\n</section>\n')
    return
  end
  local passed = 0
  for _, e in ipairs(doc.expectations) do if e.ok then passed = passed + 1 end end
  put('<p>%s</p>\n', pill(string.format("%d of %d passed", passed, #doc.expectations),
                         passed == #doc.expectations and "ok" or "fail"))
  put('<table><tr><th>Where</th><th>Expectation</th><th>Expected</th><th>Actual</th><th>Result</th></tr>\n')
  for _, e in ipairs(doc.expectations) do
    local bad = not e.ok and not nz(e.skipped)
    put('<tr%s><td>%s</td><td>%s</td><td><code>%s</code></td><td><code>%s</code></td><td>%s</td></tr>\n',
        bad and raw(' class="bad"') or "", e.phase, e.description, e.expected, e.actual,
        nz(e.skipped) and pill("skipped") or e.ok and pill("pass", "ok") or pill("FAIL", "fail"))
  end
  put('</table>\n')
  -- an expectation made of assertions (pgTAP): each with its description
  for _, e in ipairs(doc.expectations) do
    local details = list(e.details)
    if #details > 0 then
      put('<details%s><summary>%s: %s</summary>\n<table><tr><th>File</th><th class="n">#</th><th>Test</th>' ..
          '<th>Result</th></tr>\n', e.ok and "" or raw(" open"), e.description, e.actual)
      for _, t in ipairs(details) do
        local result = nz(t.error) and pill("ERROR", "fail")
                       or (t.ok or nz(t.todo)) and pill(t.ok and "ok" or "todo", "ok") or pill("not ok", "fail")
        put('<tr><td>%s</td><td class="n">%s</td><td>%s%s</td><td>%s</td></tr>\n', t.file, nz(t.n) or "",
            nz(t.error) or nz(t.description) or "", nz(t.diagnostics) and (" — " .. t.diagnostics) or "", result)
      end
      put('</table>\n</details>\n')
    end
  end
  put('</section>\n')
end

-- before/after row counts: two bars per table (the larger count full width, so a loss shows
-- whatever the table's size), estimates lighter and marked ~
local function row_counts(put, doc)
  if #doc.tables == 0 then return end
  section(put, "row-counts", "Row counts")
  if nz(doc.outcome.baseline_run) then
    put('<p>Before is the start of run %s, which began this migration.</p>\n', num(doc.outcome.baseline_run))
  end
  local W = 240
  put('<div class="legend"><span><i style="background:#9aa5b1"></i>before</span>' ..
      '<span><i style="background:#1a73e8"></i>after</span><span>each pair on its own scale</span>' ..
      '<span>~ estimated</span></div>\n')
  put('<table class="counts"><tr><th>Table</th><th>Before / after</th><th class="n">Before</th>' ..
      '<th class="n">After</th><th class="n">Change</th><th>Content</th></tr>\n')
  local tb, ta, any_est = 0, 0, false
  for _, t in ipairs(doc.tables) do
    local b, a, est = tonumber(nz(t.before)), tonumber(nz(t.after)), nz(t.estimated) and true or false
    any_est = any_est or est
    local mark = est and "~" or ""
    local bars, max = {}, math.max(1, b or 0, a or 0)  -- each pair on its own scale: the change shows
    for i, v in ipairs({ b or false, a or false }) do
      if v then
        bars[#bars + 1] = fill('<rect class="%s%s" x="0" y="%s" width="%s" height="9" rx="1"/>',
          i == 1 and "b-before" or "b-after", est and " est" or "", i == 1 and 2 or 13, px(math.max(1, W * v / max)))
      end
    end
    local ch = tonumber(nz(t.change))
    put('<tr><td><code>%s</code></td><td><svg viewBox="0 0 %s 24" width="%s" height="24" role="img" ' ..
        'aria-label="%s">%s</svg></td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td>' ..
        '<td>%s</td></tr>\n', t.table, W, W, "row counts of " .. tostring(t.table), raw(table.concat(bars)),
        b and mark .. num(b) or "new", a and mark .. num(a) or "dropped",
        ch and mark .. (ch > 0 and "+" or "") .. num(ch) or "", t.content)
    tb, ta = tb + (b or 0), ta + (a or 0)
  end
  local e = any_est and "~" or ""
  put('<tr><th>Total</th><th></th><th class="n">%s</th><th class="n">%s</th><th class="n">%s</th><th></th></tr>\n',
      e .. num(tb), e .. num(ta), (ta - tb > 0 and "+" or "") .. num(ta - tb))
  put('</table>\n')
  if any_est then
    put('<p class="mute">~ the planner\'s estimate (pg_class.reltuples, pg_stat_user_tables): these tables are ' ..
        'over %s MB, and counting them would scan them; checks that need exact counts counted.</p>\n',
        num(require("migrun.snapshot").EXACT_BYTES // 1048576))
  end
  put('</section>\n')
end

-- the watch -------------------------------------------------------------------------------

local function finite(v)
  v = tonumber(nz(v))
  if v and v == v and math.abs(v) ~= math.huge then return v end
end

-- the limits drawn on a metric's chart: thresholds[metric] as a number or {max=, min=, value=},
-- or list entries {metric = name, max=|min=|value=|limit=}
local function limits_of(th, metric)
  local out = {}
  local function add(label, v)
    v = finite(v)
    if v then out[#out + 1] = { label = label, value = v } end
  end
  local function from(t)
    if type(t) == "number" then add("limit", t)
    elseif type(t) == "table" then
      add("max", t.max)
      add("min", t.min)
      add("limit", t.value or t.limit)
    end
  end
  th = list(th)
  from(th[metric])
  for _, e in ipairs(th) do
    if type(e) == "table" and (e.metric == metric or e.name == metric) then from(e) end
  end
  return out
end

local function breach_at(b) return finite(b.at_seconds) or finite(b.at) end

-- one small line chart: pts = {{seconds, value} | false (a gap)}, over 0..xmax seconds;
-- opts.limits = {{label, value}} (dashed lines), opts.marks = {{seconds, value|nil}} (breaches),
-- opts.bands = {{from, to, label}} (shaded spans, such as pauses)
local function line_chart(put, title, pts, xmax, opts)
  local W, H, L, R, T, B = 460, 160, 52, 10, 8, 22
  local lo, hi = math.huge, -math.huge
  for _, p in ipairs(pts) do
    if p then lo, hi = math.min(lo, p[2]), math.max(hi, p[2]) end
  end
  for _, l in ipairs(opts.limits or {}) do lo, hi = math.min(lo, l.value), math.max(hi, l.value) end
  for _, m in ipairs(opts.marks or {}) do
    if m[2] then lo, hi = math.min(lo, m[2]), math.max(hi, m[2]) end
  end
  if lo == math.huge then lo, hi = 0, 1 end
  lo = math.min(lo, 0)
  if hi <= lo then hi = lo + 1 end
  local ystep = number_step(hi - lo, 4)
  lo, hi = math.floor(lo / ystep) * ystep, math.ceil(hi / ystep) * ystep
  local function x(t) return L + (W - L - R) * math.min(math.max(t, 0), xmax) / xmax end
  local function y(v) return T + (H - T - B) * (1 - (v - lo) / (hi - lo)) end
  local function at(t) return tick_label(math.floor(t * 1e9 + 0.5)) end
  put('<div class="chart"><h3>%s</h3>\n<svg viewBox="0 0 %s %s" width="%s" height="%s" role="img" aria-label="%s">\n',
      title, W, H, W, H, tostring(title) .. " over time")
  for _, band in ipairs(opts.bands or {}) do
    put('<rect class="l-band" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>\n', px(x(band[1])), T,
        px(math.max(2, x(band[2]) - x(band[1]))), px(y(lo) - T), band[3])
  end
  for v = lo, hi + ystep / 2, ystep do
    put('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/><text class="mute" x="%s" y="%s" ' ..
        'text-anchor="end">%s</text>\n', L, px(y(v)), W - R, px(y(v)), L - 6, px(y(v) + 4), num(v))
  end
  local tstep = time_step(xmax * 1e9) / 1e9
  for t = 0, xmax + tstep / 2, tstep do
    if t <= xmax then
      put('<text class="mute" x="%s" y="%s" text-anchor="middle">%s</text>\n', px(x(t)), H - 6, at(t))
    end
  end
  put('<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>\n', L, px(y(lo)), W - R, px(y(lo)))
  for _, l in ipairs(opts.limits or {}) do
    put('<line class="l-limit" x1="%s" y1="%s" x2="%s" y2="%s"><title>%s</title></line>\n', L, px(y(l.value)),
        W - R, px(y(l.value)), l.label .. " " .. num(l.value))
  end
  local seg, n = {}, 0
  local function flush()
    if #seg > 1 then put('<polyline class="l-line" points="%s"/>\n', table.concat(seg, " ")) end
    seg = {}
  end
  for _, p in ipairs(pts) do
    if p then
      seg[#seg + 1] = px(x(p[1])) .. "," .. px(y(p[2]))
      n = n + 1
    else
      flush()
    end
  end
  flush()
  for _, p in ipairs(n <= 60 and pts or {}) do
    if p then
      put('<circle class="l-dot" cx="%s" cy="%s" r="2.2"><title>%s: %s</title></circle>\n', px(x(p[1])),
          px(y(p[2])), at(p[1]), num(p[2]))
    end
  end
  for _, m in ipairs(opts.marks or {}) do
    if m[2] then
      put('<circle class="l-breach" cx="%s" cy="%s" r="4.5"><title>breach at %s: %s</title></circle>\n',
          px(x(m[1])), px(y(m[2])), at(m[1]), num(m[2]))
    else
      put('<line class="l-limit" x1="%s" y1="%s" x2="%s" y2="%s"><title>breach at %s</title></line>\n',
          px(x(m[1])), T, px(x(m[1])), px(y(lo)), at(m[1]))
    end
  end
  put('</svg></div>\n')
end

-- one watched figure over the watch's time, its limits and breaches
local function metric_chart(put, w, metric, xmax)
  local pts = {}
  for _, s in ipairs(list(w.samples)) do
    local t, v = finite(s.at_seconds), finite(list(s.metrics)[metric])
    pts[#pts + 1] = t and v and { t, v } or false
  end
  local marks = {}
  for _, b in ipairs(list(w.breaches)) do
    if type(b) == "table" and (b.metric == metric or b.name == metric) and breach_at(b) then
      marks[#marks + 1] = { breach_at(b), finite(b.value) }
    end
  end
  line_chart(put, metric, pts, xmax, { limits = limits_of(w.thresholds, metric), marks = marks })
end

local function watch_one(put, w)
  local planned = type(nz(w.duration)) == "string" and clock.parse(w.duration)
  local metrics, seen, xmax = {}, {}, planned and planned / 1e9 or 0
  for _, s in ipairs(list(w.samples)) do
    xmax = math.max(xmax, finite(s.at_seconds) or 0)
    for k, v in pairs(list(s.metrics)) do
      if not seen[k] and finite(v) then seen[k], metrics[#metrics + 1] = true, k end
    end
  end
  if xmax <= 0 then xmax = 1 end
  table.sort(metrics, function(a, b) return tostring(a) < tostring(b) end)
  local about = {}
  if nz(w.duration) then about[#about + 1] = "for " .. describe(w.duration) end
  if nz(w.every) then about[#about + 1] = "every " .. describe(w.every) end
  local ns, nb = #list(w.samples), #list(w.breaches)
  about[#about + 1] = string.format("%d sample%s", ns, ns == 1 and "" or "s")
  about[#about + 1] = string.format("%d breach%s", nb, nb == 1 and "" or "es")
  put('<h3>%s</h3>\n<p class="mute">%s</p>\n', nz(w.name) or "watch", table.concat(about, " · "))
  if #metrics == 0 then
    put('<p>No figure was sampled.</p>\n')
  else
    put('<div class="charts">\n')
    for _, m in ipairs(metrics) do metric_chart(put, w, m, xmax) end
    put('</div>\n')
  end
  local th = list(w.thresholds)
  if next(th) then
    put('<h3>Thresholds</h3>\n<table><tr><th>Figure</th><th>Limit</th></tr>\n')
    local keys = {}
    for k in pairs(th) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      local v = th[k]
      local name = math.type(k) == "integer" and type(v) == "table" and (v.metric or v.name) or k
      put('<tr><td>%s</td><td>%s</td></tr>\n', name, describe(v))
    end
    put('</table>\n')
  end
  if #list(w.breaches) > 0 then
    put('<h3>Breaches</h3>\n<table><tr><th class="n">At</th><th>Figure</th><th class="n">Value</th>' ..
        '<th>Limit</th><th>What</th></tr>\n')
    for _, b in ipairs(list(w.breaches)) do
      b = type(b) == "table" and b or { message = b }
      local at = breach_at(b)
      put('<tr class="bad"><td class="n">%s</td><td>%s</td><td class="n">%s</td><td>%s</td><td>%s</td></tr>\n',
          at and tick_label(math.floor(at * 1e9 + 0.5)) or "", b.metric or b.name, num(b.value),
          describe(b.threshold or b.limit or b.max), b.message or b.what or b.action)
    end
    put('</table>\n')
  end
end

local function watch(put, doc)
  local w = nz(doc.watch)
  if type(w) ~= "table" then return end
  section(put, "watch", "Watch")
  if w[1] then
    for _, one in ipairs(w) do watch_one(put, one) end
  else
    watch_one(put, w)
  end
  put('</section>\n')
end

-- backfills: throughput over time, pauses shaded
local function backfills(put, doc)
  local bfs = list(doc.backfills)
  if #bfs == 0 then return end
  section(put, "backfills", "Backfills")
  put('<table><tr><th>Step</th><th>Table</th><th class="n">Rows</th><th class="n">Batches</th>' ..
      '<th class="n">Seconds</th><th class="n">Rows/s</th><th class="n">Pauses</th></tr>\n')
  for _, b in ipairs(bfs) do
    put('<tr><td>%s</td><td><code>%s</code></td><td class="n">%s</td><td class="n">%s</td><td class="n">%s</td>' ..
        '<td class="n">%s</td><td class="n">%s</td></tr>\n', b.step, b.table, num(b.rows), num(b.batches),
        string.format("%.1f", finite(b.seconds) or 0), num(math.floor(finite(b.rate) or 0)), #list(b.pauses))
  end
  put('</table>\n<div class="charts">\n')
  for _, b in ipairs(bfs) do
    local pts, bands, xmax = {}, {}, finite(b.seconds) or 0
    for _, smp in ipairs(list(b.samples)) do
      local t, v = finite(smp.at_seconds), finite(smp.rate)
      pts[#pts + 1] = t and v and { t, v } or false
      xmax = math.max(xmax, t or 0)
    end
    for _, ps in ipairs(list(b.pauses)) do
      local t = finite(ps.at_seconds)
      if t then
        bands[#bands + 1] = { t, t + (finite(ps.seconds) or 0), "paused: " .. describe(ps.reason) }
        xmax = math.max(xmax, bands[#bands][2])
      end
    end
    if #pts > 1 then line_chart(put, "rows/s: " .. tostring(b.step), pts, xmax > 0 and xmax or 1, { bands = bands }) end
  end
  put('</div>\n')
  for _, b in ipairs(bfs) do
    for _, ps in ipairs(list(b.pauses)) do
      put('<p class="mute">%s paused at %ss for %ss: %s</p>\n', b.step,
          string.format("%.0f", finite(ps.at_seconds) or 0),
          string.format("%.1f", finite(ps.seconds) or 0), ps.reason)
    end
    if (finite(b.cut) or 0) > 0 then
      put('<p class="mute">%s: %s batch(es) ran past the %s ms target: cancelled, rolled back and tried again at ' ..
          'half the size</p>\n', b.step, num(b.cut), num(b.target_ms))
    end
  end
  put('</section>\n')
end

-- the tables that mirror the Markdown ---------------------------------------------------

local function lock_waits(put, doc)
  if #doc.lock_waits == 0 then return end
  section(put, "lock-waits", "Lock waits")
  put('<table><tr><th>Where</th><th class="n">After</th><th class="n">Blocked by (pid)</th><th>User</th>' ..
      '<th>Application</th><th>State</th><th class="n">In a transaction for</th><th>Query</th></tr>\n')
  for _, w in ipairs(doc.lock_waits) do
    for _, b in ipairs(list(w.blockers)) do
      put('<tr><td>%s</td><td class="n">%s</td><td class="n">%s</td><td>%s</td><td>%s</td><td>%s</td>' ..
          '<td class="n">%s</td><td><code>%s</code></td></tr>\n', w.what,
          string.format("%.1fs", tonumber(nz(w.at_seconds)) or 0), b.pid, b.user, b.app, b.state,
          nz(b.xact_seconds) and (num(b.xact_seconds) .. "s") or "", b.query)
    end
  end
  put('</table>\n</section>\n')
end

local function locks(put, doc)
  if #doc.locks == 0 then return end
  section(put, "locks", "Locks (forecast from the rehearsal)")
  put('<table><tr><th>Phase</th><th>Relation</th><th>Mode</th><th>Blocks</th><th class="n">Held for</th>' ..
      '<th>Rewritten</th></tr>\n')
  for _, l in ipairs(doc.locks) do
    put('<tr><td>%s</td><td><code>%s</code></td><td>%s</td><td>%s</td><td class="n">%s</td><td>%s</td></tr>\n',
        l.phase, l.relation, l.mode, l.blocks, fmt_ms(l.held_ms), l.rewritten and pill("yes", "warn") or "no")
  end
  put('</table>\n</section>\n')
end

local function proofs(put, doc)
  if #doc.proofs == 0 then return end
  section(put, "proofs", "Rollbacks, proven")
  put('<p>Each phase applied, then its rollback, on the clone: the schema and the touched tables\' content ' ..
      'compared with the state before the phase, then the phase applied again.</p>\n')
  put('<table><tr><th>Phase</th><th>Rollback</th><th>Known differences</th></tr>\n')
  for _, p in ipairs(doc.proofs) do
    local known = list(list(p.detail).known)
    put('<tr%s><td>%s</td><td>%s</td><td>%s</td></tr>\n', p.ok and "" or raw(' class="bad"'), p.phase,
        p.ok and pill("brings it back", "ok") or pill("does not bring it back", "fail"), table.concat(known, "; "))
  end
  put('</table>\n')
  for _, p in ipairs(doc.proofs) do
    if not p.ok then
      local d = list(p.detail)
      put('<h3>%s</h3>\n', p.phase)
      if nz(p.error) then put('<p>The rollback failed:</p><pre class="error">%s</pre>\n', p.error) end
      if #list(d.tables) > 0 then
        put('<ul>\n')
        for _, t in ipairs(list(d.tables)) do put('<li><code>%s</code>: %s</li>\n', t.table, t.what) end
        put('</ul>\n')
      end
      if nz(d.diff) then put('<pre>%s</pre>\n', d.diff) end
    end
  end
  put('</section>\n')
end

local function lint(put, doc)
  if #doc.lint == 0 then return end
  section(put, "lint", "Lint")
  put('<table><tr><th>Where</th><th>Severity</th><th>Rule</th><th>Finding</th></tr>\n')
  for _, f in ipairs(doc.lint) do
    put('<tr><td><code>%s:%s:%s</code></td><td>%s</td><td><code>%s</code></td><td>%s</td></tr>\n', f.file,
        f.line, f.col, pill(f.severity, f.severity == "error" and "fail" or "warn"), f.rule, f.message)
  end
  put('</table>\n<p class="mute">Each rule is explained, with its safe form, in docs/lint/RULE.md ' ..
      'and by <code>migrun lint</code>.</p>\n</section>\n')
end

local function calls(put, doc)
  local list_ = list(doc.calls)
  if #list_ == 0 then return end
  section(put, "calls", "Hooks and notifications")
  put('<table><tr><th>Kind</th><th>Event</th><th>Call</th><th>Result</th><th class="n">Took</th></tr>\n')
  for _, c in ipairs(list_) do
    put('<tr><td>%s</td><td>%s</td><td><code>%s</code></td><td>%s%s</td><td class="n">%s</td></tr>\n', c.kind,
        c.event, c.name, c.ok and pill("ok", "ok") or pill("FAILED", "fail"),
        nz(c.detail) and (" " .. tostring(c.detail)) or "", fmt_ms(c.duration_ms))
  end
  put('</table>\n</section>\n')
end

local function gates(put, doc)
  if #doc.gates == 0 then return end
  section(put, "gates", "Gates")
  put('<table><tr><th>Gate</th><th>Question</th><th>Answer</th><th>By</th><th class="n">Waited</th></tr>\n')
  for _, g in ipairs(doc.gates) do
    local items = list(g.items)
    if #items == 0 then items = { { answer = g.answer } } end
    for _, it in ipairs(items) do
      put('<tr><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td class="n">%s</td></tr>\n', g.gate, it.question,
          it.answer, g.answered_by, fmt_ms(g.waited_ms))
    end
  end
  put('</table>\n</section>\n')
end

local function backup(put, doc)
  local b = nz(doc.backup)
  if type(b) ~= "table" then return end
  section(put, "backup", "Backup")
  put('<table><tr><th>File</th><th class="n">Size</th><th>sha256</th><th class="n">Seconds</th></tr>\n' ..
      '<tr><td><code>%s</code></td><td class="n">%s</td><td><code>%s</code></td><td class="n">%s</td></tr>\n' ..
      '</table>\n', b.file, size(b.size), b.sha256, string.format("%.1f", tonumber(nz(b.seconds)) or 0))
  local p = nz(b.proven)
  if type(p) == "table" then
    put('<p>%s Restored into the scratch database <code>%s</code>; the row counts of all %s tables (%s rows) ' ..
        'match the source at the dump\'s snapshot (%ss); the scratch database was dropped.</p>\n',
        pill("proven restorable", "ok"), p.database, num(p.tables), num(p.rows),
        string.format("%.1f", tonumber(nz(p.seconds)) or 0))
  elseif b.kind == "dump" then
    put('<p>Verified by a full read (pg_restore); not restored (<code>backup.dump { prove = true }</code> ' ..
        'restores it into a scratch database and counts).</p>\n')
  end
  put('</section>\n')
end

local function variables(put, doc)
  local names = {}
  for k in pairs(list(doc.vars)) do names[#names + 1] = k end
  if #names == 0 then return end
  table.sort(names, function(a, b) return tostring(a) < tostring(b) end)
  section(put, "variables", "Variables (--set)")
  put('<table><tr><th>Name</th><th>Value</th></tr>\n')
  for _, k in ipairs(names) do put('<tr><td>%s</td><td><code>%s</code></td></tr>\n', k, describe(doc.vars[k])) end
  put('</table>\n</section>\n')
end

local SECTIONS = {
  { "outcome", "Outcome" }, { "phases", "Phases" }, { "steps", "Steps" }, { "backfills", "Backfills" },
  { "expectations", "Expectations" },
  { "row-counts", "Row counts" }, { "watch", "Watch" }, { "lock-waits", "Lock waits" }, { "locks", "Locks" },
  { "proofs", "Rollbacks proven" }, { "lint", "Lint" }, { "calls", "Hooks" }, { "gates", "Gates" },
  { "backup", "Backup" },
  { "variables", "Variables" },
}

--- report_html.html(doc) -> text: the whole page
function M.html(doc)
  local body, put = page()
  local cls = header(put, doc)
  local nav_at = #body + 1
  put('</div></header>\n<main>\n')
  outcome(put, doc, cls)
  phases(put, doc)
  steps(put, doc)
  backfills(put, doc)
  expectations(put, doc)
  row_counts(put, doc)
  watch(put, doc)
  lock_waits(put, doc)
  locks(put, doc)
  proofs(put, doc)
  lint(put, doc)
  calls(put, doc)
  gates(put, doc)
  backup(put, doc)
  variables(put, doc)
  put('<footer>Written by migrun %s. The JSON beside this page holds the same report for machines.</footer>\n' ..
      '</main>\n</body>\n</html>\n', doc.run.migrun_version)
  -- the navigation lists the sections this page has
  local text = table.concat(body)
  local links = {}
  for _, s in ipairs(SECTIONS) do
    if text:find('<section id="' .. s[1] .. '">', 1, true) then
      links[#links + 1] = fill('<a href="#%s">%s</a>', s[1], s[2])
    end
  end
  table.insert(body, nav_at, '<nav>' .. table.concat(links) .. '</nav>\n')
  local head = fill('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n' ..
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; ' ..
    'img-src data:">\n<meta name="viewport" content="width=device-width, initial-scale=1">\n' ..
    '<title>migrun report: %s — %s</title>\n<style>%s</style>\n</head>\n<body>\n',
    doc.run.playbook, doc.outcome.status_text or doc.run.status, raw(CSS))
  return head .. table.concat(body)
end

return M
