"""Where to find the broker and the database: command-line flags first, then environment variables.

``MALLSENSE_DSN``   libpq connection string or URL of the database (e.g. ``postgresql://mallsense@db/mallsense``)
``MALLSENSE_MQTT``  broker URL ``mqtt://[user[:password]@]host[:port]`` (``mqtts://`` for TLS)
``MALLSENSE_MQTT_PASSWORD_FILE``  a file holding the broker password (keeps secrets out of URLs and the repo)
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from edge.publisher import BrokerConfig


class SettingsError(ValueError):
    pass


def broker_from_url(url: str | None) -> BrokerConfig:
    url = url or os.environ.get("MALLSENSE_MQTT") or "mqtt://127.0.0.1:1883"
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise SettingsError(f"broker URL {url!r} must start with mqtt:// or mqtts://")
    password = unquote(parts.password) if parts.password else None
    password_file = os.environ.get("MALLSENSE_MQTT_PASSWORD_FILE")
    if password is None and password_file:
        password = Path(password_file).read_text(encoding="utf-8").strip()
    tls_ca = os.environ.get("MALLSENSE_MQTT_CA") if parts.scheme == "mqtts" else None
    return BrokerConfig(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if parts.scheme == "mqtts" else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=password,
        tls_ca=tls_ca,
    )


def dsn_from(value: str | None) -> str:
    dsn = value or os.environ.get("MALLSENSE_DSN")
    if not dsn:
        raise SettingsError("no database given: pass --dsn or set MALLSENSE_DSN")
    return dsn
