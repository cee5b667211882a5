-- week1_cleanup: the production database as the Week 1 Wednesday runbook finds it.
--
--   Tables: 52 in public (43 kept + 9 unused: gamification, tech tree, partial features)
--   Schema conflicts: 3
--     agent_recommendations  the old branch's definition: no workspace_id, outcome_status,
--                            outcome_quality_score, no foreign keys
--     agent_trust_scores     no workspace_id, no foreign keys
--     competitors            org_id where the app expects workspace_id, no foreign keys
--   Foreign keys: 38 (36 between kept tables, 2 inside the unused quest tables)
--   RLS policies: 16 (15 on kept tables, 1 on notifications)
--
-- Core row counts the verification suite checks: campaigns 20, moves 80, agents 12.
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

-------------------------------------------------------------------------------------------
-- kept tables (43)

CREATE TABLE workspaces (
  id         uuid PRIMARY KEY,
  name       text NOT NULL,
  slug       text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT '2023-06-01 09:00:00+00'
);

CREATE TABLE users (
  id         uuid PRIMARY KEY,
  email      text NOT NULL UNIQUE,
  full_name  text,
  created_at timestamptz NOT NULL DEFAULT '2023-06-01 09:00:00+00'
);

CREATE TABLE workspace_members (
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role         text NOT NULL DEFAULT 'member',
  PRIMARY KEY (workspace_id, user_id)
);

-- the policies' helper: is the request's user a member of this workspace?
CREATE OR REPLACE FUNCTION public.is_workspace_member(ws uuid) RETURNS boolean
  LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
  AS $$ SELECT EXISTS (SELECT 1 FROM workspace_members m
                       WHERE m.workspace_id = ws AND m.user_id = auth.uid()) $$;

CREATE TABLE agents (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  name         text NOT NULL,
  kind         text NOT NULL DEFAULT 'assistant'
);

-- conflict 1: the old branch's agent_recommendations
CREATE TABLE agent_recommendations (
  id             bigserial PRIMARY KEY,
  agent_id       bigint NOT NULL,
  recommendation text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT '2024-01-02 10:00:00+00'
);

-- conflict 2: agent_trust_scores without workspace_id
CREATE TABLE agent_trust_scores (
  id          bigserial PRIMARY KEY,
  agent_id    bigint NOT NULL,
  score       numeric(4,3) NOT NULL,
  computed_at timestamptz NOT NULL DEFAULT '2024-01-02 10:00:00+00'
);

-- conflict 3: competitors as the other branch created it (org_id, no foreign keys)
CREATE TABLE competitors (
  id         bigserial PRIMARY KEY,
  org_id     uuid,
  name       text NOT NULL,
  website    text,
  created_by uuid
);

CREATE TABLE campaigns (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  owner_id     uuid REFERENCES users (id),
  name         text NOT NULL,
  status       text NOT NULL DEFAULT 'draft'
);

CREATE TABLE moves (
  id           bigserial PRIMARY KEY,
  campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  workspace_id uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
  title        text NOT NULL,
  status       text NOT NULL DEFAULT 'planned'
);

CREATE TABLE prompts (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  name         text NOT NULL,
  body         text NOT NULL
);

CREATE TABLE jtbd_library (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  job          text NOT NULL,
  outcome      text
);

CREATE TABLE personas (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  name         text NOT NULL,
  summary      text
);

