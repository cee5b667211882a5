-- lua_step's "before" state: 25,000 accounts whose emails were stored as typed (mixed
-- case, stray spaces). Every 10th email has upper case, every 7th surrounding spaces.
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  email text NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO accounts (id, email, created_at)
SELECT g,
       CASE WHEN g % 7 = 0 THEN '  ' ELSE '' END
       || CASE WHEN g % 10 = 0 THEN 'User' || g || '@Example.COM' ELSE 'user' || g || '@example.com' END
       || CASE WHEN g % 7 = 0 THEN ' ' ELSE '' END,
       timestamptz '2024-01-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 25000) AS g;
