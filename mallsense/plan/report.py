"""What an import did, per floor, and what a person still has to look at."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class FloorSummary:
    """One imported floor: its frame, its size against floor_info, and what its features became."""

    id: str
    key: str
    name: str
    level: int
    level_why: str
    source: str
    frame: str
    width_m: float
    height_m: float
    outline: str
    outline_parts: int
    info_width_m: float | None = None
    info_height_m: float | None = None
    features: int = 0
    stores: int = 0
    zones: Counter[str] = field(default_factory=Counter)
    dropped: int = 0

    @property
    def scale_deviation(self) -> float | None:
        """Largest relative difference between the projected size and floor_info's (None without floor_info)."""
        if not self.info_width_m or not self.info_height_m:
            return None
        return max(abs(self.width_m / self.info_width_m - 1), abs(self.height_m / self.info_height_m - 1))


@dataclass(slots=True)
class ImportReport:
    """The import's account: floors, features not classified or dropped, items needing a person, notes.

    ``feature_zone`` maps each imported plan feature (``<floor>:<feature id>``, or ``<floor>:#<index>`` without an
    id) to the zone it became, so a re-import or a reviewer can trace every zone back to the plan.
    """

    floors: list[FloorSummary] = field(default_factory=list)
    unclassified: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    feature_zone: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for floor, summary in zip(out["floors"], self.floors, strict=True):
            floor["zones"] = dict(summary.zones)
            floor["scale_deviation"] = summary.scale_deviation
        return out

    def text(self, *, limit: int = 40) -> str:
        """A readable summary; long lists are cut at ``limit`` lines (the full lists are in :meth:`as_dict`)."""
        lines = []
        for f in self.floors:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(f.zones.items()))
            lines.append(f"floor {f.id} {f.name!r} (level {f.level}, {f.level_why}) from {f.source}")
            lines.append(f"  frame: {f.frame}")
            size = f"  size {f.width_m:.3f} × {f.height_m:.3f} m"
            if f.scale_deviation is not None:
                size += (f"; floor_info {f.info_width_m:.3f} × {f.info_height_m:.3f} m "
                         f"(largest difference {f.scale_deviation * 1e6:.1f} ppm)")
            lines.append(size)
            lines.append(f"  outline: {f.outline}")
            lines.append(f"  {f.features} features → {f.stores} stores; zones: {kinds}; {f.dropped} dropped")
        for title, items in (("needs attention", self.todo), ("unclassified (category 'unclassified')",
                                                               self.unclassified),
                             ("dropped", self.dropped), ("notes", self.notes)):
            if items:
                lines.append(f"{title} ({len(items)}):")
                lines += [f"  - {item}" for item in items[:limit]]
                if len(items) > limit:
                    lines.append(f"  … and {len(items) - limit} more")
        return "\n".join(lines)
