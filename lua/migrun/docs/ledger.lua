--- The reference of the ledger, schema `migrun` (lua/migrun/ledger.lua creates it), as data.
-- The suite compares these tables and columns with the ones a fresh ledger has.
return {
  name = "ledger",
  title = "The ledger",
  file = "ledger.md",
  intro = [[
What lands in the database: schema `migrun`, created by the first run and brought up to date
by later versions of migrun. Each applied step is written in the same transaction as its
work, so the ledger says exactly what is applied. Nothing of the user's schema is touched
outside the playbook's steps. The tables have no foreign keys between them (a check per row
on every phase); `run_id` is always a `migrun.runs(id)`.]],
  entries = {
    {
      name = "ledger",
      usage = "schema migrun",
      summary = "The ledger's tables.",
      text = [[
`migrun status` and `migrun report` read it; plain SQL works too.]],
      index_of = "ledger.",
      context = "shell",
      example = [[psql -c "SELECT id, playbook, status, started_at FROM migrun.runs ORDER BY id DESC LIMIT 5"]],
      see = { "status", "report" },
    },
    {
      name = "ledger.runs",
      usage = "migrun.runs",
      summary = "One row per invocation that takes the lock: a run, dry run, rehearsal, rollback, " ..
                "baseline, accept-drift.",
      columns = {
        { "id", "bigserial", "The run id (primary key); reports are named after it." },
        { "playbook", "text", "The playbook's name." },
        { "playbook_checksum", "text", "sha256 of the playbook file." },
        { "target", "text", "The target, without its password." },
        { "started_at", "timestamptz", "When it began." },
        { "finished_at", "timestamptz", "When it ended (NULL while it runs)." },
        { "status", "text", "running, succeeded, nothing_to_do, failed, rolled_back, restored, " ..
          "declined, abandoned (its process died), ... (the codes of lua/migrun/run/status.lua)." },
        { "host", "text", "The machine migrun ran on." },
        { "os_user", "text", "Who ran it." },
        { "db_user", "text", "The database role it connected as." },
        { "migrun_version", "text", "migrun's version." },
        { "dry_run", "boolean", "A dry run (everything rolled back)." },
        { "error", "text", "What failed." },
        { "summary", "jsonb", "The run's outcome in short." },
        { "kind", "text", "run, dry_run, rehearsal, rollback, baseline or accept_drift (version 2)." },
        { "vars", "jsonb", "The --set variables (version 2)." },
        { "note", "text", "--note: why (version 2)." },
        { "baseline", "jsonb", "The run-start snapshot of a fresh start, which a resumed run compares " ..
          "with (version 2)." },
      },
    },
    {
      name = "ledger.steps",
      usage = "migrun.steps",
      summary = "One row per step (and phase) a run applied, failed, rolled back, baselined or accepted.",
      columns = {
        { "id", "bigserial", "Primary key." },
        { "run_id", "bigint", "The run." },
        { "playbook", "text", "The playbook's name." },
        { "phase", "text", "The phase." },
        { "step", "text", "The step's name." },
        { "kind", "text", "sql, lua or backfill; phase for the row that marks a whole phase." },
        { "checksum", "text", "sha256 of its SQL or code: drift is a changed checksum." },
        { "status", "text", "applied, failed, partly_applied (a step of a `transaction = false` phase " ..
          "that committed part of its work, such as backfill batches, before it failed), rolled_back " ..
          "or renamed (a step accepted under a new name)." },
        { "started_at", "timestamptz", "When it started." },
        { "duration_ms", "numeric", "How long it took." },
        { "rows", "bigint", "Rows affected." },
        { "attempt", "int", "Which attempt (lock timeouts are retried)." },
        { "error", "text", "What failed." },
        { "body", "text", "Its SQL or code, for reports and accept-drift's diff (version 2)." },
        { "note", "text", "Why it was baselined or accepted (version 2)." },
      },
    },
    {
      name = "ledger.expectations",
      usage = "migrun.expectations",
      summary = "Every expectation checked: preflight, each phase's verify, the final verify, protect.",
      columns = {
        { "id", "bigserial", "Primary key." },
        { "run_id", "bigint", "The run." },
        { "phase", "text", "The phase, or (preflight), (verify), (protect)." },
        { "description", "text", "What it checks, as plans show it." },
        { "ok", "boolean", "Whether it held." },
        { "expected", "text", "What it wanted." },
        { "actual", "text", "What it found." },
        { "checked_at", "timestamptz", "When." },
      },
    },
    {
      name = "ledger.gates",
      usage = "migrun.gates",
      summary = "The answers given at each gate (version 2).",
      columns = {
        { "id", "bigserial", "Primary key." },
        { "run_id", "bigint", "The run." },
        { "gate", "text", "The gate's name." },
        { "items", "jsonb", "Each question with its answer: [{question, answer}]." },
        { "answer", "text", "yes, no, yes (--yes), or no terminal." },
        { "answered_by", "text", "user@host." },
        { "waited_ms", "numeric", "How long the answer took." },
        { "answered_at", "timestamptz", "When." },
      },
    },
    {
      name = "ledger.backfill",
      usage = "migrun.backfill",
      summary = "Each backfill's checkpoint, moved by every batch in the batch's own statement (version 2).",
      columns = {
        { "playbook", "text", "The playbook (the key is playbook, phase, step)." },
        { "phase", "text", "The phase." },
        { "step", "text", "The backfill step." },
        { "run_id", "bigint", "The run that moved it last." },
        { "last_key", "jsonb", "The last key done, {\"migrun_k1\": ...} (one per key column): every " ..
          "key up to it is done." },
        { "rows_done", "bigint", "Rows done so far." },
        { "batches", "bigint", "Batches done so far." },
        { "updated_at", "timestamptz", "When the last batch committed." },
      },
    },
    {
      name = "ledger.plan_steps",
      usage = "migrun.plan_steps",
      summary = "The steps a playbook has shown a run, and the first run that saw each: a new step " ..
                "placed before applied ones is drift, one skipped by --only is not (version 2).",
      columns = {
        { "playbook", "text", "The playbook (the key is playbook, phase, step)." },
        { "phase", "text", "The phase." },
        { "step", "text", "The step." },
        { "first_run", "bigint", "The first run that saw it." },
      },
    },
    {
      name = "ledger.calls",
      usage = "migrun.calls",
      summary = "What a run did outside the database: hook calls and notifications (version 3).",
      columns = {
        { "id", "bigserial", "Primary key." },
        { "run_id", "bigint", "The run." },
        { "kind", "text", "hook or notify." },
        { "event", "text", "before, after, on_failure, always; or start, gate, success, failure, ..." },
        { "name", "text", "What was called: a function's name, or METHOD url." },
        { "ok", "boolean", "Whether it succeeded." },
        { "detail", "text", "The HTTP status, or the error (secrets redacted)." },
        { "duration_ms", "numeric", "How long it took." },
        { "called_at", "timestamptz", "When." },
      },
    },
    {
      name = "ledger.watch_samples",
      usage = "migrun.watch_samples",
      summary = "What a watch window saw, one row per tick (version 3).",
      columns = {
        { "id", "bigserial", "Primary key." },
        { "run_id", "bigint", "The run." },
        { "watch", "text", "The watch's name." },
        { "tick", "int", "The sample's number." },
        { "at_seconds", "numeric", "Seconds since the window opened." },
        { "metrics", "jsonb", "{figure = value}." },
        { "breaches", "jsonb", "[{metric, value, limit, why}], or NULL." },
        { "sampled_at", "timestamptz", "When." },
      },
    },
  },
}
