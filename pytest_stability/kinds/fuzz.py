"""The fuzz check as the plugin runs it: one item that draws perturbations and details with hypothesis.

Found failures live in hypothesis's example database in pytest's cache folder, keyed by node id, the model's
weights and the case, and are replayed first on the next run; with ``--stability-replay-only`` only they run.
Fresh inputs each run unless ``--stability-seed`` is given. The report draws a failing perturbation as the
worst-case check draws its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import Numbers, Record
from .base import CheckKind, OptionError, Skipped, fmt, kappa_limit_text, lacks_criterion, recovery_limit_text
from .worst_case import perturbation_figures


@dataclass
class FuzzNumbers(Numbers):
    """A fuzz record's numbers (docs/reports.md): how many inputs were drawn and judged, the input shown (the
    shrunk failure, else the worst) with its κ or ρ against the limit, the worst of each kind, how the run ended,
    and the failure rate over the inputs drawn with its 95 % interval."""

    examples: int | None = None
    evaluated: int | None = None
    failures: int | None = None
    kinds: list[str] | None = None
    eps: float | None = None
    max_ratio: float | None = None
    baseline_factor: float | None = None
    min_recovery: float | None = None
    recovery_margin: float | None = None
    input: str | None = None
    input_kind: str | None = None
    ratio: float | str | None = None
    limit: float | str | None = None
    baseline_ratio: float | str | None = None
    recovery: float | str | None = None
    baseline_recovery: float | str | None = None
    image: int | None = None
    relative_perturbation: float | None = None
    worst_ratio: float | str | None = None
    worst_ratio_input: str | None = None
    worst_recovery: float | str | None = None
    worst_recovery_input: str | None = None
    first_failure: dict[str, Any] | None = None
    found_after: int | None = None
    by_kind: dict[str, Any] | None = None
    fuzz_seed: int | None = None
    database: bool | None = None
    stopped: str | None = None
    replay_only: bool | None = None
    evaluations: dict[str, Any] | None = None
    single_spike: dict[str, Any] | None = None
    fuzz_rate: bool | None = None
    failure_rate: float | None = None
    failure_rate_ci: list[float] | None = None
    failure_rate_draws: int | None = None


class Fuzz(CheckKind):
    name = "fuzz"
    numbers_type = FuzzNumbers
    numbers = ("evaluated", "input_kind", "ratio", "limit", "baseline_ratio", "recovery", "min_recovery",
               "failure_rate", "failure_rate_ci")

    def require(self, values: dict[str, Any], sources: dict[str, str]) -> bool:
        if values["fuzz"] == 0:
            if sources["checks"] != "default":
                raise OptionError(f"checks (from {sources['checks']}) includes 'fuzz', which needs fuzz: the number "
                                  "of inputs to draw, e.g. @stable(fuzz=100).")
            return False
        if lacks_criterion(values) and values["fuzz_kinds"] != ("detail",):
            raise OptionError("the fuzz check has no verdict criterion for perturbations: baseline and baseline_factor "
                              "are unset and so is max_ratio; set max_ratio=... or keep a baseline.")
        return True

    def run(self, ctx: Any) -> Any:
        result = self.compute(ctx)
        if ctx.session.replay_only and result.numbers["evaluated"] == 0:
            return Skipped("--stability-replay-only: no stored failing input for this fuzz item")
        return result

    def compute(self, ctx: Any) -> Any:
        from ..checks import fuzz
        from ..fingerprints import fingerprint, model_hash

        s = ctx.settings
        examples = min(s["fuzz"], ctx.session.max_steps or s["fuzz"])
        cache = getattr(ctx.item.config, "cache", None)
        database = Path(cache.mkdir("stability-fuzz")) if cache is not None else "default"
        case = fingerprint(ctx.f.operator, ctx.images, ctx.f.inputs, ctx.f.complex_as_channels, s["fuzz_kinds"],
                           max(s["eps"]))
        key = (ctx.nodeid, model_hash(ctx.model), case)
        return fuzz(ctx.f, ctx.images, examples=examples, kinds=s["fuzz_kinds"], eps=max(s["eps"]),
                    max_ratio=s["max_ratio"], baseline_factor=s["baseline_factor"], baseline=s["baseline"],
                    min_recovery=s["min_recovery"], recovery_margin=s["recovery_margin"],
                    seed=ctx.item.config.getoption("stability_seed"),
                    database=database, database_key=repr(key), time_limit=ctx.session.max_seconds,
                    replay_only=ctx.session.replay_only, rate=s["fuzz_rate"] and not ctx.session.replay_only)

    def settings_lines(self, ctx: Any, numbers: FuzzNumbers) -> list[str]:
        s = ctx.settings
        seed = "none (fresh inputs each run)" if numbers.fuzz_seed is None else numbers.fuzz_seed
        return [f"  settings: fuzz={s['fuzz']}, fuzz_kinds={s['fuzz_kinds']}, fuzz_rate={s['fuzz_rate']}, "
                f"eps={max(s['eps']):g}, "
                f"max_ratio={s['max_ratio']}, baseline_factor={s['baseline_factor']}, baseline={s['baseline']}, "
                f"min_recovery={s['min_recovery']}, recovery_margin={s['recovery_margin']}, seed={seed}"]

    def rerun_lines(self, ctx: Any, numbers: FuzzNumbers, command: str) -> list[str]:
        if numbers.fuzz_seed is not None:
            return super().rerun_lines(ctx, numbers, command)
        if numbers.database:
            return [f"  rerun: {command} (hypothesis's database replays the failing input first; add "
                    "--stability-replay-only to replay only stored inputs)"]
        return [f"  rerun: {command} --stability-seed N (for a reproducible run)"]

    def row(self, record: Record) -> tuple[str, str, str, str]:
        n: FuzzNumbers = record.numbers
        if n.input_kind == "detail":
            metric = f"ρ {fmt(n.recovery, '.2f')}"
            limit = recovery_limit_text(n.recovery, n.limit, n.min_recovery, n.recovery_margin)
            base = f"ρ_g {fmt(n.baseline_recovery, '.2f')}"
        else:
            metric = f"κ {fmt(n.ratio)}"
            limit = kappa_limit_text(n.ratio, n.limit, n.max_ratio, n.baseline_factor)
            base = f"κ_g {fmt(n.baseline_ratio)}"
        if n.input_kind:
            metric += f" ({n.input_kind})"
        return f"fuzz {n.evaluated} inputs", metric, limit, base

    def figures(self, fig: Any, tensors: dict[str, Any], record: Record) -> str:
        return perturbation_figures(fig, tensors, None, None, None, None, record.baseline)


KIND = Fuzz()
