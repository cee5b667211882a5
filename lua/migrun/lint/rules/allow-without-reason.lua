--- allow-without-reason: `-- migrun:allow RULE` with no reason after it. The reason is what
-- the next reviewer reads; a suppression without one is itself a finding.
-- Reported by the engine when it reads the comment.
return {
  id = "allow-without-reason", severity = "error",
  summary = "a migrun:allow suppression without a reason",
  tags = {},
  check = function() end,
}
