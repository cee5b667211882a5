-- The smallest useful playbook: add a column and backfill it, then add a foreign key.
-- Each phase runs in one transaction and is checked (verify) before COMMIT; if a later
-- phase fails, the earlier ones are undone by their rollback, newest first.
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

  phase "add customers.email" {
    sql [[
      ALTER TABLE customers ADD COLUMN email text;
      UPDATE customers SET email = 'customer' || id || '@example.com' WHERE email IS NULL;
      ALTER TABLE customers ALTER COLUMN email SET NOT NULL;
    ]],
    budget = "5s",
    verify = {
      expect.columns("customers", { "email" }),
      expect.query("SELECT count(*) FROM customers WHERE email NOT LIKE '%@example.com'", 0),
    },
    rollback = sql [[ALTER TABLE customers DROP COLUMN email]],
  },

  -- asks on a terminal; a script (or CI) answers with --yes
  gate "go/no-go" { "Does the application write valid customer ids only?" },

  phase "orders -> customers foreign key" {
    sql [[ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey
            FOREIGN KEY (customer_id) REFERENCES customers (id)]],
    budget = "5s",
    verify = { expect.foreign_keys { count = 1, table = "orders" } },
    rollback = sql [[ALTER TABLE orders DROP CONSTRAINT orders_customer_id_fkey]],
  },

  -- the end state, checked once every phase is applied
  verify = {
    expect.count("customers", 100),
    expect.foreign_keys { count = 1 },
  },
}
