-- The smallest useful migrun script: look at the database the way a runbook would.
-- Run: migrun --sandbox --load examples/quickstart/before.sql examples/quickstart/quickstart.lua
print(string.format("connected: %s (server %d)", tostring(db), db:server_version()))
local tables = db:query([[SELECT quote_ident(table_name) AS name FROM information_schema.tables
                          WHERE table_schema = 'public' ORDER BY 1]])
for _, t in ipairs(tables) do
  print(string.format("  %-10s %d rows", t.name,
        db:query("SELECT count(*) AS n FROM " .. t.name)[1].n))
end
local orphans = db:query([[SELECT count(*) AS n FROM orders o
  WHERE NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = o.customer_id)]])[1].n
print(string.format("orphaned orders: %d (expected 0)", orphans))
assert(orphans == 0, "orphaned orders found")
