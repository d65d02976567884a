"""Broker credentials and access rules for a site: one MQTT user per edge node, one for ingest, nothing anonymous.

:func:`write_broker_auth` writes, into a folder:

- ``passwd`` — Mosquitto's password file (PBKDF2-SHA512 hashes, the ``$7$`` format of ``mosquitto_passwd``);
- ``acl`` — an edge node may publish only its own batches and state (``mallsense/v1/<site>/<node>/<kind>/<sensor>``,
  ``…/<node>/state``) and read only its own command topic (``…/<node>/ack``); ingest reads everything of the sites
  and writes only the nodes' ``ack`` topics;
- ``secrets/<user>`` — each user's password, readable by the owner only, for the node's or ingest's settings
  (``mqtt://<user>:<password>@host`` or the ``MALLSENSE_MQTT`` environment variable). They never go into the repository.

Run it again to add nodes: users that already have a secret keep it (``rotate=True`` makes new ones). Mosquitto
reads the files at start and on SIGHUP.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mallsense.contract import TOPIC_ROOT
from mallsense.site import Site

INGEST_USER = "mallsense-ingest"
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd writes for $7$ (Mosquitto 2.0)
SALT_BYTES = 12


@dataclass(frozen=True)
class BrokerAuth:
    """Where the files are, and every user's password (for tests and the demo, which configure clients)."""

    folder: Path
    passwords: dict[str, str]

    @property
    def password_file(self) -> Path:
        return self.folder / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.folder / "acl"


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A Mosquitto ``$7$`` password hash: PBKDF2-HMAC-SHA512, base64 salt and digest."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def acl_rules(sites: Iterable[Site]) -> str:
    """The ACL file's text for these sites."""
    lines = ["# written by mallsense (mallsense broker-auth): edge nodes reach only their own topics", "",
             f"user {INGEST_USER}"]
    sites = list(sites)
    for site in sites:
        root = f"{TOPIC_ROOT}/{site.site.id}"
        lines += [f"topic read {root}/#", f"topic write {root}/+/ack"]
    for site in sites:
        root = f"{TOPIC_ROOT}/{site.site.id}"
        for node in site.nodes:
            lines += ["", f"user {node}", f"topic write {root}/{node}/+/+", f"topic write {root}/{node}/state",
                      f"topic read {root}/{node}/ack"]
    return "\n".join(lines) + "\n"


def write_broker_auth(folder: Path | str, sites: Iterable[Site], *, rotate: bool = False) -> BrokerAuth:
    """Write ``passwd``, ``acl`` and ``secrets/`` for the nodes of ``sites`` and ingest (see the module)."""
    folder = Path(folder)
    sites = list(sites)
    users = [INGEST_USER, *sorted({node for site in sites for node in site.nodes})]
    clash = [u for u in users if ":" in u]
    if clash:
        raise ValueError(f"MQTT user names cannot contain ':': {clash}")
    store = folder / "secrets"
    store.mkdir(parents=True, exist_ok=True)
    os.chmod(store, 0o700)
    passwords: dict[str, str] = {}
    for user in users:
        path = store / user
        if path.exists() and not rotate:
            passwords[user] = path.read_text(encoding="utf-8").strip()
            continue
        passwords[user] = secrets.token_urlsafe(24)
        path.write_text(passwords[user] + "\n", encoding="utf-8")
        os.chmod(path, 0o600)
    passwd = folder / "passwd"
    passwd.write_text("".join(f"{u}:{hash_password(p)}\n" for u, p in passwords.items()), encoding="utf-8")
    os.chmod(passwd, 0o600)
    (folder / "acl").write_text(acl_rules(sites), encoding="utf-8")
    return BrokerAuth(folder, passwords)
