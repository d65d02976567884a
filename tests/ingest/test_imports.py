"""CRM and POS imports: the simulator's exports go in whole, again changes nothing, bad files change nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import psycopg
import pytest

from ingest.imports import ImportFileError, import_file
from mallsense.site import load_site
from simulator.run import simulate

pytestmark = pytest.mark.integration
SITE = load_site()


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate(SITE, date(2026, 11, 17), 1, broker=None, outdir=out, scale=0.03, seed=9, progress=False)
    return out / "truth"


def lines(path: Path) -> int:
    return sum(1 for _ in path.open()) - 1


def count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_exports_import_whole_and_reimport_changes_nothing(db_dsn, exports):
    with psycopg.connect(db_dsn) as conn:
        members = import_file(conn, "demo-mall", exports / "members.csv", "members", SITE)
        txns = import_file(conn, "demo-mall", exports / "transactions.csv", "transactions", SITE)
        assert members.inserted == lines(exports / "members.csv")
        assert txns.inserted == lines(exports / "transactions.csv")
        again = [import_file(conn, "demo-mall", exports / f"{k}.csv", k, SITE) for k in ("members", "transactions")]
    assert [(r.inserted, r.updated, r.unchanged) for r in again] == [
        (0, 0, members.rows), (0, 0, txns.rows)]
    assert count(db_dsn, "member") == members.rows and count(db_dsn, "pos_transaction") == txns.rows


def test_a_changed_member_row_is_updated(db_dsn, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("member_id,joined,tier,consent_app,consent_wifi\nM1,2024-01-02,standard,1,0\n")
    with psycopg.connect(db_dsn) as conn:
        import_file(conn, "demo-mall", path, "members")
        path.write_text("member_id,joined,tier,consent_app,consent_wifi\nM1,2024-01-02,gold,1,0\n")
        result = import_file(conn, "demo-mall", path, "members")
        assert (result.inserted, result.updated) == (0, 1)
        assert conn.execute("SELECT tier FROM member WHERE member_id = 'M1'").fetchone()[0] == "gold"


def test_bad_rows_are_named_and_nothing_is_written(db_dsn, tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text(
        "txn_id,ts,store_id,amount,member_id\n"
        "T1,2026-11-14T12:00:00+08:00,f1-01,10.50,\n"
        "T2,yesterday,f1-01,3.00,M1\n"
        "T3,2026-11-14T12:05:00,f1-01,3.00,\n"
        "T4,2026-11-14T12:06:00+08:00,f1-01,-1,\n"
        "T5,2026-11-14T12:06:00+08:00,f9-99,2.00,\n"
        "T1,2026-11-14T12:07:00+08:00,f1-01,1.00,\n"
    )
    with psycopg.connect(db_dsn) as conn, pytest.raises(ImportFileError) as err:
        import_file(conn, "demo-mall", path, "transactions", SITE)
    text = str(err.value)
    assert f"{path}:3: ts:" in text
    assert f"{path}:4: ts: needs a UTC offset" in text
    assert f"{path}:5: amount:" in text
    assert f"{path}:6: store_id: unknown store 'f9-99'" in text
    assert f"{path}:7: txn_id: duplicate txn_id 'T1' (first on line 2)" in text
    assert count(db_dsn, "pos_transaction") == 0


def test_header_problems_are_reported(db_dsn, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("member_id,joined,tier,consent,colour\nM1,2024-01-02,gold,1,red\n")
    with psycopg.connect(db_dsn) as conn, pytest.raises(ImportFileError, match=r":1: header: missing columns"):
        import_file(conn, "demo-mall", path, "members")
