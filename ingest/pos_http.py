"""Transactions as they happen: a small HTTP endpoint for the POS (the CSV import is for exports and back-fills).

    POST /v1/transactions        Authorization: Bearer <token>      Content-Type: application/json
    body: one transaction object or a list of them, fields as the CSV schema of :mod:`ingest.imports`
          {"txn_id": "T1", "ts": "2026-11-14T12:30:00+08:00", "store_id": "f1-01", "amount": "59.90",
           "member_id": "M000123"}
    GET  /healthz

Answers are JSON. 200 ``{"received": n, "inserted": k, "duplicates": n - k}``: a transaction already stored (same
txn_id) is not stored twice, so a POS may resend after a timeout. 400 unreadable JSON, 401 missing or wrong token,
413 body over ``MAX_BODY`` bytes, 422 ``{"errors": [{"index", "field", "message"}]}`` with nothing written when any
transaction is invalid (unknown store, no UTC offset, negative amount, …). The token comes from the environment or a
file, never from the command line or the repository.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from psycopg_pool import ConnectionPool
from pydantic import ValidationError

from ingest.imports import TransactionRow, insert_transactions
from mallsense.site import Site

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20
MAX_ITEMS = 5_000


class _Refused(Exception):
    def __init__(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        super().__init__(status.phrase)
        self.status, self.body = status, body


def parse_transactions(body: bytes, site: Site) -> list[TransactionRow]:
    """Validate a request body whole; raise _Refused (400 or 422) listing every problem."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refused(HTTPStatus.BAD_REQUEST, {"error": f"body is not JSON: {exc}"}) from exc
    items = data if isinstance(data, list) else [data]
    if not items or len(items) > MAX_ITEMS:
        raise _Refused(HTTPStatus.UNPROCESSABLE_ENTITY, {"errors": [
            {"index": None, "field": "", "message": f"send 1 to {MAX_ITEMS} transactions per request"}]})
    errors: list[dict[str, Any]] = []
    rows: list[TransactionRow] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": i, "field": "", "message": "a transaction is a JSON object"})
            continue
        try:
            row = TransactionRow.model_validate({k: str(v) if isinstance(v, int | float) else v
                                                 for k, v in item.items()})
        except ValidationError as exc:
            errors += [{"index": i, "field": str(e["loc"][0]) if e["loc"] else "",
                        "message": e["msg"].removeprefix("Value error, ")} for e in exc.errors()]
            continue
        if row.store_id not in site.store_by_id:
            errors.append({"index": i, "field": "store_id", "message": f"unknown store {row.store_id!r}"})
        if row.txn_id in seen:
            errors.append({"index": i, "field": "txn_id", "message": f"duplicate txn_id {row.txn_id!r} in request"})
        seen.add(row.txn_id)
        rows.append(row)
    if errors:
        raise _Refused(HTTPStatus.UNPROCESSABLE_ENTITY, {"errors": errors[:100]})
    return rows


class PosEndpoint:
    """The endpoint's server; :meth:`start` serves in a thread, :meth:`stop` shuts it down."""

    def __init__(self, pool: ConnectionPool, site: Site, token: str, host: str = "127.0.0.1", port: int = 8071,
                 ) -> None:
        if len(token) < 16:
            raise ValueError("the POS token must be at least 16 characters")
        self.pool, self.site, self.token = pool, site, token
        self.received = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "mallsense-pos"

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("pos: " + fmt, *args)

            def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                if self.path == "/healthz":
                    self._answer(HTTPStatus.OK, {"status": "ok"})
                else:
                    self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})

            def do_POST(self) -> None:
                try:
                    self._answer(HTTPStatus.OK, endpoint.handle(self.path, self.headers, self.rfile))
                except _Refused as refused:
                    self._answer(refused.status, refused.body)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def handle(self, path: str, headers: Any, stream: Any) -> dict[str, Any]:
        if path != "/v1/transactions":
            raise _Refused(HTTPStatus.NOT_FOUND, {"error": "not found"})
        auth = headers.get("Authorization", "")
        if not hmac.compare_digest(auth.encode(), f"Bearer {self.token}".encode()):
            raise _Refused(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
        try:
            length = int(headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            raise _Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body must be 0..{MAX_BODY} bytes"})
        rows = parse_transactions(stream.read(length), self.site)
        with self.pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            inserted = insert_transactions(cur, self.site.site.id, rows, self.site.site.timezone)
        self.received += len(rows)
        return {"received": len(rows), "inserted": inserted, "duplicates": len(rows) - inserted}

    def start(self) -> PosEndpoint:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="pos-endpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
