-- Zone enter/exit events of consented member apps that range the mall's fixed beacons (edge/ble/ranging.py).
-- dev is the app's consented stable key: rows go with the member's consent (ingest/erasure.py).
CREATE TABLE IF NOT EXISTS zone_event (
    ts       timestamptz NOT NULL,
    site     text        NOT NULL,
    sensor   text        NOT NULL,
    seq      bigint      NOT NULL,
    dev      text        NOT NULL,
    zone     text        NOT NULL,
    event    text        NOT NULL CHECK (event IN ('enter', 'exit')),
    dwell_s  real
);
CREATE INDEX IF NOT EXISTS zone_event_site_ts ON zone_event (site, ts DESC);
CREATE INDEX IF NOT EXISTS zone_event_dev ON zone_event (site, dev, ts);
