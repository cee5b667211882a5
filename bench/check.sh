#!/usr/bin/env bash
# Check benchmark (issue: speed, "50 checks cost one flight, not 50"): `migrun check` of a
# playbook whose final verify holds 50 varied expectations, on a freshly migrated database,
# against one session of the psql binary (`psql -X -q -f`) asking the same 50 questions as
# plain SQL; goal: migrun at most 0.9x psql. Interleaved pairs (lib.sh's ab), ROUNDS of them.
# ROWS sizes the data; LATENCY_US=500 puts both behind bench/delayproxy.c, as engine.sh does
# (a server 1 ms away: there the flights saved show).
. "$(dirname "$0")/lib.sh"
start_sandbox
tmp=$(mktemp -d /tmp/migrun-bench-XXXXXX)
cleanup() {
  [ -z "$proxy_pid" ] || kill "$proxy_pid" 2>/dev/null || true
  "$MIGRUN" sandbox stop --env-file "$envfile" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
ROWS=${ROWS:-2000}
behind_proxy "$tmp"
echo "$(load) at the start; psql is $PSQL"
sfx=${LATENCY_US:+ @${LATENCY_US}us}

# the schema the playbook migrates to: a small shop, with RLS, functions and triggers
cat > "$tmp/schema.sql" <<SQL
CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email varchar(255), region text,
                        created_at timestamptz(3) NOT NULL DEFAULT now());
CREATE TABLE products (id int PRIMARY KEY, sku varchar(32) NOT NULL UNIQUE, price numeric(10, 2),
                       tags text[]);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customers (id),
                     status text NOT NULL, placed_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE order_items (order_id bigint REFERENCES orders (id), product_id int REFERENCES products (id),
                          qty int NOT NULL, PRIMARY KEY (order_id, product_id));
CREATE TABLE invoices (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id), total numeric(12, 2));
CREATE TABLE payments (id bigint PRIMARY KEY, invoice_id bigint REFERENCES invoices (id), amount numeric(12, 2));
CREATE TABLE audit_log (id bigserial PRIMARY KEY, tbl text, at timestamptz DEFAULT now());
CREATE INDEX orders_customer_idx ON orders (customer_id, placed_at);
CREATE INDEX orders_status_idx ON orders (status);
CREATE INDEX items_product_idx ON order_items (product_id);
CREATE INDEX invoices_order_idx ON invoices (order_id);
CREATE INDEX payments_invoice_idx ON payments (invoice_id);
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_customer ON customers USING (true);
CREATE POLICY own_orders ON orders USING (true);
CREATE POLICY read_orders ON orders FOR SELECT USING (status <> 'deleted');
CREATE FUNCTION order_total(o bigint) RETURNS numeric LANGUAGE sql STABLE
  AS 'SELECT coalesce(sum(p.price * i.qty), 0) FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = o';
CREATE FUNCTION touch_audit() RETURNS trigger LANGUAGE plpgsql
  AS \$\$ BEGIN INSERT INTO audit_log (tbl) VALUES (TG_TABLE_NAME); RETURN NEW; END \$\$;
CREATE FUNCTION region_of(c int) RETURNS text LANGUAGE sql STABLE AS 'SELECT region FROM customers WHERE id = c';
CREATE TRIGGER orders_audit AFTER UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION touch_audit();
CREATE TRIGGER invoices_audit AFTER UPDATE ON invoices FOR EACH ROW EXECUTE FUNCTION touch_audit();
INSERT INTO customers (id, name, email, region)
  SELECT g, 'c' || g, 'c' || g || '@example.com', (ARRAY['eu', 'us', 'apac'])[1 + g % 3]
  FROM generate_series(1, $ROWS) g;
INSERT INTO products SELECT g, 'sku-' || g, g * 1.25, ARRAY['t' || g % 5] FROM generate_series(1, 200) g;
INSERT INTO orders SELECT g, 1 + g % $ROWS, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3]
  FROM generate_series(1, 2 * $ROWS) g;
