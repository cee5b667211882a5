-- The HTML report: one self-contained page (inline CSS and SVG; nothing fetched, nothing run),
-- rendered from a document, then written by `--report FILE.html` through the real binary and
-- opened in headless Chromium (Debian's chromium-headless-shell; pending where it is missing).
local H = require "helper"
local json = require "migrun.json"
local lfs = require "lfs"
local proc = require "migrun.proc"
local report = require "migrun.report"
local report_html = require "migrun.report_html"

local FIX = H.source .. "/tests/fixtures/shop"
local PAYLOAD = [[<script>document.title='pwned'</script></textarea>"&']]

-- HTML escaping written out again here, so the spec does not trust the module's own
local function escaped(s)
  return (s:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub('"', "&quot;"):gsub("'", "&#39;"))
end

local function count(text, needle)
  local n, at = 0, 1
  while true do
    local i = text:find(needle, at, true)
    if not i then return n end
    n, at = n + 1, i + #needle
  end
end

-- nothing in the page loads or runs: no script, no stylesheet link, no src, no URL, no CSS
-- url() or @import, and every href an anchor on the page
local function assert_self_contained(page)
  local low = page:lower()
  assert.is_nil(low:find("https?://"), "a URL in the page")
  for _, bad in ipairs({ "<script", "<link", "<iframe", "<object", "<embed", "<img", "url(", "@import" }) do
    assert.is_nil(low:find(bad, 1, true), bad .. " in the page")
  end
  assert.is_nil(low:find("%ssrc%s*="), "a src attribute in the page")
  for href in low:gmatch("href%s*=%s*\"([^\"]*)\"") do assert.equal("#", href:sub(1, 1)) end
  assert.truthy(page:find("default-src 'none'", 1, true), "the Content-Security-Policy")
end

-- a document with every section; s() wraps each string that comes from a user or the server
local function sample(s)
  s = s or function(x) return x end
  local samples = {}
  for i = 0, 8 do
    samples[#samples + 1] = { at_seconds = i * 15, metrics = {
      [s("p95 ms")] = 120 + 10 * i, [s("errors/s")] = i == 6 and 7.5 or 0.5 * (i % 3),
      [s("rollback rate %")] = i ~= 4 and 0.2 * i or nil } }
  end
  local thr = { [s("errors/s")] = 5, [s("p95 ms")] = { max = 250 } }
  return {
    run = { id = 7, kind = "run", playbook = s("billing"), playbook_file = s("playbooks/billing.lua"),
            playbook_checksum = s("ab12cd34"), target = s("alice@db1:5432/app"), status = "rolled_back",
            dry_run = false, rehearsal = false, started_at = s("2026-03-01 10:00:00 UTC"),
            finished_at = s("2026-03-01 10:01:35 UTC"), duration_ms = 95000, work_ms = 90000, gate_ms = 5000,
            host = s("ops1"), os_user = s("alice"), db_user = s("app_owner"), migrun_version = s("0.1.0") },
    outcome = { status = "rolled_back", status_text = "failed, rolled back", exit = 1,
                failed_phase = s("003 backfill"), error = s("sql/003.sql:3:8: ERROR 42P01: no such relation"),
                states = { [s("001 add")] = "rolled_back", [s("002 index")] = "rolled_back",
                           [s("003 backfill")] = "failed_rolled_back" } },
    vars = { [s("env")] = s("prod") },
    backup = { file = s("backups/app.dump"), size = 123456, sha256 = s("ff00"), seconds = 3.2, kind = "dump",
               proven = { database = s("scratch"), tables = 3, rows = 1260, seconds = 1.5 } },
    gates = { { gate = s("go/no-go"), items = { { question = s("App deployed?"), answer = s("yes") } },
                answer = s("yes"), answered_by = s("alice"), waited_ms = 5000 } },
    phases = {
      { name = s("000 base"), status = "already_applied", status_text = "already applied" },
      { name = s("001 add"), status = "applied", status_text = "applied", duration_ms = 1200, budget = "5s" },
      { name = s("002 index"), status = "applied", status_text = "applied", duration_ms = 7000, budget = "5s" },
      { name = s("003 backfill"), status = "failed_rolled_back", status_text = "rolled back (failed)",
        duration_ms = 30000, budget = "1m", error = s("sql/003.sql:3:8: ERROR 42P01: no such relation") },
    },
    steps = {
      { phase = s("001 add"), step = s("sql/001.sql"), kind = "sql", status = "applied", duration_ms = 1100, rows = 0 },
      { phase = s("002 index"), step = s("sql/002.sql"), kind = "sql", status = "applied", duration_ms = 6900,
        budget = "5s" },
      { phase = s("003 backfill"), step = s("sql #1"), kind = "sql", status = "failed",
        error = s("sql/003.sql:3:8: ERROR 42P01: no such relation") },
    },
    sql = { { phase = s("003 backfill"), step = s("sql #1"), sql = s("UPDATE orders SET x = 1") } },
    logs = { { phase = s("003 backfill"), step = s("lua"), message = s("batch 1 done") } },
    expectations = {
      { phase = s("(preflight)"), description = s("tables(public) = 3"), ok = true, expected = s("3"),
        actual = s("3") },
      { phase = s("003 backfill"), description = s("count(orders) = 20"), ok = false, expected = s("20"),
        actual = s("19") },
      { phase = s("(verify)"), description = s("http"), ok = false, skipped = true, expected = s(""), actual = s("") },
    },
    tables = {
      { table = s("orders"), before = 1000, after = 1000, change = 0, content = "same" },
      { table = s("events"), before = 25000000, after = 25000100, change = 100, estimated = true },
      { table = s("orders_archive"), after = 20 },
    },
    lock_waits = { { what = s("ALTER TABLE orders"), at_seconds = 2.5, blockers = { { pid = 4242, user = s("bob"),
      app = s("psql"), state = s("idle in transaction"), xact_seconds = 45,
      query = s("UPDATE orders SET y = 2") } } } },
    locks = { { phase = s("002 index"), relation = s("orders"), mode = s("ShareLock"), blocks = s("writes"),
                held_ms = 6900, rewritten = true } },
    proofs = { { phase = s("001 add"), ok = true, detail = { known = { s("sequence values") } } },
               { phase = s("002 index"), ok = false, error = s("rollback raised"),
                 detail = { tables = { { table = s("orders"), what = s("3 rows differ") } }, diff = s("- a\n+ b") } } },
    lint = { { rule = s("require-concurrent-index"), severity = "warning", file = s("sql/002.sql"), line = 1, col = 1,
               message = s("CREATE INDEX takes a SHARE lock") } },
    backfills = { { step = s("backfill email"), table = s("customers"), rows = 50000, batches = 50, seconds = 40,
                    rate = 1250, pauses = { { at_seconds = 12, seconds = 5, reason = s("replica lag") } },
                    samples = { { at_seconds = 0, rows = 0, rate = 0, batch = 1000 },
                                { at_seconds = 10, rows = 12000, rate = 1200, batch = 1000 },
                                { at_seconds = 20, rows = 24000, rate = 900, batch = 2000 },
                                { at_seconds = 40, rows = 50000, rate = 1300, batch = 2000 } } } },
    watch = { name = s("after release"), duration = "2m", every = "15s", samples = samples, thresholds = thr,
              breaches = { { at_seconds = 90, metric = s("errors/s"), value = 7.5, threshold = 5,
                             message = s("errors/s above 5") } } },
  }
end

-- the headless browser, where the machine has one
local function chromium()
  for _, p in ipairs({ "/usr/bin/chromium-headless-shell", "/usr/lib/chromium/headless_shell",
                       "/usr/lib/chromium/chromium-headless-shell" }) do
    if lfs.attributes(p, "mode") == "file" then return p end
  end
  return proc.which("chromium-headless-shell") or proc.which("chromium")
end

-- open file:// page in the browser, no network, a throwaway profile and home; extra flags say
-- what to do (--dump-dom, --screenshot=...)
local function browse(bin, page, ...)
  local dir = H.tmpdir()
  local argv = { bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                 "--user-data-dir=" .. dir .. "/profile", "--enable-logging=stderr", "--v=0", ... }
  argv[#argv + 1] = "file://" .. page
  return proc.run(argv, { cwd = dir, timeout = "90s",
                          env = { HOME = dir, XDG_CONFIG_HOME = dir, XDG_CACHE_HOME = dir } })
end

-- the page's console said nothing: no uncaught error, no refused load, no message at all
local function assert_quiet(r)
  for line in r.stderr:gmatch("[^\n]+") do
    assert.is_nil(line:find("CONSOLE", 1, true), line)
    assert.is_nil(line:find("Uncaught", 1, true), line)
  end
end

describe("report_html.html", function()
  it("escapes every string that comes from the document, so nothing in it can run", function()
    local page = report_html.html(sample(function(x) return x .. PAYLOAD end))
    assert_self_contained(page)
    assert.is_nil(page:find("</textarea", 1, true))
    assert.is_nil(page:find("'pwned'", 1, true))
    assert.is_nil(page:find('"&\'', 1, true))
    -- playbook, phase, error, inline SQL, table, metric, variable: each one escaped
    for _, v in ipairs({ "billing", "003 backfill", "no such relation", "UPDATE orders SET x = 1", "orders_archive",
                         "errors/s", "env", "replica lag", "idle in transaction" }) do
      assert.truthy(page:find(escaped(v .. PAYLOAD), 1, true), v)
    end
  end)

  it("draws the phase timeline against budgets: over budget in red, a phase that did not run as such", function()
    local page = report_html.html(sample())
    assert.truthy(page:find('<svg class="timeline"', 1, true))
    assert.equal(3, count(page, 'class="b-budget"'))
    assert.equal(1, count(page, 'class="b-over"'))
    assert.truthy(page:find("7.00s, over its 5s budget", 1, true))       -- clock.format, as in Markdown
    assert.truthy(page:find("1.20s of its 5s budget", 1, true))
    assert.equal(1, count(page, 'class="b-skip"'))
    assert.truthy(page:find("did not run", 1, true))
    assert.truthy(page:find("applied → rolled back", 1, true))
    assert.equal(1, count(page, 'class="b-fail"'))
  end)

  it("pairs the row counts before and after, estimates marked ~ and lighter", function()
    local page = report_html.html(sample())
    assert.truthy(page:find(">~25000000<", 1, true))
    assert.truthy(page:find(">~+100<", 1, true))
    assert.truthy(page:find('class="b-after est"', 1, true))
    assert.truthy(page:find(">new<", 1, true))                          -- orders_archive had no before
    assert.truthy(page:find(">~25001000<", 1, true))                    -- the totals
    assert.truthy(page:find(">~25001120<", 1, true))
  end)

  it("draws one chart per watched figure, with its limit and breaches; no watch, no section", function()
    local page = report_html.html(sample())
    assert.truthy(page:find('<section id="watch">', 1, true))
    assert.equal(3 + 1, count(page, '<div class="chart">'))             -- three figures and the backfill
    assert.equal(2, count(page, '<line class="l-limit"'))               -- errors/s <= 5, p95 max 250
    assert.equal(1, count(page, 'class="l-breach"'))
    -- p95 and errors/s one line each, rollback rate two (a sample lacks it), the backfill's one
    assert.equal(5, count(page, '<polyline class="l-line"'))
    local doc = sample()
    doc.watch = nil
    assert.is_nil(report_html.html(doc):find('id="watch"', 1, true))
  end)

  it("renders a document with empty sections and JSON nulls", function()
    local doc = sample()
    for _, k in ipairs({ "phases", "steps", "sql", "logs", "expectations", "tables", "lock_waits", "locks", "proofs",
                         "lint", "gates" }) do
      doc[k] = json.array()
    end
    doc.backup, doc.watch, doc.backfills, doc.vars = nil, nil, nil, {}
    doc.run.id, doc.run.gate_ms, doc.outcome.error = json.null, json.null, json.null
    local page = report_html.html(doc)
    assert_self_contained(page)
    assert.truthy(page:find("No phase ran.", 1, true))
    assert.truthy(page:find("not recorded (dry run)", 1, true))
  end)

  it("report.write puts FILE.html and FILE.json side by side, and nothing else", function()
    local dir = H.tmpdir()
    local path, jpath = report.write(sample(), dir .. "/sub/r.html")
    assert.equal(dir .. "/sub/r.html", path)
    assert.equal(dir .. "/sub/r.json", jpath)
    assert.equal(dir .. "/sub/r.json", report.json_path(path))
    assert.equal(dir .. "/r.json", report.json_path(dir .. "/r.md"))
    assert.truthy(H.read(path):find("<!DOCTYPE html>", 1, true))
    assert.equal("billing", json.decode(H.read(jpath)).run.playbook)
    local names = {}
    for e in lfs.dir(dir .. "/sub") do if e ~= "." and e ~= ".." then names[#names + 1] = e end end
    table.sort(names)
    assert.same({ "r.html", "r.json" }, names)
  end)
end)

describe("migrun --report FILE.html", function()
  local function fresh()
    local name = H.fresh_db("html")
    H.load(name, FIX .. "/before.sql")
    return name
  end

  local ok_page, xss_page                            -- for the browser, below

  it("writes one self-contained page beside its JSON: timeline, phases, steps, row counts", function()
    local dir = H.tmpdir()
    local r = H.run_db(fresh(), { "--report", dir .. "/r.html", FIX .. "/shop.lua" })
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.truthy(r.stdout:find("report: " .. dir .. "/r.html and " .. dir .. "/r.json", 1, true), r.stdout)
    local page = H.read(dir .. "/r.html")
    assert_self_contained(page)
    assert.truthy(page:find("<svg", 1, true))
    for _, ph in ipairs({ "001 email", "002 fk", "003 status", "004 archive", "005 comment" }) do
      assert.truthy(page:find(ph, 1, true), ph)
    end
    for _, n in ipairs({ ">50<", ">200<", ">20<", ">10<" }) do assert.truthy(page:find(n, 1, true), n) end
    assert.truthy(page:find('<header class="hero s-ok">', 1, true))
    assert.equal("succeeded", json.decode(H.read(dir .. "/r.json")).outcome.status)
    ok_page = dir .. "/r.html"
  end)

  it("shows a failed run's error, its phase and SQLSTATE", function()
    local dir = H.tmpdir()
    local r = H.run_db(fresh(), { "--set", "broken=3", "--report", dir .. "/r.html", FIX .. "/shop.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local page = H.read(dir .. "/r.html")
    assert_self_contained(page)
    assert.truthy(page:find('<header class="hero s-fail">', 1, true))
    assert.truthy(page:find('<pre class="error">sql/003_broken.sql:3:8: ERROR 42P01', 1, true), page)
    assert.truthy(page:find("failed in phase <b>003 status</b>", 1, true))
  end)

  it("escapes the playbook's names, its SQL and the server's error: no script runs", function()
    local dir = H.tmpdir()
    H.write(dir .. "/pb.lua", string.format([=[
playbook %q {
  phase %q {
    sql [[DO $$ BEGIN RAISE EXCEPTION %s; END $$]],
  },
}
]=], "x" .. PAYLOAD, "p" .. PAYLOAD, "'e" .. PAYLOAD:gsub("'", "''") .. "'"))
    local r = H.run_db(fresh(), { "--report", dir .. "/r.html", dir .. "/pb.lua" })
    assert.equal(1, r.status, r.stdout .. r.stderr)
    local page = H.read(dir .. "/r.html")
    assert_self_contained(page)
    assert.is_nil(page:find("</textarea", 1, true))
    assert.truthy(page:find("<h1>migrun report: x" .. escaped(PAYLOAD) .. "</h1>", 1, true))
    assert.truthy(page:find("<b>p" .. escaped(PAYLOAD) .. "</b>", 1, true))
    assert.truthy(page:find("ERROR P0001: e" .. escaped(PAYLOAD), 1, true))
    assert.truthy(page:find(escaped("RAISE EXCEPTION 'e" .. PAYLOAD:gsub("'", "''") .. "'"), 1, true))
    xss_page = dir .. "/r.html"
  end)

  it("renders in headless Chromium without errors: the sections, the charts, a screenshot", function()
    local bin = chromium()
    if not bin then pending("no Chromium here (Debian: apt-get install chromium-headless-shell)") return end
    assert.truthy(ok_page and xss_page, "the specs above wrote the pages")
    local dir = H.tmpdir()
    local full = dir .. "/full.html"                  -- every section, with the watch's charts
    H.write(full, report_html.html(sample()))
    for _, page in ipairs({ ok_page, full }) do
      local r = browse(bin, page, "--dump-dom")
      assert.equal(0, r.status, r.stderr)
      assert_quiet(r)
      assert.is_nil(r.stdout:find("<script", 1, true))
      for _, id in ipairs({ "outcome", "phases", "steps", "expectations", "row-counts" }) do
        assert.truthy(r.stdout:find('<section id="' .. id .. '">', 1, true), id)
      end
      assert.truthy(r.stdout:find('<svg class="timeline"', 1, true))
      local png = dir .. "/shot.png"
      os.remove(png)
      r = browse(bin, page, "--screenshot=" .. png, "--window-size=1200,2000")
      assert.equal(0, r.status, r.stderr)
      assert_quiet(r)
      local img = H.read(png)
      assert.equal("\137PNG\r\n\26\n", img:sub(1, 8))
      assert.truthy(#img > 20000, "a blank page compresses to a few kB: " .. #img)
    end
    -- the hostile page: its text stays text
    local r = browse(bin, xss_page, "--dump-dom")
    assert.equal(0, r.status, r.stderr)
    assert_quiet(r)
    assert.is_nil(r.stdout:find("<script", 1, true))
    assert.is_nil(r.stdout:find("<title>pwned</title>", 1, true))
    assert.truthy(r.stdout:find("&lt;script&gt;", 1, true))
  end)
end)
