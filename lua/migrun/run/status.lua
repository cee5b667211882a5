--- migrun.run.status: the outcomes of runs and phases as codes (policy layer). Code decides
-- on codes; people read the display text. Nothing else in migrun pattern-matches a status.
local M = {}

--- status.run: the outcome of an invocation (migrun.runs.status holds the code)
M.run = {
  running = "running",
  succeeded = "succeeded",
  nothing_to_do = "nothing to do",
  dry_run = "dry run",
  dry_run_failed = "dry run failed",
  not_started = "not started",
  declined = "declined",
  failed = "failed",
  rolled_back = "failed, rolled back",
  recovery_failed = "failed, recovery failed",
  restored = "failed, restored from backup",
  restore_failed = "failed, restore failed",
  rollback_done = "rolled back",
  rollback_stopped = "rollback stopped (a phase has no rollback)",
  rollback_failed = "rollback failed",
  baselined = "baselined",
  baseline_failed = "baseline failed",
  drift_accepted = "drift accepted",
  accept_drift_failed = "accept-drift failed",
  abandoned = "abandoned",
  connection_lost = "failed, the connection was lost",
  watch_stopped = "failed in the watch window (nothing undone: the migration stays applied)",
  watch_interrupted = "interrupted in the watch window (the migration stays applied)",
}

--- status.phase: what became of one phase in this invocation
M.phase = {
  applied = "applied",
  already_applied = "already applied",
  not_selected = "not selected",
  after_to = "not run (after --to)",
  dry_run_checked = "checked in the dry run",
  dry_run_skipped = "not covered by the dry run (transaction = false)",
  dry_run_not_reached = "not reached in the dry run",
  failed_rolled_back = "rolled back (failed)",
  failed_partly_applied = "partly applied (failed)",
  failed_nothing_applied = "failed, nothing applied",
  rolled_back = "rolled back",
  not_rolled_back = "applied (not rolled back)",
  no_rollback = "applied (no rollback defined)",
  rollback_failed = "rollback failed",
  undone_by_restore = "undone by the restore",
  rows_restored = "its tables' rows restored from the snapshot (schema changes stay)",
  restore_failed = "applied (restore failed)",
  no_backup = "applied (no backup to restore)",
  baselined = "recorded as applied (baseline)",
}

--- status.text(table, code) -> the display text of a code (the code itself when unknown)
function M.text(tbl, code)
  return tbl[code] or tostring(code)
end

--- status.ok_run(code) -> true for outcomes that exit 0
function M.ok_run(code)
  return code == "succeeded" or code == "nothing_to_do" or code == "dry_run" or
    code == "rollback_done" or code == "baselined" or code == "drift_accepted"
end

return M
