-- Migration 1 (runbook script migration_1_strategic_priorities.py, 5 min): seed the 7
-- Medical Affairs strategic priorities SP01-SP07, then link the 105 Medical Affairs JTBDs
-- of jtbd_library to them. A JTBD's priority is the SPnn in its code (MA-SP03-011 -> SP03).
-- Expected: 7 priorities; 105 JTBDs linked (17, 19, 18, 14, 15, 8, 14); the 266 Digital
-- Health JTBDs stay unlinked. Idempotent: a second run inserts and changes nothing.

INSERT INTO strategic_priorities (code, name, description, display_order)
VALUES
  ('SP01', 'Scientific Communication & Publications',
   'Plan and deliver accurate, timely scientific communication and publications.', 1),
  ('SP02', 'Medical Information & Inquiry Management',
   'Answer medical inquiries completely, consistently and within SLA.', 2),
  ('SP03', 'KOL & Scientific Stakeholder Engagement',
   'Build and document scientific exchange with external experts.', 3),
  ('SP04', 'Evidence Generation & Real-World Data',
   'Close evidence gaps with studies and real-world data.', 4),
  ('SP05', 'Medical Education & Field Medical Excellence',
   'Train, certify and coach the field medical team.', 5),
  ('SP06', 'Medical Governance & Compliance',
   'Keep medical activities reviewed, documented and compliant.', 6),
  ('SP07', 'Digital & Data-Driven Medical Affairs',
   'Use data, analytics and digital channels across Medical Affairs.', 7)
ON CONFLICT (code) DO NOTHING;

-- the link; only Medical Affairs JTBDs, only where it is not already set this way
UPDATE jtbd_library AS j
SET strategic_priority_id = sp.id
FROM strategic_priorities AS sp
WHERE j.function_area = 'Medical Affairs'
  AND sp.code = split_part(j.jtbd_code, '-', 2)
  AND j.strategic_priority_id IS DISTINCT FROM sp.id;
