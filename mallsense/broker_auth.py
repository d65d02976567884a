"""Broker credentials and access rules for a site: one MQTT login per client, each bound to its client id.

Mosquitto's ``acl_file`` cannot refuse a subscription (2.0 grants every SUBSCRIBE and filters at delivery) and its
``password_file`` lets any login take any client id, so a node's login could connect as ingest and, with a clean
session, wipe ingest's queued batches. :func:`write_broker_auth` therefore configures Mosquitto's dynamic-security
plugin (shipped with Mosquitto 2) and writes, into a folder:

- ``dynamic-security.json`` — the plugin's file: every login with its PBKDF2-SHA512 hash, the one client id it may
  use (any other is refused at CONNECT), and its role; nothing is allowed by default (publish, receive, subscribe);
- ``secrets/<node>`` and ``secrets/mallsense-ingest`` — the passwords, readable by the owner only, for the node's
  or ingest's settings (``mqtt://<user>:<password>@host`` or ``MALLSENSE_MQTT_PASSWORD_FILE``). Never in the repository.

Logins (the password is the node's or ingest's, shared by that unit's logins; the client id is fixed per login):

- ``<node>`` → ``mallsense-edge-<site>-<node>`` (a link serving the whole node: ``mallsense edge``, the simulator),
  ``<node>.<sensor>`` → ``mallsense-edge-<site>-<node>-<sensor>`` for each collector process of the node (and
  ``<node>.app-<ble sensor>`` for app ranging); :class:`edge.publisher.EdgeLink` picks its login itself.
  A node publishes only ``mallsense/v1/<site>/<node>/<kind>/<sensor>`` and ``…/<node>/state`` and subscribes to and
  receives only ``…/<node>/ack``.
- ``mallsense-ingest``, ``mallsense-ingest-2`` … ``-<ingest_workers>``: the login is the client id (shared-group
  workers each need their own persistent session); ingest subscribes to ``mallsense/v1/…`` (shared or not),
  receives the sites' topics and publishes only the nodes' ``ack`` topics.

Run it again to add nodes or workers: secrets that exist are kept (``rotate=True`` makes new ones). The plugin reads
its file when Mosquitto starts: restart the broker after a change.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mallsense.contract import TOPIC_ROOT
from mallsense.site import Site

INGEST_USER = "mallsense-ingest"
CONFIG_FILE = "dynamic-security.json"
PBKDF2_ITERATIONS = 101  # what Mosquitto 2.0's dynamic-security plugin uses for new passwords
SALT_BYTES = 12  # the plugin refuses a file whose salts have another length
# where Debian/Ubuntu's mosquitto package and the eclipse-mosquitto:2 image install the plugin
PLUGIN_PATHS = ("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
                "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so", "/usr/lib/mosquitto_dynamic_security.so")


def edge_client_id(site: str, node: str, process: str | None = None) -> str:
    """The MQTT client id of a node's link (``process``: a collector's sensor id when the node runs several)."""
    return f"mallsense-edge-{site}-{node}" + (f"-{process}" if process else "")


def edge_login(username: str, process: str | None = None) -> str:
    """The login of a node's process: the node's user name, with ``.<process>`` for a collector process."""
    if not process or username.endswith(f".{process}"):
        return username
    return f"{username}.{process}"


def app_ranging_process(sensor: str) -> str:
    """The process name of app ranging through BLE sensor ``sensor`` (its own link, login and client id)."""
    return f"app-{sensor}"


def ingest_login(worker: int) -> str:
    """Ingest worker ``worker``'s login, which is also its client id (1: ``mallsense-ingest``)."""
    if worker < 1:
        raise ValueError("ingest workers are numbered from 1")
    return INGEST_USER if worker == 1 else f"{INGEST_USER}-{worker}"


@dataclass(frozen=True)
class Login:
    """One MQTT login: the only client id it may connect with, whose password it uses, which role it has."""

    username: str
    client_id: str
    secret: str  # the node id, or INGEST_USER
    role: str


@dataclass(frozen=True)
class BrokerAuth:
    """Where the files are, every secret's password and every login (for tests and the demo, which configure
    clients)."""

    folder: Path
    passwords: dict[str, str]  # secret (node id or INGEST_USER) -> password
    logins: dict[str, Login]

    @property
    def config_file(self) -> Path:
        return self.folder / CONFIG_FILE

    def password_of(self, username: str) -> str:
        return self.passwords[self.logins[username].secret]

    def mosquitto_lines(self, plugin: str) -> str:
        """The lines of mosquitto.conf that enforce these rules (``plugin``: the broker's plugin file)."""
        return f"allow_anonymous false\nplugin {plugin}\nplugin_opt_config_file {self.config_file.resolve()}"


