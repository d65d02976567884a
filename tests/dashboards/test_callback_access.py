"""Every callback of the cockpit, called straight at /_dash-update-component: refused without a session, refused to
a role without the right, answered otherwise — enumerated from the app itself, so a new callback is covered too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient

from dashboards import auth, context
from dashboards.app import create_app
from mallsense.site import load_site

pytestmark = pytest.mark.integration
PASSWORD = "access-test-password"
AREA_OF_PREFIX = {"flows": "flows", "visitors": "visitors", "leasing": "leasing", "campaigns": "campaigns",
                  "members": "members"}


@pytest.fixture
def app_and_dsn(db_dsn: str) -> Iterator[tuple[Any, str]]:
    with psycopg.connect(db_dsn) as conn:
        for role in auth.ROLES:
            auth.create_user(conn, role, PASSWORD, role)
    app = create_app(db_dsn, load_site(), secret_key=b"access-test-secret-0123456789")
    yield app, db_dsn
    context.close()


def logged_in(app: Any, role: str) -> FlaskClient:
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/login", data={"username": role, "password": PASSWORD, "csrf_token": csrf, "next": "/"})
    assert answer.status_code == 302, answer.get_data(as_text=True)[:300]
    return client


def area_of(output: str) -> str | None:
    """The area a callback's output belongs to (None: the shell and the Live page, open to every logged-in role)."""
    first = output.strip(".").lstrip(".").split("...")[0] if output.startswith("..") else output
    ident = first.split(".")[0]
    if ident.startswith("members-contacts"):
        return "members_pii"
    return AREA_OF_PREFIX.get(ident.split("-")[0])


def body(dep: dict[str, Any]) -> dict[str, Any]:
    output = dep["output"]
    outputs = [{"id": o.split(".")[0], "property": o.split(".")[1]} for o in output.strip(".").split("...")]
    inputs = [{"id": i["id"], "property": i["property"], "value": None} for i in dep["inputs"]]
    state = [{"id": s["id"], "property": s["property"], "value": None} for s in dep.get("state", [])]
    changed = [f"{inputs[0]['id']}.{inputs[0]['property']}"] if inputs else []
    return {"output": output, "outputs": outputs if output.startswith("..") else outputs[0], "inputs": inputs,
            "state": state, "changedPropIds": changed, "parsedChangedPropsIds": changed}


def test_every_callback_checks_the_session_and_the_role(app_and_dsn) -> None:
    app, _ = app_and_dsn
    admin = logged_in(app, "admin")
    deps = admin.get("/_dash-dependencies").get_json()
    assert len(deps) >= 30
    anonymous = app.server.test_client()
    clients = {role: logged_in(app, role) for role in auth.ROLES}
    guarded_areas = set()
    for dep in deps:
        if dep.get("clientside_function"):
            continue
        request = body(dep)
        assert anonymous.post("/_dash-update-component", json=request).status_code == 401, dep["output"]
        area = area_of(dep["output"])
        for role, client in clients.items():
            status = client.post("/_dash-update-component", json=request).status_code
            if area is not None and not auth.allowed(role, area):
                assert status == 403, (role, dep["output"], status)
                guarded_areas.add(area)
            else:
                assert status in (200, 204), (role, dep["output"], status)
    assert guarded_areas == {"visitors", "leasing", "campaigns", "members", "members_pii"}
