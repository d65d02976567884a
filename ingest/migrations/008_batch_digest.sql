-- A batch's key becomes (site, sensor, seq, epoch): `epoch` names one run of a sensor's sequence (an edge outbox
-- file; '' for batches without one), so a node whose outbox was lost or replaced starts a new sequence at 0 instead
-- of colliding with its old numbers. `digest` (blake2b-128 of the batch's canonical encoding) tells a redelivery
-- (same digest: a silent duplicate) from a different batch under a used key (a `seq_conflict` dead letter). Rows
-- stored before this migration have no digest: they compare as unknown and a batch under their key is a duplicate.
-- seq stays before epoch in the key so that "newest batch of a sensor" (highest seq) is still an index scan.
ALTER TABLE ingest_batch ADD COLUMN IF NOT EXISTS epoch text NOT NULL DEFAULT '';
ALTER TABLE ingest_batch ADD COLUMN IF NOT EXISTS digest bytea;
ALTER TABLE ingest_batch DROP CONSTRAINT IF EXISTS ingest_batch_pkey;
ALTER TABLE ingest_batch ADD PRIMARY KEY (site, sensor, seq, epoch);

-- Gaps are counted within one epoch: a new epoch starting at 0 is a new sequence, not a gap or a rewind.
CREATE OR REPLACE VIEW sequence_gap AS
SELECT site, sensor, seq + 1 AS first_missing, next_seq - 1 AS last_missing, next_seq - seq - 1 AS missing,
       received AS noticed_after, epoch
FROM (
    SELECT site, sensor, epoch, seq, received,
           lead(seq) OVER (PARTITION BY site, sensor, epoch ORDER BY seq) AS next_seq
    FROM ingest_batch
) AS s
WHERE next_seq > seq + 1;
