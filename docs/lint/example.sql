-- docs/lint/example.sql: the migration a hurried engineer writes (the README's lint example)
ALTER TABLE customers ADD COLUMN email text;
UPDATE customers SET email = 'customer' || id || '@example.com' WHERE email IS NULL;
ALTER TABLE customers ALTER COLUMN email SET NOT NULL;
CREATE INDEX customers_email_idx ON customers (email);
ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey
  FOREIGN KEY (customer_id) REFERENCES customers (id);