def plugin_path(*, required: bool = True) -> str:
    """This machine's dynamic-security plugin (not ``required``: else the eclipse-mosquitto image's)."""
    found = next((p for p in PLUGIN_PATHS if Path(p).exists()), None)
    if found is None and required:
        raise FileNotFoundError(f"Mosquitto's dynamic-security plugin is not installed (looked in {PLUGIN_PATHS})")
    return found or PLUGIN_PATHS[-1]


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> dict:
    """The plugin's password fields: PBKDF2-HMAC-SHA512, base64 salt and digest."""
    salt = salt if salt is not None else secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, dklen=64)
    return {"password": base64.b64encode(digest).decode(), "salt": base64.b64encode(salt).decode(),
            "iterations": iterations}


def _acl(acltype: str, topic: str) -> dict:
    return {"acltype": acltype, "topic": topic, "priority": 0, "allow": True}


def node_role(site: str, node: str) -> str:
    return f"edge:{site}/{node}"


def logins(sites: Iterable[Site], ingest_workers: int = 1) -> list[Login]:
    """Every login of these sites' nodes and of ``ingest_workers`` ingest workers."""
    out = [Login(ingest_login(w), ingest_login(w), INGEST_USER, "ingest") for w in range(1, ingest_workers + 1)]
    for site in sites:
        sid = site.site.id
        for node in site.nodes:
            processes = [None]
            for sensor in (s for s in site.sensors if s.node == node):
                processes += [sensor.id] + ([app_ranging_process(sensor.id)] if sensor.kind == "ble" else [])
            out += [Login(edge_login(node, p), edge_client_id(sid, node, p), node, node_role(sid, node))
                    for p in processes]
    seen: dict[str, Login] = {}
    for login in out:
        if ":" in login.username:
            raise ValueError(f"MQTT user names cannot contain ':': {login.username!r}")
        if login.username in seen and seen[login.username] != login:
            raise ValueError(f"login {login.username!r} would need two client ids ({seen[login.username].client_id}"
                             f", {login.client_id}): node ids must be unique across the broker's sites")
        seen[login.username] = login
    return list(seen.values())


def roles(sites: Iterable[Site]) -> list[dict]:
    """The plugin's roles: ingest reads the sites and writes acks; each node writes its batches and state and
    reads its own acks."""
    sites = list(sites)
    ingest = [_acl("subscribePattern", f"{TOPIC_ROOT}/#"), _acl("subscribePattern", f"$share/+/{TOPIC_ROOT}/#")]
    out = []
    for site in sites:
        root = f"{TOPIC_ROOT}/{site.site.id}"
        ingest += [_acl("publishClientReceive", f"{root}/#"), _acl("publishClientSend", f"{root}/+/ack")]
        for node in site.nodes:
            ack = f"{root}/{node}/ack"
            out.append({"rolename": node_role(site.site.id, node), "acls": [
                _acl("publishClientSend", f"{root}/{node}/+/+"), _acl("publishClientSend", f"{root}/{node}/state"),
                _acl("subscribeLiteral", ack), _acl("publishClientReceive", ack)]})
    return [{"rolename": "ingest", "acls": ingest}, *out]


def dynsec_config(sites: Iterable[Site], passwords: dict[str, str], ingest_workers: int = 1) -> dict:
    """The dynamic-security plugin's file for these sites (``passwords``: secret -> password)."""
    sites = list(sites)
    clients = [{"username": login.username, "clientid": login.client_id, **hash_password(passwords[login.secret]),
                "roles": [{"rolename": login.role}]} for login in logins(sites, ingest_workers)]
    default = [{"acltype": t, "allow": False} for t in ("publishClientSend", "publishClientReceive", "subscribe")]
    return {"defaultACLAccess": [*default, {"acltype": "unsubscribe", "allow": True}],
            "clients": clients, "groups": [], "roles": roles(sites)}


def write_broker_auth(folder: Path | str, sites: Iterable[Site], *, rotate: bool = False,
                      ingest_workers: int = 1) -> BrokerAuth:
    """Write ``dynamic-security.json`` and ``secrets/`` for the nodes of ``sites`` and ingest (see the module)."""
    folder = Path(folder)
    sites = list(sites)
    all_logins = {login.username: login for login in logins(sites, ingest_workers)}
    store = folder / "secrets"
    store.mkdir(parents=True, exist_ok=True)
    os.chmod(store, 0o700)
    passwords: dict[str, str] = {}
    for owner in sorted({login.secret for login in all_logins.values()}):
        path = store / owner
        if path.exists() and not rotate:
            passwords[owner] = path.read_text(encoding="utf-8").strip()
            continue
        passwords[owner] = secrets.token_urlsafe(24)
        path.write_text(passwords[owner] + "\n", encoding="utf-8")
        os.chmod(path, 0o600)
    config = folder / CONFIG_FILE
    config.write_text(json.dumps(dynsec_config(sites, passwords, ingest_workers), indent=1), encoding="utf-8")
    os.chmod(config, 0o600)
    for stale in ("passwd", "acl"):  # an older release's files: a broker still reading them must fail, not run open
        (folder / stale).unlink(missing_ok=True)
    return BrokerAuth(folder, passwords, all_logins)
