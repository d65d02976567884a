-- Batches that never arrived, per sensor: runs of missing seq numbers between two stored batches.
-- A gap closes by itself when a late batch arrives (the view is computed, not maintained).
CREATE OR REPLACE VIEW sequence_gap AS
SELECT site, sensor, seq + 1 AS first_missing, next_seq - 1 AS last_missing, next_seq - seq - 1 AS missing,
       received AS noticed_after
FROM (
    SELECT site, sensor, seq, received, lead(seq) OVER (PARTITION BY site, sensor ORDER BY seq) AS next_seq
    FROM ingest_batch
) AS s
WHERE next_seq > seq + 1;
