"""The CI gate's comparison: when is a later run less stable than a stored one, under which rules.

A rule names the metric a check kind is compared by (κ ``ratio`` for the worst case, ``recovery`` ρ for the
structure check, ``psnr`` per sampling ratio for the more-samples check) and the worsening it tolerates,
absolute or relative (``ratio:10%,psnr:0.5,recovery:0.1``). Each kind says which of its numbers are worse
(:meth:`~pytest_stability.kinds.base.CheckKind.regressions`); a verdict that turned from stable to unstable is
always a regression. Standard library only; shared by the plugin (``--stability-compare``) and
``pytest-stability compare``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..kinds import REGISTRY, record
from ..records import Record
from .store import load_results

DEFAULT_RULES = "ratio:10%,psnr:0.5,recovery:0.1"
RULES = tuple(part.partition(":")[0] for part in DEFAULT_RULES.split(","))
"""The rules' names: every registered kind's ``rule`` has its default tolerance above (a test checks it)."""


def parse_rules(text: str | None, flag: str = "--stability-compare-fail") -> dict[str, tuple[float, bool]]:
    """"ratio:10%,psnr:0.5,recovery:0.1" → {name: (amount, relative)}; errors name ``flag``, where the text came
    from."""
    rules: dict[str, tuple[float, bool]] = {}
    for part in (text or DEFAULT_RULES).replace(" ", "").split(","):
        if not part:
            continue
        name, _, amount = part.partition(":")
        if name not in RULES or not amount:
            raise ValueError(f"{flag}: {part!r} is not name:amount with name "
                             f"{', '.join(RULES[:-1])} or {RULES[-1]} (e.g. {DEFAULT_RULES}).")
        relative = amount.endswith("%")
        try:
            value = float(amount.rstrip("%"))
        except ValueError:
            raise ValueError(f"{flag}: {amount!r} in {part!r} is not a number.") from None
        if value < 0:
            raise ValueError(f"{flag}: {part!r} must not be negative.")
        rules[name] = (value / 100 if relative else value, relative)
    return rules


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if value == "inf":
        return float("inf")
    return float(value) if isinstance(value, (int, float)) else None


def rule_of(reason: str) -> str:
    """The comparison rule a reason of :func:`regressions` broke, short, for a summary cell: "ratio > 10 %" from
    "ratio 2.337 → 2.843 (worse by 0.507 > 10 %)" (with or without the run's prefix "less stable than the stored
    run (...): "); "stable → unstable" for a verdict that flipped; the reason itself when it is neither."""
    found = _RULE.search(reason)
    if found:
        return f"{found['name']} > {found['limit']}"
    return "stable → unstable" if reason.endswith("verdict stable → unstable") else reason


_RULE = re.compile(r"(?:^|: )(?P<name>\w+) [^:→]+ → [^:(]+ \(worse by [^>]+ > (?P<limit>[^)]+)\)$")


def regressions(old: Record, new: Record, rules: dict[str, tuple[float, bool]]) -> list[str]:
    """Why ``new`` is less stable than ``old`` under ``rules`` (empty when it is not)."""

    def worse(name: str, before: Any, after: Any, higher_is_worse: bool, unit: str = "") -> str | None:
        before, after = _number(before), _number(after)
        if name not in rules or before is None or after is None:
            return None
        amount, relative = rules[name]
        change = (after - before) if higher_is_worse else (before - after)
        allowed = amount * abs(before) if relative else amount
        if change <= allowed:
            return None
        limit = f"{100 * amount:g} %" if relative else f"{amount:g}{unit}"
        return f"{name} {before:.4g} → {after:.4g}{unit} (worse by {change:.3g}{unit} > {limit})"

    kind = REGISTRY.get(new.check)
    reasons = kind.regressions(old, new, worse) if kind is not None else []
    if old.passed and not new.passed:
        reasons.append("verdict stable → unstable")
    return reasons


def compare_files(old_path: Path, new_path: Path, rules_text: str | None = None,
                  flag: str = "--stability-compare-fail") -> list[tuple[str, list[str]]]:
    """(node id, reasons) for every result of ``new_path`` that got worse than in ``old_path``; ``flag`` names
    where ``rules_text`` came from in its errors."""
    rules = parse_rules(rules_text, flag)
    old, new = load_results(old_path), load_results(new_path)
    return [(nodeid, why) for nodeid, data in sorted(new.items()) if nodeid in old
            for why in [regressions(record(old[nodeid]), record(data), rules)] if why]
