"""Private PostgreSQL and Mosquitto instances for the demo and the test suite (data under a folder of ours).

Nothing here touches the machine's own services: each server gets its own data directory, a free port on
127.0.0.1 and is stopped by us. Missing server packages are installed with apt-get when running as root.
"""

from __future__ import annotations

import glob
import logging
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

if TYPE_CHECKING:
    from mallsense.broker_auth import BrokerAuth

log = logging.getLogger(__name__)

DB_NAME = "mallsense"
DB_USER = "postgres"


class ServiceError(RuntimeError):
    """A private server could not be installed or started; the message says what to do."""


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A free TCP port on 127.0.0.1 *outside* the kernel's ephemeral range.

    A client that keeps reconnecting to a stopped server on an ephemeral-range port can be handed that very port as
    its own source port and connect to itself (TCP simultaneous open), and then the server cannot bind it again.
    """
    low, high = _ephemeral_range()
    candidates = [p for p in range(10000, 30000) if not low <= p <= high] or list(range(1024, low))
    for port in random.sample(candidates, min(200, len(candidates))):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ServiceError("no free TCP port found outside the ephemeral range")


def _wait_port(
    port: int, timeout: float, what: str, proc: subprocess.Popen | None = None, log_file: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    tail = log_file.read_text(errors="replace")[-2000:] if log_file and log_file.exists() else ""
    raise ServiceError(f"{what} did not start listening on 127.0.0.1:{port}\n{tail}")


# --------------------------------------------------------------------------------------------------- install
def _apt_install(packages: list[str]) -> None:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise ServiceError(
            f"missing {', '.join(packages)}: install them (Debian: sudo apt-get install {' '.join(packages)})"
        )
    log.warning("installing %s with apt-get (one time)", " ".join(packages))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    done = subprocess.run(["apt-get", "install", "-y", "-qq", *packages], env=env)
    if done.returncode != 0:
        raise ServiceError(f"apt-get install {' '.join(packages)} failed (exit {done.returncode})")


def postgres_bindir(install: bool = True) -> Path:
    """Directory holding initdb/pg_ctl (newest installed PostgreSQL), installing PostgreSQL if allowed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    if install:
        _apt_install(["postgresql"])
        return postgres_bindir(install=False)
    raise ServiceError("PostgreSQL server binaries (initdb, pg_ctl) not found")


def mosquitto_binary(install: bool = True) -> str:
    found = shutil.which("mosquitto") or next(iter(glob.glob("/usr/sbin/mosquitto")), None)
    if found:
        return found
    if install:
        _apt_install(["mosquitto"])
        return mosquitto_binary(install=False)
    raise ServiceError("mosquitto not found")


# --------------------------------------------------------------------------------------------------- PostgreSQL
def _as_postgres_user() -> list[str]:
    """initdb refuses to run as root: run the server as the 'postgres' system user then."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServiceError("running as root needs the 'postgres' system user (apt-get install postgresql)") from exc
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class PostgresServer:
    """A private PostgreSQL cluster. ``start()`` creates it on first use; data survives ``stop()``."""

    datadir: Path
    port: int = field(default_factory=free_port)
    fast: bool = False  # fsync off: for throwaway test clusters only
    install: bool = True
    timescale: bool | None = None  # preload TimescaleDB: None = if its library is installed

    @staticmethod
    def timescale_installed(bindir: Path) -> bool:
        return (bindir.parent / "lib" / "timescaledb.so").exists()

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={DB_USER} dbname={DB_NAME} connect_timeout=5"

    @property
    def admin_dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user={DB_USER} dbname=postgres connect_timeout=5"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [*_as_postgres_user(), *args]
        return subprocess.run(cmd, capture_output=True, text=True)

    def start(self, timeout: float = 60.0) -> PostgresServer:
        bindir = postgres_bindir(self.install)
        self.datadir = Path(self.datadir).resolve()
        self.datadir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.datadir, pw.pw_uid, pw.pw_gid)
            for parent in self.datadir.parents:  # the server user must be able to reach its directory
                if parent == Path("/"):
                    break
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        self.datadir.chmod(0o700)
        if not (self.datadir / "PG_VERSION").exists():
            done = self._run(str(bindir / "initdb"), "-D", str(self.datadir), "-U", DB_USER, "--auth=trust",
                             "-E", "UTF8", "--locale=C.UTF-8")
            if done.returncode != 0:
                raise ServiceError(f"initdb failed:\n{done.stdout}\n{done.stderr}")
        options = f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c max_connections=100"
        if self.fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        use_timescale = self.timescale_installed(bindir) if self.timescale is None else self.timescale
        if use_timescale:
            options += " -c shared_preload_libraries=timescaledb -c timescaledb.telemetry_level=off"
        logfile = self.datadir / "server.log"
        done = self._run(str(bindir / "pg_ctl"), "-D", str(self.datadir), "-o", options, "-l", str(logfile),
                         "-w", "-t", str(int(timeout)), "start")
        if done.returncode != 0:
            tail = logfile.read_text(errors="replace")[-2000:] if logfile.exists() else ""
            raise ServiceError(f"PostgreSQL failed to start on port {self.port}:\n{done.stderr}\n{tail}")
        self._create_database()
        return self

    def _create_database(self) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
                conn.execute(f"CREATE DATABASE {DB_NAME}")

    def stop(self, mode: str = "fast") -> None:
        bindir = postgres_bindir(install=False)
        if (self.datadir / "postmaster.pid").exists():
            self._run(str(bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster (fault-injection tests)."""
        pidfile = self.datadir / "postmaster.pid"
        if pidfile.exists():
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)


