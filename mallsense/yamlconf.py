"""YAML loading that remembers where every value came from, so validation errors name file, line and field."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Loc = tuple[str | int, ...]


class ConfigError(ValueError):
    """A configuration file is unreadable or invalid. ``problems`` lists (line, field, message)."""

    def __init__(self, path: Path | str, problems: Sequence[tuple[int | None, str, str]]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        lines = [
            f"{self.path}:{line if line is not None else '?'}: {field or '(file)'}: {message}"
            for line, field, message in self.problems
        ]
        super().__init__("invalid configuration\n  " + "\n  ".join(lines))


def _walk(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            out[key] = _walk(value_node, (*loc, key), lines)
            lines[(*loc, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(child, (*loc, i), lines) for i, child in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_yaml(path: Path | str) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML and return (data, {location path: 1-based line})."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(path, [(None, "", f"cannot read: {exc.strerror or exc}")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(path, [(line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from exc
    if node is None:
        raise ConfigError(path, [(1, "", "the file is empty")])
    lines: dict[Loc, int] = {}
    return _walk(node, (), lines), lines


def field_name(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def line_of(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of the deepest known prefix of ``loc``."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


class CrossChecked(Protocol):
    def reference_problems(self) -> list[tuple[Loc, str]]: ...


M = TypeVar("M", bound=BaseModel)


def validate_file(path: Path | str, model: type[M]) -> M:
    """Load ``path`` and validate it as ``model``; every problem becomes a line of one ConfigError.

    Field-level rules come from pydantic; rules across fields (references between sections) come from the model's
    ``reference_problems()`` if it has one, so that they too carry the location of the offending value.
    """
    data, lines = load_yaml(path)
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append((line_of(lines, loc), field_name(loc), err["msg"].removeprefix("Value error, ")))
        raise ConfigError(path, problems) from exc
    checker = getattr(result, "reference_problems", None)
    if checker is not None:
        cross = checker()
        if cross:
            raise ConfigError(path, [(line_of(lines, loc), field_name(loc), msg) for loc, msg in cross])
    return result


def sensor_entry(path: Path | str, model: type[BaseModel], section: str, sensor: str) -> Any:
    """The entry of ``sensor`` in an edge config file of ``model`` (``<section>: [{sensor: …, …}, …]``)."""
    loaded = validate_file(path, model)
    entries = getattr(loaded, section)
    for entry in entries:
        if entry.sensor == sensor:
            return entry
    raise ValueError(f"{path}: no {section} entry for sensor {sensor!r} (has: {', '.join(e.sensor for e in entries)})")
