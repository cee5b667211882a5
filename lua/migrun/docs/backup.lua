--- The reference of the backup kinds a playbook declares, as data (lua/migrun/docs/init.lua
-- says how an entry reads). A new kind is one entry here.
return {
  name = "backup",
  title = "Backups",
  file = "backup.md",
  intro = [[
A playbook's `backup` is taken after the preflight, before the first phase changes anything.
Every kind takes, describes and restores itself; a playbook whose backup cannot restore
itself is refused under `on_failure = "restore"` when it loads. A `--sandbox` run keeps its
backups in the sandbox, and a rehearsal takes none. The verbs `migrun backup` and `migrun
restore` work on the same dumps.]],
  option_context = { ["backup.dump"] = "playbook", ["backup.tables"] = "playbook" },
  entries = {
    {
      name = "backup.dump",
      usage = "backup.dump { OPTION = VALUE, ... }",
      summary = "A verified pg_dump of the whole database, custom format.",
      text = [[
pg_dump streams into a hidden file while its sha256 is computed and a concurrent `pg_restore`
reads every byte back (`pg_restore --list` alone accepts truncated dumps); only then does the file get its
name, `migrun-DB-STAMP.dump`, with `.sha256` and a JSON manifest (database, server, snapshot,
size, row counts) beside it. A failure leaves nothing that looks like a backup.

Under `on_failure = "restore"` the dump is restored into a new database, which then takes the
target's name; the failed database is kept as `<db>_failed_<stamp>` (pg_restore --clean cannot
undo objects created after the dump).]],
      options = {
        { "dir", "DIR", "Where the dump goes, relative to the playbook (default: the current directory).",
          'backup = backup.dump { dir = "backups" }' },
        { "file", "FILE", "The dump's path instead of a new name in dir (an existing file is refused).",
          'backup = backup.dump { file = "/var/backups/shop-before-week1.dump" }' },
        { "keep", "N", "Keep the newest N dumps of this database in dir; older ones are removed.",
          'backup = backup.dump { dir = "backups", keep = 5 }' },
        { "compress", "0..9", "pg_dump's compression level.",
          'backup = backup.dump { dir = "backups", compress = 1 }' },
        { "counts", '"exact" | "estimate" | false', "Row counts in the manifest, taken in the dump's " ..
          "snapshot (default \"exact\"; \"estimate\" spares a huge database a second scan).",
          'backup = backup.dump { dir = "backups", counts = "estimate" }' },
        { "prove", "BOOLEAN", "Also restore it into a scratch database and compare every table's row " ..
          "count with the source at the dump's snapshot.", 'backup = backup.dump { dir = "backups", prove = true }' },
        { "progress", "BOOLEAN", "A progress line (default: when stderr is a terminal).",
          'backup = backup.dump { dir = "backups", progress = false }' },
        { "quiet", "BOOLEAN", "No messages while it works.", 'backup = backup.dump { dir = "backups", quiet = true }' },
        { "jobs", "1", "Must be 1: a parallel pg_dump writes directory format, which cannot be hashed and " ..
          "read back while it streams (restores may be parallel).",
          'backup = backup.dump { dir = "backups", jobs = 1 }' },
        { "pg_dump", "PATH", "The pg_dump to run (default: the one matching the server's major version).",
          'backup = backup.dump { dir = "backups", pg_dump = "/usr/lib/postgresql/16/bin/pg_dump" }' },
        { "pg_restore", "PATH", "The pg_restore that reads it back.",
          'backup = backup.dump { dir = "backups", pg_restore = "/usr/lib/postgresql/16/bin/pg_restore" }' },
        { "pg_dump_args", "{ ARG, ... }", "More arguments for pg_dump.",
          'backup = backup.dump { dir = "backups", pg_dump_args = { "--exclude-table-data=audit_log" } }' },
      },
      example = [[backup = backup.dump { dir = "backups", keep = 10, prove = true }]],
      see = { "playbook.backup", "playbook.on_failure", "backup", "restore" },
    },
    {
      name = "backup.tables",
      usage = "backup.tables { TABLE, ..., OPTION = VALUE, ... }",
      summary = "Binary COPY snapshots of the named tables: a fast partial backup.",
      text = [[
The snapshot is a new directory holding each table's rows, `snapshot.json` and `SHA256SUMS`.
Restoring it checks the checksums, then TRUNCATEs the tables and COPYs the rows back in one
transaction, parents before children; schema changes made since stay. A table that another
table references must be in the same snapshot.]],
      options = {
        { "dir", "DIR", "Where the snapshot directory is made, relative to the playbook (default $TMPDIR).",
          'backup = backup.tables { "orders", dir = "backups" }' },
        { "fsync", "BOOLEAN", "fsync the snapshot's files (default false: it serves this run's rollback).",
          'backup = backup.tables { "orders", fsync = true }' },
        { "progress", "BOOLEAN", "A progress line (default: when stderr is a terminal).",
          'backup = backup.tables { "orders", progress = false }' },
        { "quiet", "BOOLEAN", "No messages while it works.", 'backup = backup.tables { "orders", quiet = true }' },
      },
      example = [[backup = backup.tables { "prompts", "agents", dir = "backups" }]],
      see = { "playbook.backup", "backup.dump" },
    },
  },
}
