-- mallsense core schema. Relation names are the same on plain PostgreSQL and on TimescaleDB; when the extension is
-- present, ingest/storage.py turns the raw observation tables into hypertables after this file ran.

CREATE TABLE IF NOT EXISTS ingest_batch (        -- one row per (sensor, seq): the idempotency key of every batch
    site      text        NOT NULL,
    sensor    text        NOT NULL,
    seq       bigint      NOT NULL,
    kind      text        NOT NULL,
    node      text        NOT NULL,
    sent      timestamptz NOT NULL,
    received  timestamptz NOT NULL DEFAULT now(),
    n_obs     integer     NOT NULL,
    PRIMARY KEY (site, sensor, seq)
);

CREATE TABLE IF NOT EXISTS crossing (            -- camera: a track crossed an entrance/counting line
    ts        timestamptz NOT NULL,
    site      text        NOT NULL,
    sensor    text        NOT NULL,
    seq       bigint      NOT NULL,
    line      text        NOT NULL,
    direction text        NOT NULL CHECK (direction IN ('in', 'out')),
    track     bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS crossing_site_line_ts ON crossing (site, line, ts DESC);

CREATE TABLE IF NOT EXISTS occupancy (           -- camera: people inside a zone at an instant
    ts        timestamptz NOT NULL,
    site      text        NOT NULL,
    sensor    text        NOT NULL,
    seq       bigint      NOT NULL,
    zone      text        NOT NULL,
    count     integer     NOT NULL
);
CREATE INDEX IF NOT EXISTS occupancy_site_zone_ts ON occupancy (site, zone, ts DESC);

CREATE TABLE IF NOT EXISTS track_position (      -- camera: a track's floor position (metres)
    ts        timestamptz NOT NULL,
    site      text        NOT NULL,
    sensor    text        NOT NULL,
    seq       bigint      NOT NULL,
    track     bigint      NOT NULL,
    floor     text        NOT NULL,
    x         real        NOT NULL,
    y         real        NOT NULL
);
CREATE INDEX IF NOT EXISTS track_position_site_floor_ts ON track_position (site, floor, ts DESC);

CREATE TABLE IF NOT EXISTS wifi_sighting (       -- a probe request; dev is a keyed rotating hash, never a MAC
    ts          timestamptz NOT NULL,
    site        text        NOT NULL,
    sensor      text        NOT NULL,
    seq         bigint      NOT NULL,
    dev         text        NOT NULL,
    rssi        smallint    NOT NULL,
    randomized  boolean     NOT NULL,
    channel     smallint,
    seqno       integer,
    fingerprint text
);
CREATE INDEX IF NOT EXISTS wifi_sighting_site_ts ON wifi_sighting (site, ts DESC);

CREATE TABLE IF NOT EXISTS ble_sighting (        -- a BLE advertisement; dev is a keyed hash of the advertiser id
    ts        timestamptz NOT NULL,
    site      text        NOT NULL,
    sensor    text        NOT NULL,
    seq       bigint      NOT NULL,
    dev       text        NOT NULL,
    rssi      smallint    NOT NULL,
    tx_power  smallint,
    frame     text        NOT NULL
);
CREATE INDEX IF NOT EXISTS ble_sighting_site_ts ON ble_sighting (site, ts DESC);

CREATE TABLE IF NOT EXISTS node_state (          -- latest state of each edge node (retained state topic)
    site      text        NOT NULL,
    node      text        NOT NULL,
    status    text        NOT NULL,
    ts        timestamptz NOT NULL,
    health    jsonb,
    received  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, node)
);

CREATE TABLE IF NOT EXISTS dead_letter (         -- every message ingest could not accept, with the reason
    id        bigserial   PRIMARY KEY,
    received  timestamptz NOT NULL DEFAULT now(),
    topic     text        NOT NULL,
    reason    text        NOT NULL,
    detail    text        NOT NULL,
    payload   bytea       NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letter_received ON dead_letter (received DESC);

CREATE TABLE IF NOT EXISTS member (              -- CRM members; PII columns only for roles that need them
    site        text        NOT NULL,
    member_id   text        NOT NULL,
    joined      date        NOT NULL,
    tier        text        NOT NULL DEFAULT 'standard',
    name        text,
    phone       text,
    consent_app boolean     NOT NULL DEFAULT false,   -- consented to presence via the app / BLE
    consent_wifi boolean    NOT NULL DEFAULT false,   -- consented to presence via mall WiFi login
    device_key  text,                                  -- consented stable key of the member's app beacon
    PRIMARY KEY (site, member_id)
);

CREATE TABLE IF NOT EXISTS pos_transaction (     -- POS payments
    site      text          NOT NULL,
    txn_id    text          NOT NULL,
    ts        timestamptz   NOT NULL,
    store_id  text          NOT NULL,
    amount    numeric(12,2) NOT NULL CHECK (amount >= 0),
    member_id text,
    PRIMARY KEY (site, txn_id)
);
CREATE INDEX IF NOT EXISTS pos_transaction_store_ts ON pos_transaction (site, store_id, ts DESC);
