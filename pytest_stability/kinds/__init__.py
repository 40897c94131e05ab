"""The registry of check kinds: the plugin, the store and the report iterate over it and never name a check.

Each kind is one module holding one :class:`~pytest_stability.kinds.base.CheckKind` (its items, the options it
needs, its run, its message lines, its summary row, its regression rule and its figures); registering it is one
line below. The order is the paper's, and the order in which a test's items run. Standard library only at import
time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..records import Numbers, Record
from . import fuzz, samples, structure, worst_case
from .base import CheckKind, CheckSpec, Skipped

REGISTRY: dict[str, CheckKind] = {k.name: k for k in (worst_case.KIND, structure.KIND, samples.KIND, fuzz.KIND)}
CHECKS = tuple(REGISTRY)


def kind(check: str) -> CheckKind:
    """The registered kind of ``check`` (a name from :data:`CHECKS`)."""
    return REGISTRY[check]


def record(data: Mapping[str, Any]) -> Record:
    """The typed record of a JSON record, its numbers read by its check's kind (a check not registered here keeps
    them all in ``extra``)."""
    check = REGISTRY.get(data.get("check"))  # type: ignore[arg-type]
    return Record.from_json(data, check.numbers_type if check is not None else Numbers)


def expand(settings: dict[str, Any]) -> list[CheckSpec]:
    """The items of a @stable test with these resolved options, check by check."""
    return [spec for check in settings["checks"] for spec in REGISTRY[check].specs(settings)]


__all__ = ["CHECKS", "REGISTRY", "CheckKind", "CheckSpec", "Skipped", "expand", "kind", "record"]
