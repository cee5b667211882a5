-- medical_affairs: the "before" state of the runbook "Complete Database Migration Plan"
-- (2025-11-10). The application database after the schema discovery (DATABASE_SCHEMA.json):
--
--   protected, 5 tables, 4,482 records          migration targets (exist, empty)
--     prompts        3,570                        strategic_priorities   0 -> 7
--     jtbd_library     371 (105 MA + 266 DH)      tools                  0 -> 150
--     workflows        141                        tasks                  0 -> 343
--     agents           190                      (workflows 141 -> 368 is the fourth target)
--     personas         210
--
--   legacy digital-health sources: dh_tool 150, dh_workflow 116, dh_task 343, with
--   dh_use_case 29 and dh_domain 6 (the links dh_workflow keeps)
--
-- 13 tables, 10 foreign keys. The 105 Medical Affairs JTBDs carry their strategic priority
-- in their code (MA-SP01-001 ... MA-SP07-014): 17, 19, 18, 14, 15, 8, 14 per priority, none
-- linked yet. Every id is a uuid derived from a fixed text, so two loads are identical.

-- protected: personas, agents, prompts -------------------------------------------------------
CREATE TABLE personas (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL,
  description text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
  id uuid PRIMARY KEY,
  name text NOT NULL UNIQUE,
  persona_id uuid REFERENCES personas (id),
  model text NOT NULL,
  system_prompt text,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE prompts (
  id uuid PRIMARY KEY,
  agent_id uuid NOT NULL REFERENCES agents (id),
  title text NOT NULL,
  body text NOT NULL,
  version int NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- the migration targets that exist already, empty ------------------------------------------
CREATE TABLE strategic_priorities (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  code varchar(8) NOT NULL UNIQUE,
  name text NOT NULL,
  description text,
  display_order int NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jtbd_library (
  id uuid PRIMARY KEY,
  jtbd_code varchar(32) NOT NULL UNIQUE,
  function_area text NOT NULL CHECK (function_area IN ('Medical Affairs', 'Digital Health')),
  title text NOT NULL,
  job_statement text NOT NULL,
  strategic_priority_id uuid REFERENCES strategic_priorities (id),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workflows (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  description text,
  definition jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tools (
  id uuid PRIMARY KEY,
  name text NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
  id uuid PRIMARY KEY,
  workflow_id uuid NOT NULL REFERENCES workflows (id),
  tool_id uuid REFERENCES tools (id),
  name text NOT NULL,
  position int NOT NULL,
  metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_workflow_id_idx ON tasks (workflow_id);

-- legacy digital-health sources ----------------------------------------------------------------
CREATE TABLE dh_domain (
  id uuid PRIMARY KEY,
  code varchar(16) NOT NULL UNIQUE,
  name text NOT NULL
);

CREATE TABLE dh_use_case (
  id uuid PRIMARY KEY,
  code varchar(16) NOT NULL UNIQUE,
  domain_id uuid NOT NULL REFERENCES dh_domain (id),
  name text NOT NULL
);

CREATE TABLE dh_tool (
  id uuid PRIMARY KEY,
  code varchar(16) NOT NULL UNIQUE,
  name text NOT NULL,
  tool_type text NOT NULL,
  vendor text,
  category text,
  url text,
  is_active boolean NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL
);

CREATE TABLE dh_workflow (
  id uuid PRIMARY KEY,
  code varchar(16) NOT NULL UNIQUE,
  name text NOT NULL,
  description text,
  use_case_id uuid NOT NULL REFERENCES dh_use_case (id),
  domain_id uuid NOT NULL REFERENCES dh_domain (id),
  complexity text NOT NULL,
  status text NOT NULL,
  version int NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE TABLE dh_task (
  id uuid PRIMARY KEY,
  code varchar(16) NOT NULL UNIQUE,
  workflow_id uuid NOT NULL REFERENCES dh_workflow (id),
  tool_id uuid REFERENCES dh_tool (id),
  name text NOT NULL,
  position int NOT NULL,
  task_type text NOT NULL,
  estimated_minutes int,
  created_at timestamptz NOT NULL
);

-- data ------------------------------------------------------------------------------------------
INSERT INTO personas (id, name, role, description, created_at)
SELECT md5('personas/' || g)::uuid,
       format('Persona %s', g),
       (ARRAY['Medical Science Liaison', 'Medical Director', 'Medical Information Specialist',
              'HEOR Lead', 'Publications Manager', 'Digital Health Product Owner'])[1 + g % 6],
       format('Persona %s of the %s segment', g, (ARRAY['pharma', 'payer', 'provider'])[1 + g % 3]),
       timestamptz '2025-01-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 210) AS g;

INSERT INTO agents (id, name, persona_id, model, system_prompt, created_at)
SELECT md5('agents/' || g)::uuid,
       format('agent-%s', lpad(g::text, 3, '0')),
       CASE WHEN g % 10 = 0 THEN NULL ELSE md5('personas/' || g)::uuid END,
       (ARRAY['gpt-4o', 'claude-3-5-sonnet', 'gpt-4o-mini'])[1 + g % 3],
       format('You are agent %s.', g),
       timestamptz '2025-02-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 190) AS g;

INSERT INTO prompts (id, agent_id, title, body, version, created_at)
SELECT md5('prompts/' || g)::uuid,
       md5('agents/' || (1 + g % 190))::uuid,
       format('Prompt %s', g),
       format('Given the context, perform task %s and cite the evidence used.', g),
       1 + g % 4,
       timestamptz '2025-03-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 3570) AS g;

-- jtbd_library: 105 Medical Affairs JTBDs (per priority 17, 19, 18, 14, 15, 8, 14) + 266 DH
INSERT INTO jtbd_library (id, jtbd_code, function_area, title, job_statement, created_at)
SELECT md5('jtbd/' || code)::uuid, code, 'Medical Affairs',
       format('%s job %s', sp.theme, n),
       format('When working on %s, I want to complete job %s so that the medical strategy moves forward.',
              lower(sp.theme), n),
       timestamptz '2025-04-01 00:00:00+00' + sp.ord * interval '1 day' + n * interval '1 minute'
FROM (VALUES (1, 'SP01', 17, 'Scientific Communication'),
             (2, 'SP02', 19, 'Medical Information'),
             (3, 'SP03', 18, 'Stakeholder Engagement'),
             (4, 'SP04', 14, 'Evidence Generation'),
             (5, 'SP05', 15, 'Medical Education'),
             (6, 'SP06', 8, 'Medical Governance'),
             (7, 'SP07', 14, 'Digital Medical Affairs')) AS sp (ord, code_sp, jobs, theme),
     generate_series(1, sp.jobs) AS n,
     LATERAL (SELECT format('MA-%s-%s', sp.code_sp, lpad(n::text, 3, '0')) AS code) AS c;

INSERT INTO jtbd_library (id, jtbd_code, function_area, title, job_statement, created_at)
SELECT md5('jtbd/DH-' || g)::uuid, format('DH-%s', lpad(g::text, 4, '0')), 'Digital Health',
       format('Digital health job %s', g),
       format('When running digital health programme %s, I want reliable data so that I can decide.', g),
       timestamptz '2025-05-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 266) AS g;

-- workflows: the 141 existing ones, built in the application (no "source" in definition)
INSERT INTO workflows (id, name, description, definition, created_at, updated_at)
SELECT md5('workflows/' || g)::uuid,
       format('%s workflow %s', (ARRAY['Intake', 'Review', 'Approval', 'Escalation', 'Reporting'])[1 + g % 5], g),
       format('Application workflow %s', g),
       jsonb_build_object('version', 1 + g % 3,
                          'steps', jsonb_build_array('intake', 'review', 'approve'),
                          'owner', (ARRAY['medical', 'digital', 'commercial'])[1 + g % 3]),
       timestamptz '2025-06-01 00:00:00+00' + g * interval '1 hour',
       timestamptz '2025-07-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 141) AS g;

INSERT INTO dh_domain (id, code, name)
SELECT md5('dh_domain/' || g)::uuid, format('DOM-%s', g),
       (ARRAY['Remote Monitoring', 'Digital Therapeutics', 'Clinical Decision Support',
              'Patient Engagement', 'Real-World Data', 'Care Coordination'])[g]
FROM generate_series(1, 6) AS g;

INSERT INTO dh_use_case (id, code, domain_id, name)
SELECT md5('dh_use_case/' || g)::uuid, format('UC-%s', lpad(g::text, 2, '0')),
       md5('dh_domain/' || (1 + g % 6))::uuid, format('Use case %s', g)
FROM generate_series(1, 29) AS g;

INSERT INTO dh_tool (id, code, name, tool_type, vendor, category, url, is_active, created_at)
SELECT md5('dh_tool/' || g)::uuid, format('DHT-%s', lpad(g::text, 3, '0')),
       format('%s tool %s', (ARRAY['EHR', 'Analytics', 'Survey', 'Literature', 'Messaging'])[1 + g % 5], g),
       (ARRAY['software', 'api', 'database', 'ai_model', 'device'])[1 + g % 5],
       (ARRAY['Acme Health', 'MedData', 'Veeva', 'IQVIA', NULL])[1 + g % 5],
       (ARRAY['data', 'communication', 'research'])[1 + g % 3],
       format('https://tools.example.com/dht-%s', g),
       g % 17 <> 0,
       timestamptz '2024-09-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 150) AS g;

INSERT INTO dh_workflow (id, code, name, description, use_case_id, domain_id, complexity, status,
                         version, created_at)
SELECT md5('dh_workflow/' || g)::uuid, format('DHW-%s', lpad(g::text, 3, '0')),
       format('Digital health workflow %s', g),
       format('Legacy workflow %s from the digital-health module', g),
       md5('dh_use_case/' || (1 + g % 29))::uuid,
       md5('dh_domain/' || (1 + (1 + g % 29) % 6))::uuid,
       (ARRAY['low', 'medium', 'high'])[1 + g % 3],
       CASE WHEN g % 9 = 0 THEN 'draft' ELSE 'active' END,
       1 + g % 4,
       timestamptz '2024-10-01 00:00:00+00' + g * interval '1 hour'
FROM generate_series(1, 116) AS g;

-- dh_task: 343 tasks over all 116 workflows (111 with 3 tasks, 5 with 2)
INSERT INTO dh_task (id, code, workflow_id, tool_id, name, position, task_type, estimated_minutes,
                     created_at)
SELECT md5('dh_task/' || g)::uuid, format('DHK-%s', lpad(g::text, 3, '0')),
       md5('dh_workflow/' || wf)::uuid,
       CASE WHEN g % 10 = 0 THEN NULL ELSE md5('dh_tool/' || (1 + (g * 7) % 150))::uuid END,
       format('Task %s of workflow %s', pos, wf), pos,
       (ARRAY['manual', 'automated', 'review'])[1 + g % 3],
       CASE WHEN g % 4 = 0 THEN NULL ELSE 5 * (1 + g % 12) END,
       timestamptz '2024-11-01 00:00:00+00' + g * interval '1 minute'
FROM generate_series(1, 343) AS g,
     LATERAL (SELECT CASE WHEN g <= 333 THEN (g - 1) / 3 + 1 ELSE 112 + (g - 334) / 2 END AS wf,
                     CASE WHEN g <= 333 THEN (g - 1) % 3 + 1 ELSE (g - 334) % 2 + 1 END AS pos) AS p;
