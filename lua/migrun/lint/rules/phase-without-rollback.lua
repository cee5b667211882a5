--- phase-without-rollback: a phase with no `rollback`: when a later phase fails, migrun can
-- undo the phases after it but stops here (exit 5) and the database needs a human.
-- Reported by lint.playbook (it reads the phase, not a statement).
return {
  id = "phase-without-rollback", severity = "warning",
  summary = "a playbook phase without a rollback",
  tags = {},
  check = function() end,
}
