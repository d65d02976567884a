-- Dead letters keep their payload only as long as device-level rows may be kept, and only up to a per-node budget
-- (ingest/dead_letters.py, ingest/policies.py): the payload becomes nullable; what it was is described by its full
-- length, its SHA-256 and what is kept of it, so a refused message is never lost without trace.
--   payload_kept: 'whole'        payload holds every byte
--                 'truncated'    payload holds the first bytes only (payload_bytes and payload_sha256 are the whole's)
--                 'over_budget'  payload not stored: the node's budget of stored dead-letter bytes was spent
--                 'expired'      payload removed by the retention job (privacy mode's device-row retention)
-- site, node: the topic's <site> and <node> levels (mallsense/v1/<site>/<node>/...); for any other topic site is
-- '' and node the topic's first two levels (each cut to 200 characters). They key the per-node budget.
ALTER TABLE dead_letter
    ALTER COLUMN payload DROP NOT NULL,
    ADD COLUMN IF NOT EXISTS site           text    NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS node           text    NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS payload_bytes  integer,
    ADD COLUMN IF NOT EXISTS payload_sha256 bytea,
    ADD COLUMN IF NOT EXISTS payload_kept   text    NOT NULL DEFAULT 'whole'
        CHECK (payload_kept IN ('whole', 'truncated', 'over_budget', 'expired'));

UPDATE dead_letter d SET
    site = left(CASE WHEN l.mallsense THEN l.levels[3] ELSE '' END, 200),
    node = left(CASE WHEN l.mallsense THEN l.levels[4] ELSE array_to_string(l.levels[1:2], '/') END, 200),
    payload_bytes = octet_length(d.payload),
    payload_sha256 = sha256(d.payload)
FROM (SELECT id, levels, cardinality(levels) >= 4 AND levels[1] = 'mallsense' AND levels[2] = 'v1' AS mallsense
      FROM (SELECT id, string_to_array(topic, '/') AS levels FROM dead_letter) t) l
WHERE l.id = d.id;

-- the retention job's payload purge, and the per-node budget (both only look at rows that still hold a payload)
CREATE INDEX IF NOT EXISTS dead_letter_payload_received ON dead_letter (received) WHERE payload IS NOT NULL;
CREATE INDEX IF NOT EXISTS dead_letter_node_payload ON dead_letter (site, node, received) WHERE payload IS NOT NULL;
