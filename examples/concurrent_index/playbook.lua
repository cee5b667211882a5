-- A non-transactional phase: CREATE INDEX CONCURRENTLY builds the index without blocking
-- writes, but cannot run inside a transaction, so its phase says `transaction = false`.
-- migrun then runs it statement by statement; if the build fails it drops the INVALID index
-- the build leaves behind, and the phase is undone by its rollback (DROP INDEX CONCURRENTLY).
-- The next phase turns the finished index into a UNIQUE constraint: a quick catalog change.
-- Run: migrun --sandbox --load examples/concurrent_index/before.sql examples/concurrent_index/playbook.lua --yes
playbook "concurrent_index" {
  description = "UNIQUE (order_number) on orders, built without blocking writes",
  lock_timeout = "2s",                        -- never queue traffic behind a lock for longer

  preflight = {
    expect.count("orders", 50000),
    expect.query("SELECT count(*) - count(DISTINCT order_number) FROM orders", 0),  -- no duplicates
  },
  protect = { "orders" },                     -- an index changes no row

  phase "build the index concurrently" {
    transaction = false,
    sql [[CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS orders_order_number_key ON orders (order_number)]],
    budget = "1m",
    verify = {
      expect.index("orders", { "order_number" }),
      -- an interrupted concurrent build leaves an index that exists but is not valid
      expect.query([[SELECT indisvalid FROM pg_index
                     WHERE indexrelid = 'orders_order_number_key'::regclass]], true),
    },
    rollback = sql [[DROP INDEX CONCURRENTLY IF EXISTS orders_order_number_key]],
  },

  phase "attach it as a constraint" {
    sql [[ALTER TABLE orders ADD CONSTRAINT orders_order_number_key
            UNIQUE USING INDEX orders_order_number_key]],
    verify = {
      expect.query([[SELECT count(*) FROM pg_constraint
                     WHERE conrelid = 'orders'::regclass AND conname = 'orders_order_number_key'
                       AND contype = 'u']], 1),
    },
    -- drops the constraint and its index; the phase before then finds nothing to drop
    rollback = sql [[ALTER TABLE orders DROP CONSTRAINT orders_order_number_key]],
  },

  verify = {
    expect.index("orders", { "order_number" }),
    expect.count("orders", 50000),
  },
}
