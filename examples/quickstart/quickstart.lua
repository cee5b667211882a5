-- The smallest useful migrun script: look at the database the way a runbook would.
-- Run: migrun --sandbox --load examples/quickstart/before.sql examples/quickstart/quickstart.lua
print(string.format("connected: %s (server %d)", tostring(db), db:server_version()))
for row in db:rows([[SELECT quote_ident(table_name) AS name FROM information_schema.tables
                     WHERE table_schema = 'public' ORDER BY 1]]) do
  -- rows() holds the connection while it streams: count on a second one
  print(string.format("  %-10s %d rows", row.name,
        db2:query("SELECT count(*) AS n FROM " .. row.name)[1].n))
end
