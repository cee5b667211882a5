-- 012_remove_unused_features.sql: drop the 9 unused tables (gamification, tech tree,
-- partial features): 52 -> 43 tables. Their 2 foreign keys (quest_moves and
-- quest_milestones -> quests) and notifications' policy go with them.
-- No CASCADE on purpose: if anything that stays (a view, a foreign key of a kept table)
-- still depended on one of them, the drop must fail rather than take it along.
-- Idempotent (IF EXISTS). Staging: ~156 ms.

-- migrun:allow ban-drop-table the runbook removes these 9 unused tables on purpose: the preflight proves nothing reads them, protect keeps the rest, and the rollback restores them from the snapshot
DROP TABLE IF EXISTS
  quests, quest_moves, quest_milestones,
  capability_nodes, maneuver_prerequisites,
  quick_wins, cohort_relations, move_decisions, notifications;
