-- Visits and store stays of consented app users, materialized per local day by models/materialize.py from
-- ble_sighting (the same sessionization as models/presence.py), so the cockpit's pages read them in milliseconds.
-- Device-level rows: retention follows ble_sighting's (ingest/policies.py).

CREATE TABLE IF NOT EXISTS presence_day (          -- which local days are materialized, and when
    site      text        NOT NULL,
    day       date        NOT NULL,
    computed  timestamptz NOT NULL DEFAULT now(),
    visits    integer     NOT NULL,
    stays     integer     NOT NULL,
    PRIMARY KEY (site, day)
);

CREATE TABLE IF NOT EXISTS app_visit (             -- one consented identity's visit
    site      text        NOT NULL,
    day       date        NOT NULL,
    visit     bigint      NOT NULL,                -- unique within (site, day)
    dev       text        NOT NULL,
    start_ts  timestamptz NOT NULL,
    end_ts    timestamptz NOT NULL,
    sightings integer     NOT NULL,
    PRIMARY KEY (site, day, visit)
);
CREATE INDEX IF NOT EXISTS app_visit_dev ON app_visit (site, dev, day);

CREATE TABLE IF NOT EXISTS store_stay (            -- a store stay within one of those visits
    site      text        NOT NULL,
    day       date        NOT NULL,
    visit     bigint      NOT NULL,
    dev       text        NOT NULL,
    store     text        NOT NULL,
    start_ts  timestamptz NOT NULL,
    end_ts    timestamptz NOT NULL,
    sightings integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS store_stay_day ON store_stay (site, day, visit);
