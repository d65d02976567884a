-- WiFi: probes without a plausible signal are still sightings (radiotap 0 dBm is a driver's "no value"), and each
-- sensor publishes its estimate of devices and people per interval (edge/wifi/devices.py, docs/wifi.md).
ALTER TABLE wifi_sighting ALTER COLUMN rssi DROP NOT NULL;

CREATE TABLE IF NOT EXISTS wifi_count (          -- aggregate only: no device keys
    ts              timestamptz NOT NULL,        -- interval start
    site            text        NOT NULL,
    sensor          text        NOT NULL,
    seq             bigint      NOT NULL,
    interval_s      integer     NOT NULL,
    probes          integer     NOT NULL,
    keys            integer     NOT NULL,        -- distinct device keys: the naive count
    randomized_keys integer     NOT NULL,
    devices         real        NOT NULL,        -- estimated devices
    fixtures        integer     NOT NULL,        -- stationary devices heard, not counted
    people          real        NOT NULL         -- estimated people (operator's calibration)
);
CREATE INDEX IF NOT EXISTS wifi_count_site_ts ON wifi_count (site, ts DESC);
