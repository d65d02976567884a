"""The POS endpoint: authenticated, validated whole, idempotent, over a real HTTP connection and database."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from ingest.pos_http import PosEndpoint
from mallsense.site import load_site

TOKEN = "test-token-0123456789abcdef"
GOOD = {"txn_id": "T-1", "ts": "2026-11-14T12:30:00+08:00", "store_id": "f1-01", "amount": "59.90",
        "member_id": "M000123"}


@pytest.fixture
def endpoint(db_dsn: str):
    with ConnectionPool(db_dsn, min_size=1, max_size=2) as pool:
        server = PosEndpoint(pool, load_site(), TOKEN, port=0).start()
        yield server, db_dsn
        server.stop()


def post(port: int, body: object, token: str | None = TOKEN, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/transactions", data=data, method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def declared_too_large(port: int) -> int:
    """Announce a body over the limit and send none of it: the endpoint must refuse from the header alone.

    (Sending the whole 2 MiB races the server, which answers 413 and closes while the client is still writing.)
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("POST", "/v1/transactions")
        conn.putheader("Authorization", f"Bearer {TOKEN}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(2 << 20))
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def stored(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT txn_id, store_id, amount::text, member_id FROM pos_transaction"
                            " ORDER BY 1").fetchall()


def test_transactions_are_stored_once_even_when_resent(endpoint) -> None:
    server, dsn = endpoint
    second = {**GOOD, "txn_id": "T-2", "amount": 12, "member_id": None}
    assert post(server.port, [GOOD, second]) == (200, {"received": 2, "inserted": 2, "duplicates": 0})
    assert post(server.port, GOOD) == (200, {"received": 1, "inserted": 0, "duplicates": 1})
    assert stored(dsn) == [("T-1", "f1-01", "59.90", "M000123"), ("T-2", "f1-01", "12.00", None)]
    with psycopg.connect(dsn) as conn:  # the per-day sales the cockpit reads follow at once (local day)
        assert conn.execute("SELECT day::text, store_id, transactions, sales::text, member_transactions"
                            " FROM sales_day").fetchall() == [("2026-11-14", "f1-01", 2, "71.90", 1)]


def test_without_the_token_nothing_is_stored(endpoint) -> None:
    server, dsn = endpoint
    assert post(server.port, GOOD, token=None)[0] == 401
    assert post(server.port, GOOD, token="wrong-token-0123456789")[0] == 401
    assert stored(dsn) == []


def test_one_bad_transaction_refuses_the_whole_request_naming_each_problem(endpoint) -> None:
    server, dsn = endpoint
    bad = [GOOD, {**GOOD, "txn_id": "T-3", "store_id": "nowhere"}, {**GOOD, "txn_id": "T-4", "ts": "2026-11-14T12:30"},
           {**GOOD, "txn_id": "T-5", "amount": "-1"}, "not an object"]
    status, body = post(server.port, bad)
    assert status == 422
    assert {(e["index"], e["field"]) for e in body["errors"]} == {(1, "store_id"), (2, "ts"), (3, "amount"), (4, "")}
    assert stored(dsn) == []
    assert post(server.port, None, raw=b"{not json")[0] == 400
    assert post(server.port, [GOOD, GOOD])[0] == 422  # the same txn_id twice in one request
    assert declared_too_large(server.port) == 413


def test_a_short_token_is_refused_at_start(db_dsn: str) -> None:
    with ConnectionPool(db_dsn, min_size=1, max_size=1) as pool, pytest.raises(ValueError, match="16 characters"):
        PosEndpoint(pool, load_site(), "short", port=0)
