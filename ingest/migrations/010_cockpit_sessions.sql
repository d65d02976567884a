-- Cockpit sessions kept on the server (dashboards/sessions.py): the browser's cookie holds a random token, this table
-- its SHA-256. Logging out, disabling the account, changing its password or its role deletes the rows, so a copied
-- cookie stops working at once. Deleting or renaming the account takes its sessions with it.

CREATE TABLE IF NOT EXISTS cockpit_session (
    id        text        PRIMARY KEY,            -- hex SHA-256 of the cookie's token (the token itself is not stored)
    username  text        NOT NULL REFERENCES cockpit_user (username) ON DELETE CASCADE ON UPDATE CASCADE,
    ip        text,
    created   timestamptz NOT NULL DEFAULT now(),
    expires   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS cockpit_session_username ON cockpit_session (username);
CREATE INDEX IF NOT EXISTS cockpit_session_expires ON cockpit_session (expires);

-- login throttling counts failures per (user name, address) as well (dashboards/throttle.py)
CREATE INDEX IF NOT EXISTS login_attempt_username_ip_ts ON login_attempt (username, ip, ts DESC);