# --------------------------------------------------------------------------------------------------- Mosquitto
MOSQUITTO_CONF = """\
# written by mallsense: a private broker for the demo / tests
listener {port} 127.0.0.1
{tls_lines}
{auth_lines}
persistence true
persistence_location {datadir}/
autosave_interval 5
# ingest acknowledges only after its database commit: allow many unacknowledged messages per client
max_inflight_messages 1000
# a persistent-session client that is away keeps this many messages queued
max_queued_messages 1000000
max_queued_bytes 0
message_size_limit 1048576
log_dest file {datadir}/mosquitto.log
log_type error
log_type warning
log_type notice
{user_line}
"""


@dataclass(frozen=True)
class BrokerTls:
    """Certificate files for a TLS listener (PEM): the CA that signed the server's certificate, the server's own."""

    cafile: Path
    certfile: Path
    keyfile: Path

    def lines(self) -> str:
        return (f"cafile {Path(self.cafile).resolve()}\ncertfile {Path(self.certfile).resolve()}\n"
                f"keyfile {Path(self.keyfile).resolve()}\ntls_version tlsv1.2")


@dataclass
class MosquittoServer:
    """A private Mosquitto broker with on-disk persistence under ``datadir``."""

    datadir: Path
    port: int = field(default_factory=free_port)
    install: bool = True
    proc: subprocess.Popen | None = None
    auth: BrokerAuth | None = None  # logins bound to client ids, ACLs (mallsense.broker_auth); None: anonymous
    tls: BrokerTls | None = None  # the listener speaks TLS only (clients use mqtts:// and the CA); None: plain

    def write_config(self) -> Path:
        self.datadir = Path(self.datadir).resolve()
        self.datadir.mkdir(parents=True, exist_ok=True)
        conf = self.datadir / "mosquitto.conf"
        user_line = "user root" if os.geteuid() == 0 else ""
        auth_lines = "allow_anonymous true"
        if self.auth is not None:
            from mallsense.broker_auth import plugin_path

            auth_lines = self.auth.mosquitto_lines(plugin_path())
        conf.write_text(MOSQUITTO_CONF.format(port=self.port, datadir=self.datadir, user_line=user_line,
                                              auth_lines=auth_lines, tls_lines=self.tls.lines() if self.tls else ""))
        return conf

    def start(self, timeout: float = 20.0) -> MosquittoServer:
        binary = mosquitto_binary(self.install)
        conf = self.write_config()
        deadline = time.monotonic() + timeout
        while True:  # right after a crash the port may still be held by connections in TIME_WAIT
            self.proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
            try:
                _wait_port(self.port, max(1.0, deadline - time.monotonic()), "mosquitto", self.proc,
                           self.datadir / "mosquitto.log")
                return self
            except ServiceError:
                if self.proc.poll() is None or time.monotonic() >= deadline:
                    raise
                time.sleep(0.5)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL the broker (fault-injection tests)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
