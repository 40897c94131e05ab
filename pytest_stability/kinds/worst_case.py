"""The worst-case check as the plugin runs it: one item per eps, one search for all of them, replayed when known.

The items of a test share one :class:`~pytest_stability.search.PerturbationSearch` over all its eps values (one
batch); the CS baseline's own worst case, a pure function of the operator, the images and the search settings, is
reused within a run and across runs from pytest's cache folder, and so is the whole search of a built-in solver
under test (:mod:`.stored_searches`). An unstable item stores its worst perturbation
(keyed by node id, the model's weights and the case) and re-tries it first on the next run, so a known
instability fails in two forward passes. The report draws the paper's Figs. 1, 3 and 4: x, x + r, |r|, f(Ax),
f(A(x + r)), their difference, the baseline's reconstructions and the growing perturbations r1 < r2 < ….
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import Numbers, Record, optional
from .base import CheckKind, CheckSpec, OptionError, Worse, fmt, kappa_limit_text, lacks_criterion, number


@dataclass
class WorstCaseNumbers(Numbers):
    """A worst-case record's numbers (docs/reports.md): κ against its limit at one eps, on the image where it is
    worst, with the search that found it, the controls (Gaussian noise, the persistence curve) when they ran and
    the certified lower bounds on the Lipschitz constant from the pairs the check evaluated."""

    eps: float | None = None
    domain: str | None = None
    ratio: float | str | None = None
    limit: float | str | None = None
    margin: float | str | None = None
    max_ratio: float | None = None
    baseline_factor: float | None = None
    baseline_ratio: float | str | None = None
    baseline_attacked: bool | None = None
    baseline_ratio_same_perturbation: float | str | None = None
    baseline_reused: str | None = None
    search_reused: str | None = None
    image: int | None = None
    ratios: list[Any] | None = None
    relative_perturbation: float | None = None
    perturbation_norm: float | None = None
    relative_output_change: float | str | None = None
    psnr_clean: float | str | None = None
    psnr_perturbed: float | str | None = None
    psnr_input: float | str | None = None
    sigma1: float | None = None
    noise_ratio: float | str | None = None
    persistence: float | None = None
    persistence_curve: list[dict[str, Any]] | None = None
    lipschitz_lower_bound: float | str | None = None
    lipschitz_pair: dict[str, Any] | None = None
    tradeoff_bound: float | str | None = None
    tradeoff_pair: dict[str, Any] | None = None
    nonfinite_output: bool | None = None
    search_mode: str | None = None
    steps: int | None = None
    stopped_early: bool | None = None
    evaluations: Any = None
    gradient_free: bool | None = None
    replayed: bool | None = optional()


class WorstCase(CheckKind):
    name = "worst_case"
    shared = True
    rule = "ratio"
    numbers_type = WorstCaseNumbers
    numbers = ("eps", "ratio", "limit", "margin", "baseline_ratio", "baseline_reused", "search_reused", "max_ratio",
               "baseline_factor", "relative_output_change", "psnr_input", "psnr_clean", "psnr_perturbed", "sigma1",
               "lipschitz_lower_bound", "tradeoff_bound", "noise_ratio", "persistence", "domain", "search_mode",
               "steps")

    def specs(self, settings: dict[str, Any]) -> list[CheckSpec]:
        return [CheckSpec(self.name, f"worst_case-eps={e:g}", eps=e) for e in settings["eps"]]

    def require(self, values: dict[str, Any], sources: dict[str, str]) -> bool:
        if lacks_criterion(values):
            raise OptionError("the worst-case check has no verdict criterion: baseline and baseline_factor are unset "
                              "and so is max_ratio; set max_ratio=... (an absolute limit on κ) or keep a baseline.")
        return True

    def run(self, ctx: Any) -> Any:
        """The stored worst perturbation first, while it still breaks the limit; else as every check runs."""
        replay = _replay(ctx)
        return replay if replay is not None else super().run(ctx)

    def compute(self, ctx: Any) -> Any:
        by_eps = ctx.cached(self.name, lambda: _search(ctx))
        return by_eps[min(by_eps, key=lambda e: abs(e - ctx.spec.eps))]

    def after(self, ctx: Any, result: Any) -> None:
        if not result.numbers.get("replayed"):
            _store_replay(ctx, result)

    def settings_lines(self, ctx: Any, numbers: WorstCaseNumbers) -> list[str]:
        s = ctx.settings
        lines = [f"  settings: eps={ctx.spec.eps:g}, domain={s['domain']}, steps={ctx.steps}, seed={ctx.seed}, "
                 f"max_ratio={s['max_ratio']}, baseline_factor={s['baseline_factor']}, baseline={s['baseline']}"]
        if numbers.sigma1 is not None:
            lines.append(f"  σ1 (local Jacobian constant) = {fmt(numbers.sigma1)}; evaluations: {numbers.evaluations}")
        return lines

    def rerun_lines(self, ctx: Any, numbers: WorstCaseNumbers, command: str) -> list[str]:
        return [f"  replay: {command} --stability-seed {ctx.seed} --stability-replay-only"]

    def row(self, record: Record) -> tuple[str, str, str, str]:
        n: WorstCaseNumbers = record.numbers
        return (f"worst_case eps={n.eps:g}", f"κ {fmt(n.ratio)}",
                kappa_limit_text(n.ratio, n.limit, n.max_ratio, n.baseline_factor), f"κ_g {fmt(n.baseline_ratio)}")

    def regressions(self, old: Record, new: Record, worse: Worse) -> list[str]:
        return [w for w in (worse("ratio", old.numbers.ratio, new.numbers.ratio, True, ""),) if w]

    def overview(self, report_dir: Any, records: list[Record]) -> str:
        """κ against eps per model (the worst image at each eps), with its limit: how fast the damage grows."""
        from ..report.figures import plot

        by_model: dict[str, list[Record]] = {}
        for r in records:
            if number(r.numbers.eps) is not None and number(r.numbers.ratio) is not None:
                by_model.setdefault(r.model, []).append(r)
        plots = []
        for model, rs in sorted(by_model.items()):
            rs = sorted(rs, key=lambda r: r.numbers.eps)

            def draw(ax: Any, model: str = model, rs: list[Record] = rs) -> None:
                eps = [r.numbers.eps for r in rs]
                ax.plot(eps, [number(r.numbers.ratio) for r in rs], "o-", label=f"{model}: κ")
                limits = [number(r.numbers.limit) for r in rs]
                if all(lim is not None and math.isfinite(lim) for lim in limits):
                    ax.plot(eps, limits, "s--", color="gray", label="limit")
                ax.set_xlabel("eps (‖r‖ / ‖x‖)")
                ax.set_ylabel("κ")

            plots.append(plot(Path(report_dir), f"{model}\0kappa", "kappa", f"κ against eps: {model}", draw))
        if not plots:
            return ""
        return "<h2>κ against eps</h2>" + "".join(dict.fromkeys(plots))  # one matplotlib note, not one per model

    def report(self, report_dir: Any, record: Record) -> list[str]:
        """The persistence curve: how often the artefact survives added noise, with its 95 % intervals."""
        curve = record.numbers.persistence_curve
        if not curve:
            return []
        from ..report.figures import plot

        def draw(ax: Any) -> None:
            noise = [c["noise"] for c in curve]
            rate = [c["rate"] for c in curve]
            below = [c["rate"] - c["ci"][0] for c in curve]
            above = [c["ci"][1] - c["rate"] for c in curve]
            ax.errorbar(noise, rate, yerr=[below, above], fmt="o-", capsize=4, label="artefact survives (95 % CI)")
            ax.set_xlabel("noise ‖v‖ / ‖r‖")
            ax.set_ylabel("rate")
            ax.set_ylim(-0.02, 1.02)

        draws = ", ".join(str(c["draws"]) for c in curve)
        return [plot(Path(report_dir), f"{record.nodeid}\0persistence", "persistence",
                     f"persistence of the worst case under added noise ({draws} draws per level)", draw)]

    def figures(self, fig: Any, tensors: dict[str, Any], record: Record) -> str:
        n: WorstCaseNumbers = record.numbers
        return perturbation_figures(fig, tensors, n.domain, n.psnr_input, n.psnr_clean, n.psnr_perturbed,
                                    record.baseline)


def perturbation_figures(fig: Any, tensors: dict[str, Any], domain: str | None, psnr_in: Any, psnr_clean: Any,
                         psnr_out: Any, baseline: str | None) -> str:
    """x, x + r, |r| magnified, f(Ax), f(A(x + r)), the artefact map (|difference| as a heat map, its region of
    largest change outlined) and the baseline's reconstructions of both, then
    the growing perturbations of one search (the worst-case and the fuzz check draw a perturbation alike)."""
    from ..report.figures import num, peak

    x, r = tensors.get("x"), tensors.get("perturbation")
    rec, out = tensors.get("reconstruction"), tensors.get("perturbed_reconstruction")
    if x is None:
        return ""
    top = max(peak(x), peak(rec) if rec is not None else 0.0)  # one scale for the row; f(Ax) not clipped
    parts = [fig.image(x, "x", top)]
    if r is not None and r.shape[-2:] == x.shape[-2:]:
        seen = "x + r" if domain != "measurement" else "x + A*e"
        parts.append(fig.image(x + r, seen + (f", PSNR {num(psnr_in, '.1f')} dB" if psnr_in is not None else ""),
                               top))
        r_peak = peak(r)
        parts.append(fig.image(r, f"|r| magnified ×{top / r_peak:.3g}", r_peak))
    if rec is not None:
        parts.append(fig.image(rec, "f(Ax)" + (f", PSNR {num(psnr_clean, '.1f')} dB" if psnr_clean is not None
                                               else ""), top))
    if out is not None:
        parts.append(fig.image(out, "f(A(x + r))" + (f", PSNR {num(psnr_out, '.1f')} dB" if psnr_out is not None
                                                     else ""), top))
    if rec is not None and out is not None:
        parts.append(fig.heat(out - rec, "artefact map |f(A(x + r)) − f(Ax)|"))
    name = baseline or "baseline"
    if tensors.get("baseline_reconstruction") is not None:
        parts.append(fig.image(tensors["baseline_reconstruction"], f"{name}: g(Ax)", top))
    if tensors.get("baseline_perturbed") is not None:
        parts.append(fig.image(tensors["baseline_perturbed"], f"{name}: g(A(x + r))", top))
    return '<div class="figures">' + "".join(parts) + "</div>" + _growing_figures(fig, tensors, top)


def _growing_figures(fig: Any, tensors: dict[str, Any], top: float) -> str:
    """The paper's Fig. 1: x + r_k and f(A(x + r_k)) for the growing budgets eps_1 < eps_2 < ... of one search
    (present on the largest eps's item when the test asked for several)."""
    eps, inputs, outputs = (tensors.get(k) for k in ("growing_eps", "growing_inputs", "growing_reconstructions"))
    if eps is None or inputs is None or outputs is None:
        return ""
    row = [fig.image(inputs[k:k + 1], f"x + r{k + 1} (eps {float(e):.3g})", top) for k, e in enumerate(eps)]
    row += [fig.image(outputs[k:k + 1], f"f(A(x + r{k + 1}))", top) for k in range(len(eps))]
    return ('<p class="note">Growing perturbations r1 &lt; r2 &lt; … of one search, on the image worst at the '
            'largest eps:</p><div class="figures">' + "".join(row) + "</div>")


# -- running -----------------------------------------------------------------------------------------
def _search(ctx: Any) -> dict[float, Any]:
    """The check's results for every eps of the test, from one search (the items share it)."""
    from ..checks import worst_case
    from ..checks.references import is_differentiable_baseline
    from ..search import PerturbationSearch
    from .stored_searches import SolverSearches, baseline_ratios

    s = ctx.settings
    search = PerturbationSearch(eps=s["eps"], domain=s["domain"], steps=ctx.steps, seed=ctx.seed,
                                time_limit=ctx.session.max_seconds)
    baseline, reused = None, None
    if s["baseline_attack"] and is_differentiable_baseline(s["baseline"]) and s["baseline_factor"] is not None:
        baseline, reused = baseline_ratios(ctx, s["baseline"], search)
    searches = SolverSearches(ctx) if SolverSearches.applies(ctx) else None
    results = worst_case(ctx.f, ctx.images, max_ratio=s["max_ratio"], baseline_factor=s["baseline_factor"],
                         baseline=s["baseline"], search=search, seed=ctx.seed, baseline_ratios=baseline,
                         attack_baseline=s["baseline_attack"], persistence_levels=s["persistence_levels"],
                         run_search=searches)
    for r in results:
        r.numbers["baseline_reused"] = reused
        r.numbers["search_reused"] = None if searches is None else searches.reused
        if reused:
            r.explanation += f" (the {r.numbers['baseline']}'s own worst case was reused from {reused})"
        if r.numbers["search_reused"]:
            r.explanation += (f" (this solver's own search was reused from {searches.reused}: a built-in solver "
                              "under test, the same settings, operator and images)")
    return {r.numbers["eps"]: r for r in results}


# -- replay ------------------------------------------------------------------------------------------
def _replay_path(ctx: Any) -> Path | None:
    from ..fingerprints import safe_name
    from .stored_searches import cache_path

    return cache_path(ctx, "stability-replay", safe_name(ctx.nodeid))


def _replay_keys(ctx: Any) -> dict[str, Any]:
    from ..fingerprints import fingerprint, model_hash

    s = ctx.settings
    return {"nodeid": ctx.nodeid, "model": model_hash(ctx.model),
            "case": fingerprint(ctx.f.operator, ctx.images, ctx.f.inputs, ctx.f.complex_as_channels, s["domain"],
                                ctx.spec.eps)}


def _replay(ctx: Any) -> Any:
    """The verdict on the stored worst perturbation when it still breaks the limit, else None (search anew)."""
    import torch

    from ..checks.worst_case import judge_perturbation
    from ..report.store import atomic_load

    stored = atomic_load(_replay_path(ctx))  # a corrupt or foreign file is ignored (and replaced after the search)
    if (not isinstance(stored, dict) or not isinstance(stored.get("perturbation"), torch.Tensor)
            or any(stored.get(k) != v for k, v in _replay_keys(ctx).items())):
        return None
    s = ctx.settings
    result = judge_perturbation(ctx.f, ctx.images, stored["perturbation"], eps=ctx.spec.eps, domain=s["domain"],
                                max_ratio=s["max_ratio"], baseline_factor=s["baseline_factor"],
                                baseline_ratio=stored.get("baseline_ratio"), baseline_name=stored.get("baseline"),
                                persistence_levels=s["persistence_levels"])
    if result.passed and not ctx.session.replay_only:
        return None
    result.numbers["replayed"] = True
    if stored.get("baseline_ratio") is not None:  # the limit is the one the stored run judged by: no search now
        result.numbers["baseline_reused"] = "the stored worst case"
    result.explanation = f"replayed the stored worst case: {result.explanation}"
    return result


def _store_replay(ctx: Any, result: Any) -> None:
    from ..report.store import atomic_save

    path = _replay_path(ctx)
    if path is None:
        return
    if result.passed:
        path.unlink(missing_ok=True)
        return
    atomic_save(path, {**_replay_keys(ctx), "perturbation": result.tensors["all_perturbations"].detach().cpu(),
                       "baseline_ratio": result.numbers.get("baseline_ratio"),
                       "baseline": result.numbers.get("baseline")})


KIND = WorstCase()
