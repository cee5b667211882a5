-- docs/lint/: one page per rule, and each page's examples do what the page says: the
-- "Flagged" SQL trips the rule, the "Instead" SQL does not.
local H = require "helper"
local lint = require "migrun.lint"

local function block(page, heading)
  return page:match("## " .. heading .. "\n\n```(%w+)\n(.-)\n```")
end

local function has(findings, rule)
  for _, f in ipairs(findings) do if f.rule == rule then return true end end
  return false
end

describe("docs/lint", function()
  local root = H.source .. "/docs/lint/"

  it("shows in its README the output `migrun lint docs/lint/example.sql` really prints", function()
    local index = H.read(root .. "README.md")
    local shown = index:match("`migrun lint docs/lint/example%.sql`.-\n```\n(.-)```")
    assert.is_string(shown)
    local r = require("migrun.proc").run({ H.bin, "lint", "docs/lint/example.sql" },
                                         { cwd = H.source, env = { NO_COLOR = "1" } })
    assert.equal(1, r.status, r.stderr)
    assert.equal(shown, r.stdout)
  end)

  it("has an index listing every rule", function()
    local index = H.read(root .. "README.md")
    for _, id in ipairs(lint.RULE_IDS) do
      assert.truthy(index:find("[" .. id .. "](" .. id .. ".md)", 1, true), id .. " missing from the index")
    end
  end)

  for _, id in ipairs(lint.RULE_IDS) do
    it(id .. ": its page's examples are flagged and passed as it says", function()
      local page = H.read(root .. id .. ".md")
      assert.truthy(page, "no page for " .. id)
      assert.truthy(page:find("# " .. id, 1, true))
      assert.truthy(page:find("severity: " .. lint.rules()[id].severity, 1, true))
      local lang, bad = block(page, "Flagged")
      local glang, good = block(page, "Instead")
      assert.is_string(bad)
      assert.is_string(good)
      local in_playbook = id == "concurrent-index-if-not-exists"
      local function opts()
        return { file = id .. ".md", playbook = in_playbook, in_transaction = in_playbook and false or nil }
      end
      if lang == "sql" then
        assert.is_true(has(lint.sql(bad, opts()), id), id .. ": the Flagged example is not flagged")
      end
      if glang == "sql" then
        assert.is_false(has(lint.sql(good, opts()), id), id .. ": the Instead example is flagged")
      end
    end)
  end
end)
