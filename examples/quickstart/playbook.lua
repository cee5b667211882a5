-- The smallest useful playbook: add a column and backfill it, then make it required and add a
-- foreign key — the way a live table allows: no step holds a lock while it scans the table.
-- Each phase runs in one transaction and is checked (verify) before COMMIT; if a later phase
-- fails, the earlier ones are undone by their rollback, newest first.
-- Run: migrun --sandbox --load examples/quickstart/before.sql examples/quickstart/playbook.lua --yes
playbook "quickstart" {
  description = "customers.email (backfilled, NOT NULL) and the orders -> customers foreign key",
  budget = "1m",

  -- the state this playbook was written for; nothing runs unless it holds
  preflight = {
    expect.tables { schema = "public", count = 2 },
    expect.count("customers", 100),
    expect.no_orphans "orders.customer_id -> customers.id",   -- else the foreign key would fail
  },
  protect = { "orders" },                     -- every order must survive, unchanged

  phase "add customers.email" {               -- a new nullable column: no rewrite, no scan
    sql [[ALTER TABLE customers ADD COLUMN email text]],
    rollback = sql [[ALTER TABLE customers DROP COLUMN email]],
  },

  phase "backfill customers.email" {
    sql [[
      UPDATE customers SET email = 'customer' || id || '@example.com' WHERE email IS NULL;
      -- NOT VALID: new rows must have an email; existing ones are checked in the next phase
      ALTER TABLE customers ADD CONSTRAINT customers_email_present CHECK (email IS NOT NULL) NOT VALID;
    ]],
    budget = "5s",
    verify = {
      expect.columns("customers", { "email" }),
      expect.query("SELECT count(*) FROM customers WHERE email NOT LIKE '%@example.com'", 0),
    },
    rollback = sql [[
      ALTER TABLE customers DROP CONSTRAINT customers_email_present;
      UPDATE customers SET email = NULL WHERE email IS NOT NULL;
    ]],
  },

  phase "require customers.email" {           -- VALIDATE scans without blocking writes; then
    sql [[                                    -- SET NOT NULL trusts the validated CHECK
      ALTER TABLE customers VALIDATE CONSTRAINT customers_email_present;
      ALTER TABLE customers ALTER COLUMN email SET NOT NULL;
      ALTER TABLE customers DROP CONSTRAINT customers_email_present;
    ]],
    verify = {
      expect.query([[SELECT attnotnull FROM pg_attribute
                     WHERE attrelid = 'customers'::regclass AND attname = 'email']], true),
    },
    rollback = sql [[
      ALTER TABLE customers ALTER COLUMN email DROP NOT NULL;
      ALTER TABLE customers ADD CONSTRAINT customers_email_present CHECK (email IS NOT NULL) NOT VALID;
    ]],
  },

  -- asks on a terminal; a script (or CI) answers with --yes
  gate "go/no-go" { "Does the application write valid customer ids only?" },

  phase "orders -> customers foreign key" {   -- NOT VALID: checks new rows only, no scan
    sql [[ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey
            FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID]],
    budget = "5s",
    verify = { expect.foreign_keys { count = 1, table = "orders" } },
    rollback = sql [[ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey]],
  },

  phase "validate the foreign key" {          -- its own transaction: writes go on meanwhile
    sql [[ALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey]],
    budget = "5s",
    verify = {
      expect.query([[SELECT convalidated FROM pg_constraint
                     WHERE conname = 'orders_customer_id_fkey']], true),
    },
    rollback = sql [[
      -- migrun:allow rollback-undoes-nothing VALIDATE changes no data; the rollback of the
      -- phase before drops the constraint
      SELECT 'nothing to undo'
    ]],
  },

  -- the end state, checked once every phase is applied
  verify = {
    expect.count("customers", 100),
    expect.foreign_keys { count = 1 },
  },
}
