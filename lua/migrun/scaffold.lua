--- migrun.scaffold: `migrun new NAME`, a playbook project that runs as it is: a fixture of
-- the "before" state, one phase with its SQL, verify and rollback, a gate, a report.
local errors = require "migrun.errors"
local lfs = require "lfs"

local M = {}

local FILES = {
  ["playbook.lua"] = [[
-- %s: a migration playbook. Try it on a throwaway cluster:
--   migrun --sandbox --load before.sql playbook.lua --yes
-- Against a real database: migrun plan / check / run with --db URL (see README.md).
playbook "%s" {
  description = "add a status column to items, backfilled",
  budget = "5m",                      -- the whole run; phases and steps can have their own
  lock_timeout = "2s",                -- DDL waits at most this long for a lock, then retries
  on_failure = "rollback",            -- or "stop", or "restore" (from the backup below)
  backup = backup.dump { dir = "backups" },   -- a verified pg_dump before anything changes
                                              -- (a --sandbox run keeps it in the sandbox)

  preflight = {                       -- the state this playbook was written for
    expect.exists "items",
    expect.absent "items_status_idx",
  },
  protect = { "audit" },              -- every row must survive, unchanged

  gate "go/no-go" { "Has the application been deployed with status support?" },

  phase "001 add status" {
    sql "sql/001_add_status.sql",
    budget = "30s",
    verify = {
      expect.columns("items", { "status" }),
      expect.query("SELECT count(*) FROM items WHERE status IS NULL", 0),
      expect.delta("items", 0),       -- no row gained or lost
    },
    rollback = sql "sql/001_rollback.sql",
  },

  verify = {                          -- the final suite, once every phase is applied
    expect.index("items", { "status" }),
  },

  report = "reports/%s.md",           -- and reports/%s.json
}
]],
  ["sql/001_add_status.sql"] = [[
-- 001: items get a status, backfilled, then required and indexed
ALTER TABLE items ADD COLUMN status text;
UPDATE items SET status = CASE WHEN archived THEN 'archived' ELSE 'active' END;
ALTER TABLE items ALTER COLUMN status SET NOT NULL;
CREATE INDEX items_status_idx ON items (status);
]],
  ["sql/001_rollback.sql"] = [[
DROP INDEX IF EXISTS items_status_idx;
ALTER TABLE items DROP COLUMN IF EXISTS status;
]],
  ["before.sql"] = [[
-- the "before" state, for `--sandbox --load before.sql` and for tests
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, archived boolean NOT NULL DEFAULT false);
CREATE TABLE audit (id serial PRIMARY KEY, note text NOT NULL);
INSERT INTO items SELECT g, 'item ' || g, g % 10 = 0 FROM generate_series(1, 500) g;
INSERT INTO audit (note) SELECT 'event ' || g FROM generate_series(1, 20) g;
]],
  ["spec/playbook_spec.lua"] = [==[
-- The playbook's specs: `migrun test spec` runs them on a throwaway sandbox cluster.
local T = require "migrun.testing"

describe("playbook %s", function()
  local pb = T.load("playbook.lua")

  it("has a rollback for every phase", function()
    for _, item in ipairs(pb.items) do
      if item.kind == "phase" then assert.truthy(item.rollback, item.name .. " has no rollback") end
    end
  end)

  it("runs green on the fixture", function()
    local db = T.database { load = "before.sql" }
    local r = T.run(pb, db, { yes = true })
    assert.equal(0, r.exit, r.output)
    assert.equal("applied", r.states["001 add status"])
    assert.equal(0, db:query("SELECT count(*) AS n FROM items WHERE status IS NULL")[1].n)
  end)

  it("refuses, changing nothing, a database that is not in the before state", function()
    local db = T.database { load = "before.sql" }
    db:exec("CREATE INDEX items_status_idx ON items (name)")   -- the preflight wants it absent
    local r = T.run(pb, db, { yes = true })
    assert.equal(1, r.exit, r.output)
    assert.equal("(preflight)", r.failed_phase)
    assert.equal(0, db:query([[SELECT count(*) AS n FROM information_schema.columns
                               WHERE table_name = 'items' AND column_name = 'status']])[1].n)
  end)
end)
]==],
  ["README.md"] = [[
# %s

A migrun playbook project.

```sh
migrun test spec                                        # its specs, on a throwaway cluster
migrun --sandbox --load before.sql playbook.lua --yes   # try it on a throwaway cluster
migrun plan playbook.lua --db "$DATABASE_URL"           # what would run, what is applied
migrun check playbook.lua --db "$DATABASE_URL"          # preflight and verify, read-only
migrun rehearse playbook.lua --db "$DATABASE_URL"       # on a clone: the timings forecast
migrun playbook.lua --db "$DATABASE_URL"                # run it (asks at the gate)
```
]],
}

--- scaffold.new(dir) -> list of the files written; refuses an existing directory
function M.new(dir)
  if lfs.attributes(dir) then
    errors.raise("usage", dir .. " already exists: migrun new makes a new directory")
  end
  local name = dir:match("([^/]+)/*$")
  if not name or not name:match("^[%w_%-]+$") then
    errors.raise("usage", "migrun new NAME: the name may hold letters, digits, _ and -")
  end
  local made = {}
  for _, d in ipairs({ dir, dir .. "/sql", dir .. "/spec" }) do
    local ok, err = lfs.mkdir(d)
    if not ok then errors.raise("io", "cannot create " .. d .. ": " .. tostring(err)) end
  end
  local names = {}
  for f in pairs(FILES) do names[#names + 1] = f end
  table.sort(names)
  for _, f in ipairs(names) do
    local body = FILES[f]:gsub("%%s", name)
    local out = assert(io.open(dir .. "/" .. f, "w"))
    out:write(body)
    out:close()
    made[#made + 1] = dir .. "/" .. f
  end
  -- an editor's Lua language server completes and checks the playbook with migrun's definitions
  local luarc = assert(io.open(dir .. "/.luarc.json", "w"))
  luarc:write(require("migrun.docs.editor").luarc())
  luarc:close()
  made[#made + 1] = dir .. "/.luarc.json"
  return made
end

return M
