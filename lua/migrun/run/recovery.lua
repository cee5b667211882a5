--- migrun.run.recovery: what happens after a phase failed (policy layer): the playbook's
-- on_failure policy — rollback (each applied phase's rollback, newest first), restore (this
-- run's backup, through the backup spec's own restore), or stop — and the rollback verb's
-- loop. Sets every phase's state code; returns whether the database is in a known state.
local clock = require "migrun.clock"
local errors = require "migrun.errors"
local executor = require "migrun.run.executor"

local M = {}

local function undo_one(run, ph)
  local db = run.db
  local work = function()
    executor.exec_rollback(run, ph)
    for _, st in ipairs(ph.steps) do
      run:record({ phase = ph.name, step = st.name, kind = st.kind, checksum = st.checksum,
                   status = "rolled_back" })
    end
  end
  if ph.transaction then
    local lt = ph.lock_timeout or run.pb.lock_timeout
    local tx <close> = db:begin(string.format("SET LOCAL lock_timeout = %d", lt // 1000000))
    work()
    tx:commit()
  else
    work()
    pcall(db.exec, db, "RESET statement_timeout")
  end
end

--- recovery.undo(run, ph): run one phase's rollback (retried on lock errors), as a failure
-- policy would; raises when it fails
function M.undo(run, ph)
  executor.retry({ attempts = (ph.retries or run.pb.retries) + 1, what = "rollback of '" .. ph.name .. "'",
                   out = run.out, undone = "rolled back" }, function() undo_one(run, ph) end)
end

--- recovery.rollback_applied(run) -> ok: undo run.applied, newest first, each phase in its
-- own transaction (retried on lock errors); stops at a phase that has no rollback
function M.rollback_applied(run)
  local failed = false
  for i = #run.applied, 1, -1 do
    local ph = run.applied[i]
    if failed then
      run:set_state(ph.name, "not_rolled_back")
    elseif not ph.rollback then
      run:set_state(ph.name, "no_rollback")
      run.out:error(string.format("phase '%s' has no rollback: stopped here, it and the phases " ..
        "before it stay applied (write a rollback for it, or roll back only the phases after it " ..
        "with --to '%s')", ph.name, ph.name))
      failed = true
    else
      local t = clock.now()
      local ok, err = pcall(executor.retry, { attempts = (ph.retries or run.pb.retries) + 1,
        what = "rollback of '" .. ph.name .. "'", out = run.out, undone = "rolled back" },
        function() undo_one(run, ph) end)
      if ok then
        run:set_state(ph.name, "rolled_back")
        run.out:phase(ph, "rolled back", clock.since(t))
      else
        run:set_state(ph.name, "rollback_failed")
        run.out:phase(ph, "rollback failed")
        run.out:error(err)
        failed = true
      end
    end
  end
  return not failed
end

--- recovery.restore(run, taken) -> ok: put this run's backup back through its spec
function M.restore(run, taken)
  local spec = run.pb.backup
  if not taken then
    run.out:error("on_failure = \"restore\" but this run took no backup before it failed")
    for _, ph in ipairs(run.applied) do run:set_state(ph.name, "no_backup") end
    return false
  end
  run.out:info("on_failure = \"restore\": restoring " .. spec:describe())
  local t = clock.now()
  local ok, res = pcall(spec.restore, spec, {
    db = run.db, conninfo = run.conninfo, out = run.out,
    release = function()                            -- the spec needs the database to itself
      run.release()
      run.db:close()
    end,
  }, taken)
  if not ok then
    run.out:error(res)
    for _, ph in ipairs(run.applied) do run:set_state(ph.name, "restore_failed") end
    return false
  end
  if res.reconnect or run.db:status() == "closed" then run.reconnect() end
  for _, ph in ipairs(run.applied) do
    run:set_state(ph.name, res.rows_only and "rows_restored" or "undone_by_restore")
  end
  if res.message then run.out:info(res.message) end
  run.kept = res.kept
  run.out:info(string.format("restored in %s", clock.format(clock.since(t))))
  return true
end

--- recovery.after_failure(run, err) -> status code, exit code: the playbook's policy (after
-- Ctrl-C too: exit 1 once the database is back in a known state, as for any failure)
function M.after_failure(run, err)
  local pb = run.pb
  if errors.is(err, "declined") then return "declined", 4 end
  if pb.on_failure == "stop" or run.dry_run or #run.applied == 0 then return "failed", 1 end
  -- a backfill stopped half-way by Ctrl-C or a lost connection keeps its batches and its
  -- checkpoint, and the phases before it stay: the issue is the interruption, not the work,
  -- and a rerun resumes after the last key done. Rolling back (it, or a phase it builds on,
  -- such as the column it fills) would throw away every batch done so far.
  local last = run.applied[#run.applied]
  if last and last.name == run.failed_phase and (errors.is(err, "interrupted") or errors.is(err, "connection")) then
    for _, st in ipairs(last.steps) do
      if st.kind == "backfill" then
        run.out:info(string.format("kept: the batches phase '%s' did and the phases before it " ..
          "(on_failure = \"%s\" is not applied to an interrupted backfill); run the playbook again to " ..
          "resume from its checkpoint", last.name, pb.on_failure))
        return "failed", 1
      end
    end
  end
  if pb.on_failure == "restore" then
    if M.restore(run, run.backup) then return "restored", 1 end
    return "restore_failed", 5
  end
  run.out:info(string.format("on_failure = \"rollback\": undoing %d applied phase(s)", #run.applied))
  if M.rollback_applied(run) then return "rolled_back", 1 end
  return "recovery_failed", 5
end

return M
