"""The record of one stability item, typed: what the JSON report holds for it, read by attribute.

A :class:`Record` is the fields every item has (node id, check, model, verdict, the declared expectation, where its
tensors are) and its check's own :class:`Numbers`, a dataclass each check kind declares
(:attr:`~pytest_stability.kinds.base.CheckKind.numbers_type`). The JSON record is flat, as docs/reports.md
documents it (schema version 1): :meth:`Record.to_json` writes the common fields and the numbers side by side, and
:meth:`Record.from_json` reads them back. Fields this version does not know (a newer writer's) are kept in
``extra`` and written back, so a record read and written again is unchanged. Values stay as JSON holds them:
±inf and NaN as the strings "inf", "-inf", "nan"; tensors as lists. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

OPTIONAL = {"optional": True}
"""Field metadata: the field is written only when it is set (not None), as a key some records lack."""


def optional() -> Any:
    """A field written to JSON only when set: ``replayed: bool | None = optional()``."""
    return field(default=None, metadata=OPTIONAL)


def _to_json(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)
            if f.init and not (f.metadata.get("optional") and getattr(obj, f.name) is None)}


def _known(cls: type, data: Mapping[str, Any]) -> dict[str, Any]:
    return {f.name: data[f.name] for f in fields(cls) if f.init and f.name in data}


@dataclass
class Numbers:
    """A check's own numbers in a record. Subclasses declare them as fields with defaults (None where a record
    may lack them: a record read from an older or partial file still parses); :func:`optional` fields are
    written only when set. The base class, with no fields, serves a check this version does not know."""

    @property
    def margin(self) -> float | str | None:
        """The verdict's relative margin to its limit (positive: on the stable side), for checks that have one."""
        return None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Numbers:
        return cls(**_known(cls, data))

    def to_json(self) -> dict[str, Any]:
        return _to_json(self)


@dataclass
class Record:
    """One item's record: the fields every check's record has, its check's :class:`Numbers`, and ``extra``,
    what this version does not know of the JSON it was read from."""

    nodeid: str = "?"
    check: str = "?"
    model: str = "?"
    id: str = ""
    passed: bool = False
    explanation: str = ""
    baseline: str | None = None
    seed: int | None = None
    image_shape: list[int] | None = None
    check_verdict: str | None = None
    expected: str | None = None
    expected_note: str = ""
    matches: bool | None = None
    mismatch_reason: str | None = None
    regression: list[str] = field(default_factory=list)
    tensors_file: str | None = optional()
    numbers: Numbers = field(default_factory=Numbers, metadata={"nested": True})
    extra: dict[str, Any] = field(default_factory=dict, metadata={"nested": True})

    @property
    def margin(self) -> float | str | None:
        return self.numbers.margin

    @classmethod
    def from_json(cls, data: Mapping[str, Any], numbers_type: type[Numbers] = Numbers) -> Record:
        """The record of a JSON record whose check's numbers are ``numbers_type``."""
        common = {k: v for k, v in _known(cls, data).items() if not cls.__dataclass_fields__[k].metadata.get("nested")}
        numbers = numbers_type.from_json(data)
        taken = set(common) | set(numbers.to_json())
        return cls(**common, numbers=numbers, extra={k: v for k, v in data.items() if k not in taken})

    def to_json(self) -> dict[str, Any]:
        """The flat JSON record: the common fields, the check's numbers and the unknown fields kept."""
        common = {k: v for k, v in _to_json(self).items() if k not in ("numbers", "extra")}
        return {**self.extra, **self.numbers.to_json(), **common}


__all__ = ["Numbers", "Record", "optional"]
