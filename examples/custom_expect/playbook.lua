-- A custom expectation: expect.that("description", function(db) return ok, actual, expected end)
-- checks what no built-in expectation can. Here a merge copies legacy invoices into invoices
-- with their old ids; two things can go silently wrong, and both are checked before COMMIT:
--   * the identity sequence is left behind max(id): the next INSERT from the application
--     fails with a duplicate key (a classic after copying rows with explicit ids);
--   * an invoice's total no longer equals the sum of its lines.
-- Run: migrun --sandbox --load examples/custom_expect/before.sql examples/custom_expect/playbook.lua --yes

-- the sequence behind invoices.id must be at or past the highest id
local sequence_ahead = expect.that("invoices.id identity sequence is at or past max(id)", function(db)
  local r = db:query([[
    SELECT (SELECT coalesce(max(id), 0) FROM invoices) AS max_id,
           (SELECT last_value FROM pg_sequences
            WHERE format('%I.%I', schemaname, sequencename)::regclass =
                  pg_get_serial_sequence('invoices', 'id')::regclass) AS last_value]])[1]
  return r.last_value >= r.max_id, "sequence at " .. r.last_value, ">= " .. r.max_id
end)

-- every invoice's total is the sum of its lines (numeric: compared in SQL, as text)
local totals_match = expect.that("every invoice total equals the sum of its lines", function(db)
  local r = db:query([[
    SELECT count(*) AS invoices,
           count(*) FILTER (WHERE i.total IS DISTINCT FROM s.sum) AS wrong
    FROM invoices AS i
    LEFT JOIN (SELECT invoice_id, sum(amount) AS sum FROM invoice_lines GROUP BY invoice_id) AS s
      ON s.invoice_id = i.id]])[1]
  return r.wrong == 0, string.format("%d of %d wrong", r.wrong, r.invoices),
         string.format("0 of %d wrong", r.invoices)
end)

playbook "custom_expect" {
  description = "merge 500 legacy invoices into invoices, keeping their ids",

  preflight = {
    expect.count("invoices", 2000),
    expect.count("legacy_invoices", 500),
    expect.query("SELECT count(*) FROM legacy_invoices l JOIN invoices i USING (id)", 0),  -- no id clash
    totals_match,
  },

  phase "merge legacy invoices" {
    sql [[
      INSERT INTO invoices (id, customer, total)
      SELECT id, customer, total FROM legacy_invoices;
      INSERT INTO invoice_lines (invoice_id, line_no, amount)
      SELECT l.id, u.line_no, u.amount
      FROM legacy_invoices AS l, unnest(l.lines) WITH ORDINALITY AS u (amount, line_no);
      -- the ids came from legacy_invoices: move the identity sequence past them
      SELECT setval(pg_get_serial_sequence('invoices', 'id'), (SELECT max(id) FROM invoices));
    ]],
    verify = {
      expect.count("invoices", 2500),
      expect.delta("invoice_lines", 1500),
      sequence_ahead,
      totals_match,
    },
    rollback = sql [[
      DELETE FROM invoice_lines WHERE invoice_id IN (SELECT id FROM legacy_invoices);
      DELETE FROM invoices WHERE id IN (SELECT id FROM legacy_invoices);
      SELECT setval(pg_get_serial_sequence('invoices', 'id'), (SELECT max(id) FROM invoices));
    ]],
  },

  verify = { sequence_ahead, totals_match },
}
