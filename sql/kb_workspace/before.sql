-- kb_workspace: the knowledge base before the workspace-scoped migration (WARP package).
-- The KB is global: entries carry their creator (created_by, no foreign key: users get
-- deleted) but no workspace, and one permissive policy lets any signed-in user read every
-- entry of every workspace: the leak the migration closes.
--
--   workspaces 3 (ws-a Acme, ws-b Globex, ws-c Initech), users 5, memberships 5
--     user 1 (Alice) ws-a; user 2 (Bob) ws-b; user 3 (Carol) ws-c;
--     user 4 (Dave) ws-a since 2023-02-01 and ws-b since 2023-05-01 (first workspace: ws-a);
--     user 5 (Erin) in no workspace
--   knowledge_base_entries 46
--     Alice 12 (2 of them marked shared), Bob 10, Carol 8, Dave 6   -> 34 to backfill:
--                                                                     ws-a 16, ws-b 10, ws-c 8
--     6 system entries (no creator)  + Alice's 2 shared              -> 8 shared, stay NULL
--     Erin 2 (no workspace) + 2 by a deleted user                    -> 4 orphans
--   legacy tables (import 05): icp 5, products 8, competitors 6, personas 7 = 26 rows
--     ws-a 10, ws-b 9, ws-c 7
--   foreign keys 2, RLS policies 1, tables 8
-- Plain SQL (loaded by migrun's script runner): no psql meta-commands, no COPY FROM stdin.

-- Supabase's auth.uid(): the user id of the request's JWT (PostgREST sets the claim)
-- Query statistics, as production has them (the playbook's watch compares query times with
-- them); the server must preload the library (a --sandbox cluster does)
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements WITH SCHEMA extensions;

CREATE SCHEMA IF NOT EXISTS auth;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid
  LANGUAGE sql STABLE
  AS $$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid $$;

CREATE TABLE workspaces (
  id         uuid PRIMARY KEY,
  slug       text NOT NULL UNIQUE,
  name       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT '2023-01-01 09:00:00+00'
);

CREATE TABLE users (
  id         uuid PRIMARY KEY,
  email      text NOT NULL UNIQUE,
  full_name  text NOT NULL
);

CREATE TABLE workspace_members (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role         text NOT NULL DEFAULT 'member',
  joined_at    timestamptz NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
);

CREATE TABLE knowledge_base_entries (
  id         bigserial PRIMARY KEY,
  title      text NOT NULL,
  content    text NOT NULL,
  category   text,
  created_by uuid,
  is_shared  boolean NOT NULL DEFAULT false,
  metadata   jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT '2023-09-01 09:00:00+00'
);

ALTER TABLE knowledge_base_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY kb_entries_authenticated_read ON knowledge_base_entries FOR SELECT
  USING (auth.uid() IS NOT NULL);

-- the legacy tables the optional import (05) reads: workspace-owned, no foreign keys
CREATE TABLE legacy_icp_data (
  id           serial PRIMARY KEY,
  workspace_id uuid NOT NULL,
  segment      text NOT NULL,
  criteria     text NOT NULL
);

CREATE TABLE legacy_products (
  id           serial PRIMARY KEY,
  workspace_id uuid NOT NULL,
  name         text NOT NULL,
  description  text
);

CREATE TABLE legacy_competitors (
  id           serial PRIMARY KEY,
  workspace_id uuid NOT NULL,
  name         text NOT NULL,
  analysis     text
);

CREATE TABLE legacy_personas (
  id           serial PRIMARY KEY,
  workspace_id uuid NOT NULL,
  name         text NOT NULL,
  profile      text
);

-------------------------------------------------------------------------------------------
-- data

INSERT INTO workspaces (id, slug, name) VALUES
  ('a0000000-0000-4000-8000-00000000000a', 'ws-a', 'Acme'),
  ('a0000000-0000-4000-8000-00000000000b', 'ws-b', 'Globex'),
  ('a0000000-0000-4000-8000-00000000000c', 'ws-c', 'Initech');

INSERT INTO users (id, email, full_name) VALUES
  ('b0000000-0000-4000-8000-000000000001', 'alice@acme.example', 'Alice'),
  ('b0000000-0000-4000-8000-000000000002', 'bob@globex.example', 'Bob'),
  ('b0000000-0000-4000-8000-000000000003', 'carol@initech.example', 'Carol'),
  ('b0000000-0000-4000-8000-000000000004', 'dave@acme.example', 'Dave'),
  ('b0000000-0000-4000-8000-000000000005', 'erin@example.com', 'Erin');

INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES
  ('a0000000-0000-4000-8000-00000000000a', 'b0000000-0000-4000-8000-000000000001', 'owner', '2023-01-10 09:00:00+00'),
  ('a0000000-0000-4000-8000-00000000000b', 'b0000000-0000-4000-8000-000000000002', 'owner', '2023-01-12 09:00:00+00'),
  ('a0000000-0000-4000-8000-00000000000c', 'b0000000-0000-4000-8000-000000000003', 'owner', '2023-01-15 09:00:00+00'),
  ('a0000000-0000-4000-8000-00000000000a', 'b0000000-0000-4000-8000-000000000004', 'member', '2023-02-01 09:00:00+00'),
  ('a0000000-0000-4000-8000-00000000000b', 'b0000000-0000-4000-8000-000000000004', 'admin', '2023-05-01 09:00:00+00');

-- user entries: (creator, how many, how many of them shared); categories cycle through the
-- nine section slugs, every tenth entry has none (it will land in General)
INSERT INTO knowledge_base_entries (title, content, category, created_by, is_shared, created_at)
SELECT format('%s note %s', u.name, i), format('Knowledge written by %s (%s)', u.name, i),
       (ARRAY['icp', 'products', 'competitors', 'personas', 'value-props', 'use-cases',
              'objections', 'resources', 'general', NULL])[(u.k + i) % 10 + 1],
       u.id, i <= u.shared,
       '2023-09-01 09:00:00+00'::timestamptz + (u.k * 100 + i) * interval '1 hour'
FROM (VALUES
        (1, 'Alice', 'b0000000-0000-4000-8000-000000000001'::uuid, 12, 2),
        (2, 'Bob',   'b0000000-0000-4000-8000-000000000002'::uuid, 10, 0),
        (3, 'Carol', 'b0000000-0000-4000-8000-000000000003'::uuid,  8, 0),
        (4, 'Dave',  'b0000000-0000-4000-8000-000000000004'::uuid,  6, 0),
        (5, 'Erin',  'b0000000-0000-4000-8000-000000000005'::uuid,  2, 0),
        (6, 'Gone',  'b0000000-0000-4000-8000-0000000000ff'::uuid,  2, 0)
     ) AS u (k, name, id, n, shared),
     generate_series(1, u.n) AS i;

-- system content: no creator, written before sharing existed (is_shared still false)
INSERT INTO knowledge_base_entries (title, content, category, created_by, created_at)
SELECT 'Template ' || i, 'Starter content ' || i,
       (ARRAY['general', 'resources', 'objections'])[i % 3 + 1], NULL,
       '2023-08-01 09:00:00+00'::timestamptz + i * interval '1 day'
FROM generate_series(1, 6) AS i;

INSERT INTO legacy_icp_data (workspace_id, segment, criteria)
SELECT w.id, format('Segment %s-%s', w.slug, i), format('Companies of %s+ employees', 50 * i)
FROM (VALUES ('a0000000-0000-4000-8000-00000000000a'::uuid, 'a', 2),
             ('a0000000-0000-4000-8000-00000000000b'::uuid, 'b', 2),
             ('a0000000-0000-4000-8000-00000000000c'::uuid, 'c', 1)) AS w (id, slug, n),
     generate_series(1, w.n) AS i;
INSERT INTO legacy_products (workspace_id, name, description)
SELECT w.id, format('Product %s-%s', w.slug, i), 'What it does ' || i
FROM (VALUES ('a0000000-0000-4000-8000-00000000000a'::uuid, 'a', 3),
             ('a0000000-0000-4000-8000-00000000000b'::uuid, 'b', 3),
             ('a0000000-0000-4000-8000-00000000000c'::uuid, 'c', 2)) AS w (id, slug, n),
     generate_series(1, w.n) AS i;
INSERT INTO legacy_competitors (workspace_id, name, analysis)
SELECT w.id, format('Rival %s-%s', w.slug, i), 'Strengths and weaknesses ' || i
FROM (VALUES ('a0000000-0000-4000-8000-00000000000a'::uuid, 'a', 2),
             ('a0000000-0000-4000-8000-00000000000b'::uuid, 'b', 2),
             ('a0000000-0000-4000-8000-00000000000c'::uuid, 'c', 2)) AS w (id, slug, n),
     generate_series(1, w.n) AS i;
INSERT INTO legacy_personas (workspace_id, name, profile)
SELECT w.id, format('Persona %s-%s', w.slug, i), 'Goals and pains ' || i
FROM (VALUES ('a0000000-0000-4000-8000-00000000000a'::uuid, 'a', 3),
             ('a0000000-0000-4000-8000-00000000000b'::uuid, 'b', 2),
             ('a0000000-0000-4000-8000-00000000000c'::uuid, 'c', 2)) AS w (id, slug, n),
     generate_series(1, w.n) AS i;
