-- #pg Real projects' migration folders, imported and run (pending unless
-- MIGRUN_IMPORT_REAL=/path/to/checkouts names them: they are not in this repository). Each
-- folder in it is one project's migrations folder; beside it NAME.setup.sql (loaded first,
-- what the project does before its tool runs) and NAME.set (K=V lines for --set) are optional.
-- docs/import.md lists the projects this was run on and what did not translate.
local H = require "helper"
local lfs = require "lfs"

local ROOT = os.getenv("MIGRUN_IMPORT_REAL")

local function folders()
  local list = {}
  if not ROOT or lfs.attributes(ROOT, "mode") ~= "directory" then return list end
  for e in lfs.dir(ROOT) do
    if e:sub(1, 1) ~= "." and lfs.attributes(ROOT .. "/" .. e, "mode") == "directory" then list[#list + 1] = e end
  end
  table.sort(list)
  return list
end

describe("real projects' migrations #pg", function()
  if #folders() == 0 then
    it("are imported and run (set MIGRUN_IMPORT_REAL=/path/to/checkouts)", function()
      pending("MIGRUN_IMPORT_REAL is not set: real projects are not part of this repository")
    end)
    return
  end

  for _, name in ipairs(folders()) do
    it("imports and runs " .. name, function()
      local dir = H.tmpdir() .. "/" .. name
      H.copy_tree(ROOT .. "/" .. name, dir)
      local r = H.migrun({ "import", dir })
      assert.equal(0, r.status, r.stdout .. r.stderr)
      local db = H.fresh_db("real")
      local args = { "--db", H.conninfo(db), dir .. "/playbook.lua", "--yes" }
      local setup = ROOT .. "/" .. name .. ".setup.sql"
      if lfs.attributes(setup) then
        args[#args + 1] = "--load"
        args[#args + 1] = setup
      end
      local sets = io.open(ROOT .. "/" .. name .. ".set")
      if sets then
        for line in sets:lines() do
          if line:find("=") then
            args[#args + 1] = "--set"
            args[#args + 1] = line
          end
        end
        sets:close()
      end
      r = H.migrun(args, { timeout = "600s" })
      H.drop_db(db)
      assert.equal(0, r.status, r.stdout .. r.stderr)
    end)
  end
end)
