-- 012_rollback.sql: the runbook's rollback option 3, "re-create removed tables": the 9
-- tables exactly as their creation migrations made them (the same definitions as in
-- before.sql), their 2 foreign keys and notifications' RLS policy. The playbook then puts
-- their rows back from the COPY snapshot it took just before the drop, and resets their
-- sequences. Idempotent (IF NOT EXISTS).

CREATE TABLE IF NOT EXISTS quests (
  id           bigserial PRIMARY KEY,
  workspace_id uuid,
  title        text NOT NULL,
  xp           int NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS quest_moves (
  id       bigserial PRIMARY KEY,
  quest_id bigint NOT NULL REFERENCES quests (id) ON DELETE CASCADE,
  move_id  bigint,
  position int NOT NULL
);

CREATE TABLE IF NOT EXISTS quest_milestones (
  id       bigserial PRIMARY KEY,
  quest_id bigint NOT NULL REFERENCES quests (id) ON DELETE CASCADE,
  label    text NOT NULL,
  xp       int NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS capability_nodes (
  id   bigserial PRIMARY KEY,
  name text NOT NULL,
  tier int NOT NULL
);

CREATE TABLE IF NOT EXISTS maneuver_prerequisites (
  node_id          bigint NOT NULL,
  requires_node_id bigint NOT NULL,
  PRIMARY KEY (node_id, requires_node_id)
);

CREATE TABLE IF NOT EXISTS quick_wins (
  id           bigserial PRIMARY KEY,
  workspace_id uuid,
  title        text NOT NULL
);

CREATE TABLE IF NOT EXISTS cohort_relations (
  id       bigserial PRIMARY KEY,
  cohort_a text NOT NULL,
  cohort_b text NOT NULL,
  relation text NOT NULL
);

CREATE TABLE IF NOT EXISTS move_decisions (
  id       bigserial PRIMARY KEY,
  move_id  bigint NOT NULL,
  decision text NOT NULL
);

CREATE TABLE IF NOT EXISTS notifications (
  id      bigserial PRIMARY KEY,
  user_id uuid NOT NULL,
  body    text NOT NULL,
  read    boolean NOT NULL DEFAULT false
);

ALTER TABLE notifications ENABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS notifications_own ON notifications;
CREATE POLICY notifications_own ON notifications USING (user_id = auth.uid());
