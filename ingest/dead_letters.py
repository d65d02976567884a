"""Dead letters: every message ingest refused, with its reason, and as much of its payload as the limits allow.

A refused payload may hold device keys, so it is kept no longer than device-level rows (the retention job in
:mod:`ingest.policies` removes it, the metadata row stays longer). And a node must not fill the disk with refused
messages: each stored payload is capped at :attr:`DeadLetterLimits.payload_cap` bytes, and each node may store at most
:attr:`DeadLetterLimits.node_budget` payload bytes per rolling :attr:`DeadLetterLimits.budget_window`; beyond that only
the metadata is stored. Nothing goes unrecorded: every letter keeps its topic, reason, detail, full payload length,
the SHA-256 of the whole payload and ``payload_kept`` ('whole', 'truncated', 'over_budget', later 'expired').
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import psycopg

KEY_CHARS = 200  # site and node columns are cut to this (they are indexed; a topic may be 64 KiB long)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str
    reason: str
    detail: str
    payload: bytes


@dataclass(frozen=True)
class DeadLetterLimits:
    """How much of refused payloads ingest stores.

    Args:
        payload_cap: bytes stored of one payload (its first ones); a longer payload is stored 'truncated'.
        node_budget: payload bytes one node may have stored within the last ``budget_window``; a letter that does
            not fit is stored without its payload ('over_budget').
        budget_window: the budget's rolling window.
    """

    payload_cap: int = 64 * 1024
    node_budget: int = 16 * 1024 * 1024
    budget_window: timedelta = timedelta(days=1)

    def __post_init__(self) -> None:
        if self.payload_cap < 0 or self.node_budget < 0:
            raise ValueError("payload_cap and node_budget must be >= 0 bytes")
        if self.budget_window <= timedelta(0):
            raise ValueError("budget_window must be positive")


DEFAULT_LIMITS = DeadLetterLimits()


def clean_text(value: str) -> str:
    """PostgreSQL text cannot hold NUL; anything from the wire may."""
    return value.replace("\x00", "\\x00")


def source(topic: str) -> tuple[str, str]:
    """(site, node) a letter counts against: the topic's <site> and <node> levels under ``mallsense/v1/`` (the
    levels the broker's ACL ties to a node's login), else ('', the topic's first two levels)."""
    levels = clean_text(topic).split("/")
    if len(levels) >= 4 and levels[0] == "mallsense" and levels[1] == "v1":
        return levels[2][:KEY_CHARS], levels[3][:KEY_CHARS]
    return "", "/".join(levels[:2])[:KEY_CHARS]


def write_dead_letters(cur: psycopg.Cursor, dead: Sequence[DeadLetter], limits: DeadLetterLimits) -> int:
    """Store the letters within the flush's transaction; returns how many were stored without their payload.

    Each node's budget is read under a transaction-scoped advisory lock, so ingest workers sharing a subscription
    cannot overspend it together.
    """
    keys = [source(d.topic) for d in dead]
    used: dict[tuple[str, str], int] = {}
    for site, node in sorted(set(keys)):  # one order for every worker: no deadlock
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"mallsense.dead_letter|{site}|{node}",))
        cur.execute("SELECT coalesce(sum(octet_length(payload)), 0) FROM dead_letter WHERE site = %s AND node = %s"
                    " AND payload IS NOT NULL AND received > now() - %s", (site, node, limits.budget_window))
        used[(site, node)] = cur.fetchone()[0]
    over_budget = 0
    with cur.copy("COPY dead_letter (topic, reason, detail, payload, site, node, payload_bytes, payload_sha256,"
                  " payload_kept) FROM STDIN") as copy:
        for d, key in zip(dead, keys, strict=True):
            kept: bytes | None = d.payload[:limits.payload_cap]
            state = "whole" if len(kept) == len(d.payload) else "truncated"
            if used[key] + len(kept) > limits.node_budget:
                kept, state = None, "over_budget"
                over_budget += 1
            else:
                used[key] += len(kept)
            copy.write_row((clean_text(d.topic), clean_text(d.reason), clean_text(d.detail), kept, *key,
                            len(d.payload), hashlib.sha256(d.payload).digest(), state))
    return over_budget
