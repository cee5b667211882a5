--- allow-unknown-rule: `-- migrun:allow NAME` or `lint = { NAME = ... }` where NAME is no lint
-- rule (a typo suppresses nothing). Reported by the engine.
return {
  id = "allow-unknown-rule", severity = "warning",
  summary = "a suppression or lint level that names no rule",
  tags = {},
  check = function() end,
}