INSERT INTO order_items SELECT o, 1 + (o * k) % 200, k FROM generate_series(1, 2 * $ROWS) o,
  generate_series(1, 3) k ON CONFLICT DO NOTHING;
INSERT INTO invoices SELECT g, g, g * 2.5 FROM generate_series(1, $ROWS) g;
INSERT INTO payments SELECT g, g, g * 2.5 FROM generate_series(1, $ROWS) g;
ANALYZE;
SQL

# 50 expectations: the playbook's final verify, and the same 50 questions in SQL for psql
cat > "$tmp/pb.lua" <<LUA
playbook "check50" {
  phase "shop schema" { sql "schema.sql" },
  verify = {
    expect.tables { schema = "public", count = 7 },
    expect.count("customers", $ROWS),
    expect.count("products", 200),
    expect.count("orders", $((2 * ROWS))),
    expect.count("orders", { min = 1 }, "status = 'paid'"),
    expect.count("invoices", $ROWS),
    expect.count("payments", $ROWS),
    expect.count("audit_log", 0),
    expect.count("order_items", { min = 1 }),
    expect.exists { "customers", "orders", "order_items" },
    expect.exists "products",
    expect.exists "invoices",
    expect.exists "payments",
    expect.absent { "legacy_orders", "tmp_import" },
    expect.columns("customers", { "id", "name", "email", "region", "created_at" }),
    expect.columns("orders", { "id", "customer_id", "status", "placed_at" }),
    expect.columns("order_items", { "order_id", "product_id", "qty" }),
    expect.columns("products", { "sku", "price", "tags" }),
    expect.columns("payments", { "invoice_id", "amount" }),
    expect.column_type("customers", "email", "varchar(255)"),
    expect.column_type("customers", "created_at", "timestamptz(3)"),
    expect.column_type("orders", "id", "bigint"),
    expect.column_type("products", "price", "numeric(10, 2)"),
    expect.column_type("products", "tags", "text[]"),
    expect.column_type("invoices", "total", "numeric"),
    expect.foreign_keys { count = 5 },
    expect.foreign_keys { count = 1, table = "orders" },
    expect.foreign_keys { count = 2, table = "order_items" },
    expect.foreign_keys { count = 1, table = "payments" },
    expect.no_orphans "orders.customer_id -> customers.id",
    expect.no_orphans "order_items.order_id -> orders.id",
    expect.no_orphans "order_items.product_id -> products.id",
    expect.no_orphans "invoices.order_id -> orders.id",
    expect.no_orphans "payments.invoice_id -> invoices.id",
    expect.index("orders", { "customer_id", "placed_at" }),
    expect.index("orders", { "status" }),
    expect.index("order_items", { "product_id" }),
    expect.index("invoices", { "order_id" }),
    expect.index("payments", { "invoice_id" }),
    expect.rls("customers"),
    expect.rls("orders"),
    expect.rls("products", false),
    expect.policies { count = 3 },
    expect.policies { count = 2, table = "orders" },
    expect.function_exists "order_total",
    expect.function_exists "public.touch_audit",
    expect.function_exists "region_of",
    expect.trigger("orders", "orders_audit"),
    expect.trigger("invoices", "invoices_audit"),
    expect.query("SELECT count(*) FROM orders WHERE status NOT IN ('new', 'paid', 'shipped')", 0),
  },
}
LUA