CREATE TABLE icp_profiles (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  name         text NOT NULL,
  criteria     jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE products (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  name         text NOT NULL,
  description  text
);

CREATE TABLE content_assets (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  campaign_id  bigint REFERENCES campaigns (id) ON DELETE SET NULL,
  title        text NOT NULL,
  kind         text NOT NULL DEFAULT 'post'
);

CREATE TABLE content_versions (
  id       bigserial PRIMARY KEY,
  asset_id bigint NOT NULL REFERENCES content_assets (id) ON DELETE CASCADE,
  version  int NOT NULL,
  body     text
);

CREATE TABLE channels (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  name         text NOT NULL
);

CREATE TABLE campaign_channels (
  campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  channel_id  bigint NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
  PRIMARY KEY (campaign_id, channel_id)
);

CREATE TABLE audiences (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  name         text NOT NULL
);

CREATE TABLE segments (
  id          bigserial PRIMARY KEY,
  audience_id bigint NOT NULL REFERENCES audiences (id) ON DELETE CASCADE,
  name        text NOT NULL
);

CREATE TABLE segment_members (
  segment_id    bigint NOT NULL REFERENCES segments (id) ON DELETE CASCADE,
  contact_email text NOT NULL,
  PRIMARY KEY (segment_id, contact_email)
);

CREATE TABLE experiments (
  id          bigserial PRIMARY KEY,
  campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  hypothesis  text NOT NULL
);

CREATE TABLE experiment_variants (
  id            bigserial PRIMARY KEY,
  experiment_id bigint NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
  label         text NOT NULL
);

CREATE TABLE metrics_daily (
  campaign_id bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
  day         date NOT NULL,
  impressions int NOT NULL DEFAULT 0,
  clicks      int NOT NULL DEFAULT 0,
  PRIMARY KEY (campaign_id, day)
);

CREATE TABLE integrations (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  provider     text NOT NULL
);

CREATE TABLE integration_tokens (
  id             bigserial PRIMARY KEY,
  integration_id bigint NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
  token_hash     text NOT NULL
);

CREATE TABLE webhooks (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  url          text NOT NULL
);

CREATE TABLE webhook_deliveries (
  id          bigserial PRIMARY KEY,
  webhook_id  bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  status_code int
);

CREATE TABLE api_keys (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  key_hash     text NOT NULL
);

CREATE TABLE audit_log (
  id     bigserial PRIMARY KEY,
  actor  uuid,
  action text NOT NULL,
  at     timestamptz NOT NULL DEFAULT '2024-01-02 10:00:00+00'
);

CREATE TABLE workflows (
  id           bigserial PRIMARY KEY,
  workspace_id uuid NOT NULL REFERENCES workspaces (id),
  name         text NOT NULL
);

CREATE TABLE tasks (
  id          bigserial PRIMARY KEY,
  workflow_id bigint NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  title       text NOT NULL
);

CREATE TABLE workflow_runs (
  id          bigserial PRIMARY KEY,
  workflow_id bigint NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
  status      text NOT NULL
);

CREATE TABLE comments (
  id        bigserial PRIMARY KEY,
  author_id uuid NOT NULL REFERENCES users (id),
  body      text NOT NULL
);

CREATE TABLE attachments (
  id          bigserial PRIMARY KEY,
  owner_table text NOT NULL,
  owner_id    bigint NOT NULL,
  url         text NOT NULL
);

CREATE TABLE tags (
  id   bigserial PRIMARY KEY,
  name text NOT NULL UNIQUE
);

CREATE TABLE asset_tags (
  asset_id bigint NOT NULL REFERENCES content_assets (id) ON DELETE CASCADE,
  tag_id   bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  PRIMARY KEY (asset_id, tag_id)
);

CREATE TABLE feature_flags (
  key     text PRIMARY KEY,
  enabled boolean NOT NULL DEFAULT false
);

CREATE TABLE billing_accounts (
  id              bigserial PRIMARY KEY,
  stripe_customer text NOT NULL
);

CREATE TABLE invoices (
  id              bigserial PRIMARY KEY,
  billing_account bigint NOT NULL,
  amount_cents    int NOT NULL
);

CREATE TABLE subscriptions (
  id              bigserial PRIMARY KEY,
  billing_account bigint NOT NULL,
  plan            text NOT NULL
);

CREATE TABLE agent_runs (
  id       bigserial PRIMARY KEY,
  agent_id bigint NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
  status   text NOT NULL
);

CREATE TABLE agent_memory (
  id       bigserial PRIMARY KEY,
  agent_id bigint NOT NULL,
  memory   text NOT NULL
);

-------------------------------------------------------------------------------------------
-- the 9 unused tables migration 012 removes (012_rollback.sql re-creates exactly these)

CREATE TABLE quests (
  id           bigserial PRIMARY KEY,
  workspace_id uuid,
  title        text NOT NULL,
  xp           int NOT NULL DEFAULT 0
);

CREATE TABLE quest_moves (
  id       bigserial PRIMARY KEY,
  quest_id bigint NOT NULL REFERENCES quests (id) ON DELETE CASCADE,
  move_id  bigint,
  position int NOT NULL
);

CREATE TABLE quest_milestones (
  id       bigserial PRIMARY KEY,
  quest_id bigint NOT NULL REFERENCES quests (id) ON DELETE CASCADE,
  label    text NOT NULL,
  xp       int NOT NULL DEFAULT 0
);

CREATE TABLE capability_nodes (
  id   bigserial PRIMARY KEY,
  name text NOT NULL,
  tier int NOT NULL
);

CREATE TABLE maneuver_prerequisites (
  node_id          bigint NOT NULL,
  requires_node_id bigint NOT NULL,
  PRIMARY KEY (node_id, requires_node_id)
);

CREATE TABLE quick_wins (
  id           bigserial PRIMARY KEY,
  workspace_id uuid,
  title        text NOT NULL
);

CREATE TABLE cohort_relations (
  id       bigserial PRIMARY KEY,
  cohort_a text NOT NULL,
  cohort_b text NOT NULL,
  relation text NOT NULL
);

CREATE TABLE move_decisions (
  id       bigserial PRIMARY KEY,
  move_id  bigint NOT NULL,
  decision text NOT NULL
);

CREATE TABLE notifications (
  id      bigserial PRIMARY KEY,
  user_id uuid NOT NULL,
  body    text NOT NULL,
  read    boolean NOT NULL DEFAULT false
);

-------------------------------------------------------------------------------------------
-- row-level security: 16 policies

ALTER TABLE workspaces ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspaces_member_read ON workspaces FOR SELECT USING (is_workspace_member(id));
ALTER TABLE workspace_members ENABLE ROW LEVEL SECURITY;
CREATE POLICY workspace_members_read ON workspace_members FOR SELECT USING (is_workspace_member(workspace_id));
ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
CREATE POLICY agents_workspace ON agents USING (is_workspace_member(workspace_id));
ALTER TABLE campaigns ENABLE ROW LEVEL SECURITY;
CREATE POLICY campaigns_read ON campaigns FOR SELECT USING (is_workspace_member(workspace_id));
CREATE POLICY campaigns_write ON campaigns FOR UPDATE USING (owner_id = auth.uid());
ALTER TABLE moves ENABLE ROW LEVEL SECURITY;
CREATE POLICY moves_workspace ON moves USING (is_workspace_member(workspace_id));
ALTER TABLE prompts ENABLE ROW LEVEL SECURITY;
CREATE POLICY prompts_workspace ON prompts USING (is_workspace_member(workspace_id));
ALTER TABLE jtbd_library ENABLE ROW LEVEL SECURITY;
CREATE POLICY jtbd_library_workspace ON jtbd_library USING (is_workspace_member(workspace_id));
ALTER TABLE personas ENABLE ROW LEVEL SECURITY;
CREATE POLICY personas_workspace ON personas USING (is_workspace_member(workspace_id));
ALTER TABLE icp_profiles ENABLE ROW LEVEL SECURITY;
CREATE POLICY icp_profiles_workspace ON icp_profiles USING (is_workspace_member(workspace_id));
ALTER TABLE products ENABLE ROW LEVEL SECURITY;
CREATE POLICY products_workspace ON products USING (is_workspace_member(workspace_id));
ALTER TABLE content_assets ENABLE ROW LEVEL SECURITY;
CREATE POLICY content_assets_workspace ON content_assets USING (is_workspace_member(workspace_id));
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_keys_workspace ON api_keys USING (is_workspace_member(workspace_id));
ALTER TABLE integrations ENABLE ROW LEVEL SECURITY;
CREATE POLICY integrations_workspace ON integrations USING (is_workspace_member(workspace_id));
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY audit_log_own ON audit_log FOR SELECT USING (actor = auth.uid());
ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY notifications_own ON notifications USING (user_id = auth.uid());

-------------------------------------------------------------------------------------------
-- data

INSERT INTO workspaces (id, name, slug)
SELECT ('10000000-0000-4000-8000-00000000000' || w)::uuid, 'Workspace ' || w, 'ws-' || w
FROM generate_series(1, 4) AS w;

INSERT INTO users (id, email, full_name)
SELECT ('20000000-0000-4000-8000-0000000000' || lpad(u::text, 2, '0'))::uuid,
       'user' || u || '@example.com', 'User ' || u
FROM generate_series(1, 12) AS u;

-- every user in one workspace (3 per workspace), two of them in a second one: 14 memberships
INSERT INTO workspace_members (workspace_id, user_id, role)
SELECT ('10000000-0000-4000-8000-00000000000' || ((u - 1) / 3 + 1))::uuid,
       ('20000000-0000-4000-8000-0000000000' || lpad(u::text, 2, '0'))::uuid,
       CASE WHEN u % 3 = 1 THEN 'owner' ELSE 'member' END
FROM generate_series(1, 12) AS u;
INSERT INTO workspace_members (workspace_id, user_id) VALUES
  ('10000000-0000-4000-8000-000000000002', '20000000-0000-4000-8000-000000000001'),
  ('10000000-0000-4000-8000-000000000003', '20000000-0000-4000-8000-000000000004');

-- 12 agents, 3 per workspace (agent a belongs to workspace (a-1)/3+1)
INSERT INTO agents (workspace_id, name, kind)
SELECT ('10000000-0000-4000-8000-00000000000' || ((a - 1) / 3 + 1))::uuid, 'Agent ' || a,
       (ARRAY['assistant', 'researcher', 'writer'])[(a - 1) % 3 + 1]
FROM generate_series(1, 12) AS a;

-- 60 recommendations (5 per agent), 24 trust scores (2 per agent)
INSERT INTO agent_recommendations (agent_id, recommendation, created_at)
SELECT (r - 1) / 5 + 1, 'Recommendation ' || r, '2024-01-02 10:00:00+00'::timestamptz + r * interval '1 hour'
FROM generate_series(1, 60) AS r;
INSERT INTO agent_trust_scores (agent_id, score, computed_at)
SELECT (s - 1) / 2 + 1, round((0.5 + (s % 10) / 20.0)::numeric, 3),
       '2024-01-02 10:00:00+00'::timestamptz + s * interval '1 day'
FROM generate_series(1, 24) AS s;

-- 18 competitors across the 4 workspaces (org_id is the workspace), 3 created by nobody known
INSERT INTO competitors (org_id, name, website, created_by)
SELECT ('10000000-0000-4000-8000-00000000000' || (c % 4 + 1))::uuid, 'Competitor ' || c,
       'https://competitor' || c || '.example.com',
       CASE WHEN c % 6 = 0 THEN NULL
            ELSE ('20000000-0000-4000-8000-0000000000' || lpad(((c % 4) * 3 + 1)::text, 2, '0'))::uuid END
FROM generate_series(1, 18) AS c;

-- 20 campaigns (5 per workspace), 80 moves (4 per campaign)
INSERT INTO campaigns (workspace_id, owner_id, name, status)
SELECT ('10000000-0000-4000-8000-00000000000' || ((c - 1) / 5 + 1))::uuid,
       ('20000000-0000-4000-8000-0000000000' || lpad((((c - 1) / 5) * 3 + 1)::text, 2, '0'))::uuid,
       'Campaign ' || c, (ARRAY['draft', 'active', 'done'])[c % 3 + 1]
FROM generate_series(1, 20) AS c;
INSERT INTO moves (campaign_id, workspace_id, title, status)
SELECT (m - 1) / 4 + 1, ('10000000-0000-4000-8000-00000000000' || ((m - 1) / 20 + 1))::uuid,
       'Move ' || m, (ARRAY['planned', 'running', 'done'])[m % 3 + 1]
FROM generate_series(1, 80) AS m;

INSERT INTO prompts (workspace_id, name, body)
SELECT ('10000000-0000-4000-8000-00000000000' || (p % 4 + 1))::uuid, 'Prompt ' || p, 'Write about ' || p
FROM generate_series(1, 16) AS p;
INSERT INTO jtbd_library (workspace_id, job, outcome)
SELECT ('10000000-0000-4000-8000-00000000000' || (j % 4 + 1))::uuid, 'Job ' || j, 'Outcome ' || j
FROM generate_series(1, 24) AS j;
INSERT INTO personas (workspace_id, name, summary)
SELECT ('10000000-0000-4000-8000-00000000000' || (p % 4 + 1))::uuid, 'Persona ' || p, 'Summary ' || p
FROM generate_series(1, 12) AS p;
INSERT INTO icp_profiles (workspace_id, name, criteria)
SELECT ('10000000-0000-4000-8000-00000000000' || (i % 4 + 1))::uuid, 'ICP ' || i,
       jsonb_build_object('employees', 50 * i)
FROM generate_series(1, 8) AS i;
INSERT INTO products (workspace_id, name, description)
SELECT ('10000000-0000-4000-8000-00000000000' || (p % 4 + 1))::uuid, 'Product ' || p, 'Description ' || p
FROM generate_series(1, 10) AS p;
INSERT INTO content_assets (workspace_id, campaign_id, title)
SELECT ('10000000-0000-4000-8000-00000000000' || ((a - 1) % 20 / 5 + 1))::uuid, (a - 1) % 20 + 1, 'Asset ' || a
FROM generate_series(1, 30) AS a;
INSERT INTO content_versions (asset_id, version, body)
SELECT (v - 1) % 30 + 1, (v - 1) / 30 + 1, 'Body ' || v FROM generate_series(1, 45) AS v;
INSERT INTO channels (workspace_id, name)
SELECT ('10000000-0000-4000-8000-00000000000' || (c % 4 + 1))::uuid, 'Channel ' || c
FROM generate_series(1, 8) AS c;
INSERT INTO campaign_channels (campaign_id, channel_id)
SELECT c, ((c - 1) / 5) * 2 + 1 + (c % 2) FROM generate_series(1, 20) AS c;
INSERT INTO audiences (workspace_id, name)
SELECT ('10000000-0000-4000-8000-00000000000' || (a % 4 + 1))::uuid, 'Audience ' || a
FROM generate_series(1, 6) AS a;
INSERT INTO segments (audience_id, name) SELECT (s - 1) % 6 + 1, 'Segment ' || s FROM generate_series(1, 12) AS s;
INSERT INTO segment_members (segment_id, contact_email)
SELECT (m - 1) % 12 + 1, 'contact' || m || '@example.org' FROM generate_series(1, 40) AS m;
INSERT INTO experiments (campaign_id, hypothesis) SELECT e, 'Hypothesis ' || e FROM generate_series(1, 10) AS e;
INSERT INTO experiment_variants (experiment_id, label)
SELECT (v - 1) / 2 + 1, (ARRAY['A', 'B'])[(v - 1) % 2 + 1] FROM generate_series(1, 20) AS v;
INSERT INTO metrics_daily (campaign_id, day, impressions, clicks)
SELECT (d - 1) % 20 + 1, date '2024-01-01' + (d - 1) / 20, 100 * d, d FROM generate_series(1, 60) AS d;
INSERT INTO integrations (workspace_id, provider)
SELECT ('10000000-0000-4000-8000-00000000000' || i)::uuid, (ARRAY['hubspot', 'slack', 'linkedin', 'gmail'])[i]
FROM generate_series(1, 4) AS i;
INSERT INTO integration_tokens (integration_id, token_hash) SELECT i, md5('token' || i) FROM generate_series(1, 4) AS i;
INSERT INTO webhooks (workspace_id, url)
SELECT ('10000000-0000-4000-8000-00000000000' || w)::uuid, 'https://hooks.example.com/' || w FROM generate_series(1, 4) AS w;
INSERT INTO webhook_deliveries (webhook_id, status_code) SELECT (d - 1) % 4 + 1, 200 FROM generate_series(1, 12) AS d;
INSERT INTO api_keys (workspace_id, key_hash)
SELECT ('10000000-0000-4000-8000-00000000000' || k)::uuid, md5('key' || k) FROM generate_series(1, 4) AS k;
INSERT INTO audit_log (actor, action, at)
SELECT ('20000000-0000-4000-8000-0000000000' || lpad(((a - 1) % 12 + 1)::text, 2, '0'))::uuid, 'login',
       '2024-01-02 10:00:00+00'::timestamptz + a * interval '1 minute'
FROM generate_series(1, 50) AS a;
INSERT INTO workflows (workspace_id, name)
SELECT ('10000000-0000-4000-8000-00000000000' || (w % 4 + 1))::uuid, 'Workflow ' || w FROM generate_series(1, 8) AS w;
INSERT INTO tasks (workflow_id, title) SELECT (t - 1) % 8 + 1, 'Task ' || t FROM generate_series(1, 32) AS t;
INSERT INTO workflow_runs (workflow_id, status) SELECT (r - 1) % 8 + 1, 'ok' FROM generate_series(1, 16) AS r;
INSERT INTO comments (author_id, body)
SELECT ('20000000-0000-4000-8000-0000000000' || lpad(((c - 1) % 12 + 1)::text, 2, '0'))::uuid, 'Comment ' || c
FROM generate_series(1, 25) AS c;
INSERT INTO attachments (owner_table, owner_id, url)
SELECT 'content_assets', a, 'https://cdn.example.com/' || a FROM generate_series(1, 10) AS a;
INSERT INTO tags (name) SELECT 'tag-' || t FROM generate_series(1, 6) AS t;
INSERT INTO asset_tags (asset_id, tag_id) SELECT a, (a - 1) % 6 + 1 FROM generate_series(1, 30) AS a;
INSERT INTO feature_flags (key, enabled) VALUES ('kb_v2', false), ('agents', true), ('quests', false);
INSERT INTO billing_accounts (stripe_customer) SELECT 'cus_' || b FROM generate_series(1, 4) AS b;
INSERT INTO invoices (billing_account, amount_cents) SELECT (i - 1) % 4 + 1, 4900 FROM generate_series(1, 12) AS i;
INSERT INTO subscriptions (billing_account, plan) SELECT s, 'pro' FROM generate_series(1, 4) AS s;
INSERT INTO agent_runs (agent_id, status) SELECT (r - 1) % 12 + 1, 'done' FROM generate_series(1, 36) AS r;
INSERT INTO agent_memory (agent_id, memory) SELECT (m - 1) % 12 + 1, 'Memory ' || m FROM generate_series(1, 24) AS m;

-- the unused features still hold some rows (nothing reads them; they go with the tables)
INSERT INTO quests (workspace_id, title, xp)
SELECT ('10000000-0000-4000-8000-00000000000' || (q % 4 + 1))::uuid, 'Quest ' || q, 100 * q
FROM generate_series(1, 6) AS q;
INSERT INTO quest_moves (quest_id, move_id, position)
SELECT (m - 1) % 6 + 1, m, (m - 1) / 6 + 1 FROM generate_series(1, 15) AS m;
INSERT INTO quest_milestones (quest_id, label, xp)
SELECT (m - 1) % 6 + 1, 'Milestone ' || m, 10 * m FROM generate_series(1, 12) AS m;
INSERT INTO capability_nodes (name, tier) SELECT 'Node ' || n, (n - 1) / 4 + 1 FROM generate_series(1, 10) AS n;
INSERT INTO maneuver_prerequisites (node_id, requires_node_id) SELECT n, n - 1 FROM generate_series(2, 10) AS n;
INSERT INTO quick_wins (workspace_id, title)
SELECT ('10000000-0000-4000-8000-00000000000' || (w % 4 + 1))::uuid, 'Quick win ' || w FROM generate_series(1, 7) AS w;
INSERT INTO cohort_relations (cohort_a, cohort_b, relation) VALUES
  ('early', 'late', 'precedes'), ('smb', 'mid', 'upsell'), ('mid', 'ent', 'upsell'), ('trial', 'paid', 'converts');
INSERT INTO move_decisions (move_id, decision)
SELECT d * 4, (ARRAY['go', 'hold', 'stop'])[d % 3 + 1] FROM generate_series(1, 20) AS d;
INSERT INTO notifications (user_id, body, read)
SELECT ('20000000-0000-4000-8000-0000000000' || lpad(((n - 1) % 12 + 1)::text, 2, '0'))::uuid,
       'Notification ' || n, n % 2 = 0
FROM generate_series(1, 30) AS n;
