-- concurrent_index's "before" state: 50,000 orders, each with its order number, but
-- nothing enforces that order numbers are unique, and lookups by number scan the table.
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  order_number text NOT NULL,
  customer_id int NOT NULL,
  total numeric(10,2) NOT NULL
);
INSERT INTO orders (id, order_number, customer_id, total)
SELECT g, 'ORD-' || lpad(g::text, 6, '0'), 1 + g % 977, (g % 500) * 1.25
FROM generate_series(1, 50000) AS g;