cat > "$tmp/checks.sql" <<'SQL'
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p');
SELECT count(*) FROM customers;
SELECT count(*) FROM products;
SELECT count(*) FROM orders;
SELECT count(*) FROM orders WHERE status = 'paid';
SELECT count(*) FROM invoices;
SELECT count(*) FROM payments;
SELECT count(*) FROM audit_log;
SELECT count(*) FROM order_items;
SELECT to_regclass('customers') IS NOT NULL, to_regclass('orders') IS NOT NULL, to_regclass('order_items') IS NOT NULL;
SELECT to_regclass('products') IS NOT NULL;
SELECT to_regclass('invoices') IS NOT NULL;
SELECT to_regclass('payments') IS NOT NULL;
SELECT to_regclass('legacy_orders') IS NULL, to_regclass('tmp_import') IS NULL;
SELECT attname FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT attname FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT attname FROM pg_attribute WHERE attrelid = 'order_items'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT attname FROM pg_attribute WHERE attrelid = 'products'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT attname FROM pg_attribute WHERE attrelid = 'payments'::regclass AND attnum > 0 AND NOT attisdropped;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'email';
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'customers'::regclass AND attname = 'created_at';
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'orders'::regclass AND attname = 'id';
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'products'::regclass AND attname = 'price';
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'products'::regclass AND attname = 'tags';
SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'invoices'::regclass AND attname = 'total';
SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'migrun');
SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'orders'::regclass;
SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'order_items'::regclass;
SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'payments'::regclass;
SELECT count(*) FROM orders c WHERE c.customer_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM customers p WHERE p.id = c.customer_id);
SELECT count(*) FROM order_items c WHERE c.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders p WHERE p.id = c.order_id);
SELECT count(*) FROM order_items c WHERE c.product_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM products p WHERE p.id = c.product_id);
SELECT count(*) FROM invoices c WHERE c.order_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM orders p WHERE p.id = c.order_id);
SELECT count(*) FROM payments c WHERE c.invoice_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM invoices p WHERE p.id = c.invoice_id);
SELECT indexrelid::regclass, indkey FROM pg_index WHERE indrelid = 'orders'::regclass;
SELECT indexrelid::regclass, indkey FROM pg_index WHERE indrelid = 'orders'::regclass;
SELECT indexrelid::regclass, indkey FROM pg_index WHERE indrelid = 'order_items'::regclass;
SELECT indexrelid::regclass, indkey FROM pg_index WHERE indrelid = 'invoices'::regclass;
SELECT indexrelid::regclass, indkey FROM pg_index WHERE indrelid = 'payments'::regclass;
SELECT relrowsecurity FROM pg_class WHERE oid = 'customers'::regclass;
SELECT relrowsecurity FROM pg_class WHERE oid = 'orders'::regclass;
SELECT relrowsecurity FROM pg_class WHERE oid = 'products'::regclass;
SELECT count(*) FROM pg_policy;
SELECT count(*) FROM pg_policy WHERE polrelid = 'orders'::regclass;
SELECT count(*) FROM pg_proc WHERE proname = 'order_total';
SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE proname = 'touch_audit' AND nspname = 'public';
SELECT count(*) FROM pg_proc WHERE proname = 'region_of';
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'orders'::regclass AND tgname = 'orders_audit';
SELECT count(*) FROM pg_trigger WHERE tgrelid = 'invoices'::regclass AND tgname = 'invoices_audit';
SELECT count(*) FROM orders WHERE status NOT IN ('new', 'paid', 'shipped');
SQL
[ "$(grep -c '^    expect\.' "$tmp/pb.lua")" = 50 ] && [ "$(grep -c '^SELECT' "$tmp/checks.sql")" = 50 ] ||
  { echo "bench: the playbook and the SQL must hold 50 checks each" >&2; exit 1; }

createdb shop
"$MIGRUN" --db dbname=shop --quiet --yes "$tmp/pb.lua" >"$tmp/run.out" 2>&1 ||
  { echo "bench: the migration failed:" >&2; cat "$tmp/run.out" >&2; exit 1; }
# a check that passes, else the timing means nothing
"$MIGRUN" --db dbname=shop check "$tmp/pb.lua" >"$tmp/check.out" 2>&1 ||
  { echo "bench: migrun check failed:" >&2; cat "$tmp/check.out" >&2; exit 1; }
run_check() { "$MIGRUN" --db dbname=shop --quiet check "$tmp/pb.lua"; }
run_psql() { psql -X -q -v ON_ERROR_STOP=1 -d shop -f "$tmp/checks.sql"; }
ab "check, 50 expectations vs psql -f$sfx" 0.9 run_check run_psql
echo "$(load) at the end"
