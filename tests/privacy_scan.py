"""Finding raw MAC addresses in text: every form (colons, dashes, bare, any case, inside longer hex strings)."""

from __future__ import annotations

import re

_SEPARATED = re.compile(rb"(?i)\b[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}\b")
_HEX_RUN = re.compile(rb"(?i)[0-9a-f]{12,}")


def normal(mac: str) -> str:
    return mac.replace(":", "").replace("-", "").lower()


def macs_in(blob: bytes, wanted: set[str]) -> set[str]:
    """The addresses of ``wanted`` (any notation) that occur in ``blob`` in any notation."""
    want = {normal(m) for m in wanted}
    found = set()
    for m in _SEPARATED.finditer(blob):
        bare = normal(m.group(0).decode())
        if bare in want:
            found.add(bare)
    for m in _HEX_RUN.finditer(blob):
        run = m.group(0).decode().lower()
        for i in range(len(run) - 11):
            if run[i:i + 12] in want:
                found.add(run[i:i + 12])
    return found
