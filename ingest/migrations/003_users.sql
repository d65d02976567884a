-- Cockpit accounts and the login journal (dashboards/auth.py). Passwords are stored as argon2id hashes only.

CREATE TABLE IF NOT EXISTS cockpit_user (
    username      text        PRIMARY KEY CHECK (username <> ''),
    password_hash text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('operator', 'leasing', 'marketing', 'admin')),
    disabled      boolean     NOT NULL DEFAULT false,
    created       timestamptz DEFAULT now(),
    last_login    timestamptz
);

CREATE TABLE IF NOT EXISTS login_attempt (       -- ok: true = logged in, false = refused credentials,
    username  text,                              -- NULL = refused by the rate limit (not counted as a failure)
    ip        text,
    ts        timestamptz DEFAULT now(),
    ok        boolean
);
-- rate limiting counts recent failures per user name and per client address
CREATE INDEX IF NOT EXISTS login_attempt_username_ts ON login_attempt (username, ts DESC);
CREATE INDEX IF NOT EXISTS login_attempt_ip_ts ON login_attempt (ip, ts DESC);
