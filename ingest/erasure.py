"""Requests of members about their data: withdrawal of consent and erasure (GDPR Art. 7(3), 17; PIPL Art. 15, 47).

* **withdraw**: the member's presence consents are cleared, their app beacon's stable key is unlinked, and every row
  derived from that key is deleted: materialized visits and store stays, and the raw beacon sightings still within
  retention. Purchases stay linked to the member (that is the loyalty contract, not presence consent).
* **erase**: withdraw, then delete the member (name, phone, tier) and unlink their transactions, which stay as
  anonymous sales; the daily sales figures of the affected days are recomputed so member totals no longer count them.

One transaction: all of it or nothing. The CRM must be told too, or the next CRM import brings the member back: the
result says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg

from models.materialize import refresh_sales


class UnknownMember(LookupError):
    pass


@dataclass
class ErasureResult:
    member_id: str
    erased: bool
    rows: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        done = ", ".join(f"{n} {table}" for table, n in self.rows.items() if n) or "no rows"
        what = "erased" if self.erased else "consent withdrawn"
        return (f"member {self.member_id}: {what}; removed or unlinked {done}. Update the CRM export as well, or the "
                "next import restores what the CRM still holds.")


def forget_member(conn: psycopg.Connection, site_id: str, tz: str, member_id: str, *, erase: bool) -> ErasureResult:
    """Withdraw a member's presence consent (and with ``erase`` delete the member); commits on success."""
    result = ErasureResult(member_id, erase)
    with conn.transaction():
        row = conn.execute("SELECT device_key FROM member WHERE site = %s AND member_id = %s FOR UPDATE",
                           (site_id, member_id)).fetchone()
        if row is None:
            raise UnknownMember(f"no member {member_id!r} at site {site_id!r}")
        key = row[0]
        if key:
            for table in ("store_stay", "app_visit", "ble_sighting", "zone_event"):
                result.rows[table] = conn.execute(f"DELETE FROM {table} WHERE site = %s AND dev = %s",
                                                  (site_id, key)).rowcount
        conn.execute("UPDATE member SET consent_app = false, consent_wifi = false, device_key = NULL"
                     " WHERE site = %s AND member_id = %s", (site_id, member_id))
        if erase:
            days = [d for (d,) in conn.execute(
                "SELECT DISTINCT (ts AT TIME ZONE %s)::date FROM pos_transaction WHERE site = %s AND member_id = %s",
                (tz, site_id, member_id))]
            result.rows["pos_transaction"] = conn.execute(
                "UPDATE pos_transaction SET member_id = NULL WHERE site = %s AND member_id = %s",
                (site_id, member_id)).rowcount
            if days:
                refresh_sales(conn, site_id, tz, days)
            result.rows["member"] = conn.execute("DELETE FROM member WHERE site = %s AND member_id = %s",
                                                 (site_id, member_id)).rowcount
    return result
