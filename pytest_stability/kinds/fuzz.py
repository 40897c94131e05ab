"""The fuzz check as the plugin runs it: one item that draws perturbations and details with hypothesis.

Found failures live in hypothesis's example database in pytest's cache folder, keyed by node id, the model's
weights and the case, and are replayed first on the next run; with ``--stability-replay-only`` only they run.
Fresh inputs each run unless ``--stability-seed`` is given. The report draws a failing perturbation as the
worst-case check draws its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import CheckKind, OptionError, Skipped, fmt, lacks_criterion
from .worst_case import perturbation_figures


class Fuzz(CheckKind):
    name = "fuzz"
    numbers = ("evaluated", "input_kind", "ratio", "limit", "baseline_ratio", "recovery", "min_recovery")

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
        key = (ctx.item.nodeid, model_hash(ctx.model), case)
        return fuzz(ctx.f, ctx.images, examples=examples, kinds=s["fuzz_kinds"], eps=max(s["eps"]),
                    max_ratio=s["max_ratio"], baseline_factor=s["baseline_factor"], baseline=s["baseline"],
                    min_recovery=s["min_recovery"], seed=ctx.item.config.getoption("stability_seed"),
                    database=database, database_key=repr(key), time_limit=ctx.session.max_seconds,
                    replay_only=ctx.session.replay_only)

    def settings_lines(self, ctx: Any, numbers: dict[str, Any]) -> list[str]:
        s = ctx.settings
        seed = "none (fresh inputs each run)" if numbers["fuzz_seed"] is None else numbers["fuzz_seed"]
        return [f"  settings: fuzz={s['fuzz']}, fuzz_kinds={s['fuzz_kinds']}, eps={max(s['eps']):g}, "
                f"max_ratio={s['max_ratio']}, baseline_factor={s['baseline_factor']}, baseline={s['baseline']}, "
                f"min_recovery={s['min_recovery']}, seed={seed}"]

    def rerun_lines(self, ctx: Any, numbers: dict[str, Any], command: str) -> list[str]:
        if numbers["fuzz_seed"] is not None:
            return super().rerun_lines(ctx, numbers, command)
        if numbers["database"]:
            return [f"  rerun: {command} (hypothesis's database replays the failing input first; add "
                    "--stability-replay-only to replay only stored inputs)"]
        return [f"  rerun: {command} --stability-seed N (for a reproducible run)"]

    def row(self, record: dict[str, Any]) -> tuple[str, str, str, str]:
        if record.get("input_kind") == "detail":
            metric, limit = f"ρ {fmt(record['recovery'], '.2f')}", fmt(record["min_recovery"], ".2f")
            base = f"ρ_g {fmt(record.get('baseline_recovery'), '.2f')}"
        else:
            metric, limit = f"κ {fmt(record['ratio'])}", fmt(record["limit"])
            base = f"κ_g {fmt(record.get('baseline_ratio'))}"
        if record.get("input_kind"):
            metric += f" ({record['input_kind']})"
        return f"fuzz {record['evaluated']} inputs", metric, limit, base

    def figures(self, fig: Any, tensors: dict[str, Any], record: dict[str, Any]) -> str:
        return perturbation_figures(fig, tensors, record)


KIND = Fuzz()
