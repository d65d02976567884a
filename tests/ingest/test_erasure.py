"""A member withdraws consent, then asks to be erased: every derived row goes, purchases stay as anonymous sales."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import psycopg
import pytest

from ingest.erasure import UnknownMember, forget_member

SITE, TZ = "demo-mall", "Asia/Shanghai"
KEY, OTHER = "ab" * 16, "cd" * 16


@pytest.fixture
def conn(db_dsn: str):
    with psycopg.connect(db_dsn) as c:
        c.execute("INSERT INTO member (site, member_id, joined, tier, name, phone, consent_app, device_key) VALUES"
                  " (%s, 'M1', '2026-01-01', 'gold', 'Li Wei', '13800000000', true, %s),"
                  " (%s, 'M2', '2026-01-01', 'standard', 'Zhang San', '13900000000', true, %s)",
                  (SITE, KEY, SITE, OTHER))
        for dev, visit in ((KEY, 1), (OTHER, 2)):
            c.execute("INSERT INTO app_visit VALUES (%s, '2026-11-20', %s, %s, '2026-11-20 10:00+08',"
                      " '2026-11-20 11:00+08', 40)", (SITE, visit, dev))
            c.execute("INSERT INTO store_stay VALUES (%s, '2026-11-20', %s, %s, 'f1-01', '2026-11-20 10:10+08',"
                      " '2026-11-20 10:30+08', 12)", (SITE, visit, dev))
            c.execute("INSERT INTO ble_sighting (ts, site, sensor, seq, dev, rssi, tx_power, frame) VALUES"
                      " (now(), %s, 'ble-f1-1', 0, %s, -70, -59, 'ibeacon')", (SITE, dev))
        c.execute("INSERT INTO pos_transaction VALUES (%s, 'T1', '2026-11-20 10:20+08', 'f1-01', 100, 'M1'),"
                  " (%s, 'T2', '2026-11-20 10:25+08', 'f1-01', 50, 'M2')", (SITE, SITE))
        c.execute("INSERT INTO sales_day VALUES (%s, '2026-11-20', 'f1-01', 2, 150, 2, 150)", (SITE,))
        c.commit()
        yield c


def counts(c: psycopg.Connection, dev: str) -> tuple[int, int, int]:
    return tuple(c.execute(f"SELECT count(*) FROM {t} WHERE dev = %s", (dev,)).fetchone()[0]
                 for t in ("app_visit", "store_stay", "ble_sighting"))


def test_withdrawal_removes_presence_and_keeps_purchases(conn):
    result = forget_member(conn, SITE, TZ, "M1", erase=False)
    assert counts(conn, KEY) == (0, 0, 0) and counts(conn, OTHER) == (1, 1, 1)
    assert conn.execute("SELECT consent_app, device_key, name FROM member WHERE member_id = 'M1'").fetchone() == (
        False, None, "Li Wei")
    assert conn.execute("SELECT member_id FROM pos_transaction WHERE txn_id = 'T1'").fetchone() == ("M1",)
    assert result.rows == {"store_stay": 1, "app_visit": 1, "ble_sighting": 1, "zone_event": 0}
    assert "CRM" in result.summary()


def test_erasure_deletes_the_member_and_anonymises_their_sales(conn):
    forget_member(conn, SITE, TZ, "M1", erase=True)
    assert conn.execute("SELECT member_id FROM member ORDER BY 1").fetchall() == [("M2",)]
    assert conn.execute("SELECT txn_id, member_id FROM pos_transaction ORDER BY 1").fetchall() == [
        ("T1", None), ("T2", "M2")]
    assert conn.execute("SELECT transactions, sales::int, member_transactions, member_sales::int FROM sales_day"
                        " WHERE day = %s", (date(2026, 11, 20),)).fetchone() == (2, 150, 1, 50)
    assert counts(conn, KEY) == (0, 0, 0) and counts(conn, OTHER) == (1, 1, 1)


def test_an_unknown_member_changes_nothing(conn):
    with pytest.raises(UnknownMember, match="M9"):
        forget_member(conn, SITE, TZ, "M9", erase=True)
    assert conn.execute("SELECT count(*) FROM member").fetchone()[0] == 2


def test_the_command(db_dsn, conn):
    cmd = [sys.executable, "-m", "mallsense.cli", "forget", "M2", "--erase", "--dsn", db_dsn]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "member M2: erased" in done.stdout
    missing = subprocess.run([*cmd[:4], "M404", "--dsn", db_dsn], capture_output=True, text=True, check=False)
    assert missing.returncode != 0 and "no member 'M404'" in missing.stderr
