--- rollback-undoes-nothing: a phase's rollback that only reads (SELECT 1, a comment): a
-- failed run reports the phase rolled back while its changes stay. Reported by lint.playbook.
return {
  id = "rollback-undoes-nothing", severity = "error",
  summary = "a rollback that changes nothing",
  tags = {},
  check = function() end,
}
