"""What a check kind is: the one object that the plugin, the store and the report ask about a check.

A :class:`CheckKind` holds everything that differs between checks: how a @stable test expands into items
(:meth:`~CheckKind.specs`), which options it needs (:meth:`~CheckKind.require`), how an item runs
(:meth:`~CheckKind.run`), what its failure message adds (:meth:`~CheckKind.settings_lines`,
:meth:`~CheckKind.rerun_lines`), its summary row (:meth:`~CheckKind.row`), when a later run is less stable
(:meth:`~CheckKind.regressions`) and its part of the HTML report (:meth:`~CheckKind.report`,
:meth:`~CheckKind.figures`). Its record's numbers are a dataclass of its own (:attr:`~CheckKind.numbers_type`),
read by attribute. Standard library only at import time: the plugin expands tests and prints the summary
without torch; a kind imports the check's algorithm inside :meth:`~CheckKind.compute`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..errors import OptionError
from ..records import Numbers, Record

NO_STORED_CASE = "--stability-replay-only: no stored worst case for this item (run without the flag first)"

Worse = Callable[[str, Any, Any, bool, str], "str | None"]
"""``worse(rule, before, after, higher_is_worse, unit)``: the reason ``after`` is worse than ``before`` beyond the
comparison rule named ``rule``, or None (also when the rule is not in force or a value is missing)."""


@dataclass(frozen=True)
class CheckSpec:
    """One expanded item of a @stable test: its check, the eps or detail it covers, and its test id. No tensors."""

    check: str
    id: str
    eps: float | None = None
    detail: str | None = None


@dataclass
class Skipped:
    """An item that has nothing to run (e.g. nothing stored to replay): pytest skips it with ``reason``."""

    reason: str


def fmt(value: Any, spec: str = ".3g") -> str:
    """A number of a record for a table cell: "-" when missing, strings ("inf") as they are."""
    return "-" if value is None else (value if isinstance(value, str) else format(value, spec))


def number(value: Any) -> float | None:
    """A record's number as a float ("inf", "-inf", "nan" from JSON included), None when missing or not a number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _same(limit: float, value: Any) -> bool:
    """Whether a limit is this option's value (the rule that set it)."""
    return number(value) is not None and math.isclose(limit, number(value), rel_tol=1e-6)


def kappa_limit_text(ratio: Any, limit: Any, max_ratio: Any, baseline_factor: Any) -> str:
    """The limit cell of a κ verdict: which side κ is on, the limit, and the rule that set it
    (``≤ 3.98 (2 × κ_g)``, ``> 3 (max_ratio)``); the limit is the smaller of the two (checks.rules.kappa_limit)."""
    kappa, lim = number(ratio), number(limit)
    if lim is None:
        return "-"
    if math.isinf(lim):
        return "none"
    factor = number(baseline_factor)
    rule = "max_ratio" if _same(lim, max_ratio) else (f"{factor:g} × κ_g" if factor is not None else "?")
    return f"{'≤' if kappa is not None and kappa <= lim else '>'} {fmt(limit)} ({rule})"


def recovery_limit_text(recovery: Any, limit: Any, min_recovery: Any, recovery_margin: Any) -> str:
    """The limit cell of a ρ verdict: which side ρ is on, the limit and its rule (``< 0.69 (ρ_g − 0.30)``,
    ``≥ 0.50 (min_recovery)``, or none when the baseline loses the detail too: checks.rules.detail_lost)."""
    rho, lim = number(recovery), number(limit)
    if lim is None:
        lim = number(min_recovery)
    if lim is None:
        return "-"
    if lim == -math.inf:
        return "none (ρ_g too low)"
    margin = number(recovery_margin)
    rule = "min_recovery" if _same(lim, min_recovery) else (f"ρ_g − {margin:.2f}" if margin is not None else "?")
    return f"{'≥' if rho is not None and rho >= lim else '<'} {fmt(lim, '.2f')} ({rule})"


def lacks_criterion(values: dict[str, Any]) -> bool:
    """Whether a κ verdict has nothing to judge by: no absolute limit and no baseline to compare with."""
    return values["max_ratio"] is None and (values["baseline"] is None or values["baseline_factor"] is None)


class CheckKind:
    """One check of the stability test. Subclasses set ``name`` and override what differs from these defaults.

    ``shared``: one run serves every item of a test (all eps, all details), so the check's verdict is all of
    theirs. ``rule``: the metric that ``--stability-compare-fail`` rules of this check name (None: no rule).
    ``numbers_type``: the dataclass of its record's numbers (every key its CheckResult's numbers have).
    ``numbers``: the record fields the HTML report lists for an item.
    """

    name: str = ""
    shared: bool = False
    rule: str | None = None
    numbers_type: type[Numbers] = Numbers
    numbers: tuple[str, ...] = ()

    def specs(self, settings: dict[str, Any]) -> list[CheckSpec]:
        """The items a test with these resolved options expands into."""
        return [CheckSpec(self.name, self.name)]

    def require(self, values: dict[str, Any], sources: dict[str, str]) -> bool:
        """Whether the check runs with these options: False drops it quietly (a default that does not apply),
        an :class:`OptionError` refuses options that ask for it without what it needs."""
        return True

    def run(self, ctx: Any) -> Any:
        """The item's :class:`~pytest_stability.checks.CheckResult`, or :class:`Skipped`. ``ctx`` is the runner's
        item context (model, images, settings, session, cache)."""
        if ctx.session.replay_only:
            return Skipped(NO_STORED_CASE)
        return self.compute(ctx)

    def compute(self, ctx: Any) -> Any:
        raise NotImplementedError

    def after(self, ctx: Any, result: Any) -> None:
        """Called once the item's record is made (the worst case stores its perturbation for replay)."""

    def settings_lines(self, ctx: Any, numbers: Any) -> list[str]:
        """The failure message's lines that say how the check was set up (``numbers``: the record's)."""
        return []

    def rerun_lines(self, ctx: Any, numbers: Any, command: str) -> list[str]:
        """The failure message's lines that say how to run the item again; ``command`` runs the item (no seed)."""
        return [f"  rerun: {command} --stability-seed {ctx.seed}"]

    def row(self, record: Record) -> tuple[str, str, str, str]:
        """(what, metric, limit, baseline) of the summary row of one record."""
        raise NotImplementedError

    def regressions(self, old: Record, new: Record, worse: Worse) -> list[str]:
        """Why ``new`` is less stable than ``old`` by this check's metric (``worse`` applies the rules)."""
        return []

    def overview(self, report_dir: Any, records: list[Record]) -> str:
        """HTML for all of this check's records of a run, shown under the report's overview (e.g. a plot across
        them); ``records`` are this check's only."""
        return ""

    def report(self, report_dir: Any, record: Record) -> list[str]:
        """HTML the report shows for the record whether or not its tensors were saved (e.g. a plot of numbers)."""
        return []

    def figures(self, fig: Any, tensors: dict[str, Any], record: Record) -> str:
        """The record's pictures as HTML, drawn from its saved tensors with ``fig`` (a report.figures.Figures)."""
        return ""


__all__ = ["NO_STORED_CASE", "CheckKind", "CheckSpec", "OptionError", "Skipped", "Worse", "fmt", "kappa_limit_text",
           "lacks_criterion", "number", "recovery_limit_text"]
