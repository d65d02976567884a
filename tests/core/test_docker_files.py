"""The docker files cannot be run here (no Docker engine); keep them consistent with the code instead."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import yaml

from mallsense.cli import build_parser

DOCKER = Path(__file__).resolve().parents[2] / "docker"


def test_every_compose_command_is_a_valid_mallsense_invocation():
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    checked = 0
    for name, service in compose["services"].items():
        if service.get("image") != "mallsense:dev" and "build" not in service:
            continue
        if "entrypoint" in service:
            assert service["entrypoint"][0] == "gunicorn", name
            module = service["entrypoint"][-1].split(":")[0]
            assert importlib.util.find_spec(module) is not None, module
        else:
            build_parser().parse_args(service["command"])  # exits on an unknown subcommand or flag
        checked += 1
    assert checked == 6  # broker-auth, migrate, ingest, simulator, analytics, cockpit


def test_dockerfile_copies_every_package_the_project_declares():
    copied = set(re.findall(r"^COPY (\w+) ", (DOCKER / "Dockerfile").read_text(), flags=re.M))
    pyproject = (DOCKER.parent / "pyproject.toml").read_text()
    packages = set(re.search(r'include = \[(.*?)\]', pyproject).group(1).replace('"', "").replace("*", "")
                   .replace(" ", "").split(","))
    assert packages | {"config"} <= copied


def test_the_compose_broker_enforces_broker_auths_logins_with_the_plugin():
    """The auth lines of docker/mosquitto.conf are the ones the demo's and tests' broker runs with (client ids bound
    to logins, subscriptions refused outside a login's topics), read from where the broker-auth service writes."""
    from mallsense.broker_auth import PLUGIN_PATHS, BrokerAuth

    conf = [line for line in (DOCKER / "mosquitto.conf").read_text().splitlines() if line and line[0] != "#"]
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())["services"]
    volume = compose["broker-auth"]["volumes"][0].split(":")[0]
    mount = next(v.split(":")[1] for v in compose["mosquitto"]["volumes"] if v.startswith(f"{volume}:"))
    expected = BrokerAuth(Path(mount), {}, {}).mosquitto_lines(PLUGIN_PATHS[-1]).splitlines()
    assert [line for line in conf if line.split()[0] in {"allow_anonymous", "plugin", "plugin_opt_config_file"}] \
        == expected
    assert not any(line.split()[0] in {"password_file", "acl_file"} for line in conf)  # they cannot refuse either
