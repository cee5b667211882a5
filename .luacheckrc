-- luacheck: lua/ is the policy layer, tests/ the busted specs, playbooks and fixtures use the DSL
std = "lua54"
max_line_length = 120
files["tests"] = { std = "+busted" }
local dsl = { "playbook", "phase", "step", "sql", "gate", "expect", "backup", "var", "env", "db",
              "backfill", "watch", "http" }
files["tests/fixtures"] = { read_globals = dsl }
files["playbooks"] = { read_globals = dsl }
files["examples"] = { read_globals = dsl }
