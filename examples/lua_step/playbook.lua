-- A batched backfill and a Lua step. Updating 25,000 rows in one statement holds their row
-- locks until the end and writes one big transaction; `backfill` walks the table in key-range
-- batches instead, one short transaction each, in a `transaction = false` phase. A Lua step
-- then reports on the result with the connection and run.log.
-- Run: migrun --sandbox --load examples/lua_step/before.sql examples/lua_step/playbook.lua --yes
-- --set batch=N changes the batch size (default 5000).
local BATCH = math.tointeger(tonumber(var("batch", "5000")))

playbook "lua_step" {
  description = "accounts.email_normalized = lower(trim(email)), backfilled in batches",

  preflight = {
    expect.count("accounts", 25000),
    expect.query("SELECT count(DISTINCT lower(trim(email))) FROM accounts", 25000),  -- unique once normalised
  },
  protect = { accounts = "grow" },            -- no account lost (the rows do change: new column)

  phase "add the column" {
    sql [[ALTER TABLE accounts ADD COLUMN email_normalized text]],   -- nullable: instant, no rewrite
    verify = { expect.columns("accounts", { "email_normalized" }) },
    rollback = sql [[ALTER TABLE accounts DROP COLUMN email_normalized]],
  },

  phase "backfill in batches" {
    transaction = false,                      -- each batch commits on its own
    -- migrun's built-in batched backfill: key ranges on the (integer) primary key, each its
    -- own short transaction, the batch size tuned to 200 ms, resumable from its checkpoint
    backfill "accounts" {
      set = "email_normalized = lower(trim(email))",
      where = "email_normalized IS NULL",       -- what still needs doing (a rerun skips the rest)
      batch = BATCH,                            -- fixed here to show the batches; default "auto"
    },
    -- a Lua step: code with the connection, for what SQL alone says badly
    step "report the domains" (function(db, run)
      local res = db:query([[SELECT split_part(email_normalized, '@', 2) AS domain, count(*) AS n
                             FROM accounts GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3]])
      for _, r in ipairs(res) do run.log(string.format("%s: %d accounts", r.domain, r.n)) end
      return 0
    end),
    budget = "1m",
    verify = {
      expect.query("SELECT count(*) FROM accounts WHERE email_normalized IS NULL", 0),
      expect.query("SELECT count(*) FROM accounts WHERE email_normalized <> lower(trim(email))", 0),
    },
    -- a non-transactional phase is undone by its rollback, not by ROLLBACK
    rollback = sql [[UPDATE accounts SET email_normalized = NULL WHERE email_normalized IS NOT NULL]],
  },

  -- then the constraints, the way a live table allows: a CHECK NOT VALID, validated in a
  -- transaction of its own (no write waits for the scan), lets SET NOT NULL skip its scan; a
  -- unique index built concurrently becomes the UNIQUE constraint without a second build
  phase "not null, checked" {
    sql [[ALTER TABLE accounts ADD CONSTRAINT accounts_email_normalized_present
            CHECK (email_normalized IS NOT NULL) NOT VALID]],
    rollback = sql [[ALTER TABLE accounts DROP CONSTRAINT accounts_email_normalized_present]],
  },

  phase "not null" {
    sql [[
      ALTER TABLE accounts VALIDATE CONSTRAINT accounts_email_normalized_present;
      ALTER TABLE accounts ALTER COLUMN email_normalized SET NOT NULL;
      ALTER TABLE accounts DROP CONSTRAINT accounts_email_normalized_present;
    ]],
    verify = {
      expect.query([[SELECT attnotnull FROM pg_attribute
                     WHERE attrelid = 'accounts'::regclass AND attname = 'email_normalized']], true),
    },
    rollback = sql [[
      ALTER TABLE accounts ALTER COLUMN email_normalized DROP NOT NULL;
      ALTER TABLE accounts ADD CONSTRAINT accounts_email_normalized_present
        CHECK (email_normalized IS NOT NULL) NOT VALID;
    ]],
  },

  phase "unique index" {
    transaction = false,                      -- CREATE INDEX CONCURRENTLY refuses a transaction
    sql [[CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS accounts_email_normalized_key
            ON accounts (email_normalized)]],
    verify = { expect.index("accounts", { "email_normalized" }) },
    rollback = sql [[DROP INDEX CONCURRENTLY IF EXISTS accounts_email_normalized_key]],
  },

  phase "unique constraint" {
    sql [[ALTER TABLE accounts ADD CONSTRAINT accounts_email_normalized_key
            UNIQUE USING INDEX accounts_email_normalized_key]],
    verify = { expect.query([[SELECT count(*) FROM pg_constraint
                              WHERE conname = 'accounts_email_normalized_key' AND contype = 'u']], 1) },
    -- dropping the constraint drops its index too: the previous phase's rollback finds none
    rollback = sql [[ALTER TABLE accounts DROP CONSTRAINT accounts_email_normalized_key]],
  },

  verify = {
    expect.count("accounts", 25000),
    expect.query("SELECT count(*) FROM accounts WHERE email_normalized LIKE '% %'", 0),
  },
}
