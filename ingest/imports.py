"""CRM member and POS transaction imports from CSV exports: validated whole, written whole, idempotent.

Schemas (header row required, comma-separated, UTF-8; column order free; other columns are an error):

``members``:       member_id, joined (YYYY-MM-DD), tier, consent_app, consent_wifi
                   optional: name, phone, device_key (the consented app key, 32 hex)
``transactions``:  txn_id, ts (ISO 8601 with a UTC offset), store_id, amount (>= 0, 2 decimals)
                   optional: member_id

Every problem is reported with its line number and column; if there is any, nothing is written. Importing the same
file again changes nothing (rows are keyed by member_id / txn_id; changed member rows are updated).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

import psycopg
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mallsense.site import Site

MAX_PROBLEMS = 50
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class ImportFileError(ValueError):
    """The file cannot be imported; ``problems`` lists (line, column, message). Nothing was written."""

    def __init__(self, path: Path, problems: list[tuple[int, str, str]]) -> None:
        self.path, self.problems = path, problems
        lines = [f"{path}:{line}: {column}: {message}" for line, column, message in problems[:MAX_PROBLEMS]]
        more = len(problems) - MAX_PROBLEMS
        super().__init__("nothing imported\n  " + "\n  ".join(lines) + (f"\n  … and {more} more" if more > 0 else ""))


def _flag(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "y"):
        return True
    if v in ("0", "false", "no", "n", ""):
        return False
    raise ValueError(f"{value!r} is not a yes/no value (use 1/0, true/false)")


class MemberRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    member_id: Key
    joined: date
    tier: Literal["standard", "silver", "gold", "vip"]
    consent_app: bool
    consent_wifi: bool
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=40, pattern=r"^[0-9+()\- ]*$")
    device_key: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")

    @field_validator("consent_app", "consent_wifi", mode="before")
    @classmethod
    def _yes_no(cls, v):
        return _flag(v) if isinstance(v, str) else v

    @field_validator("name", "phone", "device_key", mode="before")
    @classmethod
    def _blank_is_none(cls, v):
        return None if isinstance(v, str) and not v.strip() else v


class TransactionRow(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    txn_id: Key
    ts: datetime
    store_id: Key
    amount: Decimal = Field(ge=0, max_digits=12, decimal_places=2)
    member_id: Key | None = None

    @field_validator("ts")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2026-11-14T12:30:00+08:00")
        return v

    @field_validator("member_id", mode="before")
    @classmethod
    def _blank_is_none(cls, v):
        return None if isinstance(v, str) and not v.strip() else v


KINDS: dict[str, type[BaseModel]] = {"members": MemberRow, "transactions": TransactionRow}


@dataclass(frozen=True)
class ImportResult:
    rows: int
    inserted: int
    updated: int

    @property
    def unchanged(self) -> int:
        return self.rows - self.inserted - self.updated


def read_rows(path: Path, kind: str, site: Site | None = None) -> list[BaseModel]:
    """Parse and validate the whole file; raise ImportFileError listing every problem."""
    model = KINDS[kind]
    fields = model.model_fields
    required = {n for n, f in fields.items() if f.is_required()}
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ImportFileError(path, [(0, "", f"cannot read: {exc.strerror or exc}")]) from exc
    problems: list[tuple[int, str, str]] = []
    rows: list[BaseModel] = []
    with handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = sorted(required - set(header))
        unknown = sorted(set(header) - set(fields))
        if missing or unknown:
            msg = "; ".join(filter(None, [missing and f"missing columns {missing}",
                                          unknown and f"unknown columns {unknown}"]))
            raise ImportFileError(path, [(1, "header", f"{msg} (expected {sorted(fields)})")])
        seen: dict[str, int] = {}
        key = next(iter(fields))
        try:
            for record in reader:
                line = reader.line_num
                if None in record:
                    problems.append((line, "", "more values than columns"))
                    continue
                try:
                    row = model.model_validate({k: v for k, v in record.items() if v is not None})
                except ValidationError as exc:
                    for err in exc.errors():
                        column = str(err["loc"][0]) if err["loc"] else ""
                        problems.append((line, column, err["msg"].removeprefix("Value error, ")))
                    continue
                ident = getattr(row, key)
                if ident in seen:
                    problems.append((line, key, f"duplicate {key} {ident!r} (first on line {seen[ident]})"))
                seen[ident] = line
                if site is not None and kind == "transactions" and row.store_id not in site.store_by_id:
                    problems.append((line, "store_id", f"unknown store {row.store_id!r} in site {site.site.id!r}"))
                rows.append(row)
        except (csv.Error, UnicodeDecodeError) as exc:
            problems.append((reader.line_num, "", f"not a readable CSV file: {exc}"))
    if problems:
        raise ImportFileError(path, problems)
    return rows


def import_file(
    conn: psycopg.Connection, site_id: str, path: Path, kind: str, site: Site | None = None
) -> ImportResult:
    """Validate ``path`` whole, then write it in one transaction; returns counts of inserted/updated rows."""
    rows = read_rows(Path(path), kind, site)
    with conn.transaction(), conn.cursor() as cur:
        if kind == "members":
            cur.execute("CREATE TEMP TABLE stage_member (LIKE member) ON COMMIT DROP")
            with cur.copy("COPY stage_member (site, member_id, joined, tier, name, phone, consent_app,"
                          " consent_wifi, device_key) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row((site_id, r.member_id, r.joined, r.tier, r.name, r.phone, r.consent_app,
                                    r.consent_wifi, r.device_key))
            cur.execute(
                "INSERT INTO member SELECT * FROM stage_member ON CONFLICT (site, member_id) DO UPDATE SET"
                " joined = excluded.joined, tier = excluded.tier, name = excluded.name, phone = excluded.phone,"
                " consent_app = excluded.consent_app, consent_wifi = excluded.consent_wifi,"
                " device_key = excluded.device_key"
                " WHERE (member.joined, member.tier, member.name, member.phone, member.consent_app,"
                " member.consent_wifi, member.device_key) IS DISTINCT FROM (excluded.joined, excluded.tier,"
                " excluded.name, excluded.phone, excluded.consent_app, excluded.consent_wifi, excluded.device_key)"
                " RETURNING (xmax = 0)"
            )
        else:
            tz = site.site.timezone if site is not None else None
            return ImportResult(rows=len(rows), inserted=insert_transactions(cur, site_id, rows, tz), updated=0)
        flags = [r[0] for r in cur.fetchall()]
    return ImportResult(rows=len(rows), inserted=sum(flags), updated=len(flags) - sum(flags))


def insert_transactions(cur: psycopg.Cursor, site_id: str, rows: list[TransactionRow], site_tz: str | None = None
                        ) -> int:
    """Insert validated transactions (inside the caller's transaction); ones already stored are left alone.

    Returns how many were new."""
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS stage_txn (LIKE pos_transaction) ON COMMIT DELETE ROWS")
    cur.execute("TRUNCATE stage_txn")
    with cur.copy("COPY stage_txn (site, txn_id, ts, store_id, amount, member_id) FROM STDIN") as copy:
        for r in rows:
            copy.write_row((site_id, r.txn_id, r.ts, r.store_id, r.amount, r.member_id))
    cur.execute("INSERT INTO pos_transaction SELECT * FROM stage_txn ON CONFLICT DO NOTHING RETURNING ts")
    inserted = [r[0] for r in cur.fetchall()]
    if inserted:  # keep the per-day sales the cockpit reads current (local days of the site)
        tz = cur.execute("SELECT current_setting('TimeZone')").fetchone()[0] if site_tz is None else site_tz
        days = sorted({ts.astimezone(ZoneInfo(tz)).date() for ts in inserted})
        from models.materialize import refresh_sales

        refresh_sales(cur.connection, site_id, tz, days)
    return len(inserted)
