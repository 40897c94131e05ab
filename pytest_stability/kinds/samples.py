"""The more-samples check as the plugin runs it: one item that sweeps the sampling ratio.

The paper's Fig. 5, bottom: a network trained at one sampling ratio is run at more and more samples; it fails
when its PSNR drops (or, with ``min_gain_db``, stagnates) while the CS baseline's rises. The report plots PSNR
against the sampling ratio for both, the trained ratio marked, with the numbers as a table and the
reconstructions per ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..records import Numbers, Record
from .base import CheckKind, OptionError, Worse, fmt, number


@dataclass
class SamplesNumbers(Numbers):
    """A more-samples record's numbers (docs/reports.md): PSNR and SSIM per sampling ratio for the network and
    the baseline, the largest drop against its tolerance and the gains from the first ratio to the last."""

    ratios: list[Any] | None = None
    requested_ratios: list[Any] | None = None
    psnr: list[Any] | None = None
    ssim: list[Any] | None = None
    psnr_per_image: list[Any] | None = None
    baseline_psnr: list[Any] | None = None
    baseline_ssim: list[Any] | None = None
    tol_db: float | None = None
    min_gain_db: float | None = None
    worst_drop_db: float | str | None = None
    worst_drop_ratios: list[Any] | None = None
    gain_db: float | str | None = None
    baseline_gain_db: float | str | None = None
    trained_ratio: float | None = None
    margin: float | str | None = None


class Samples(CheckKind):
    name = "samples"
    rule = "psnr"
    numbers_type = SamplesNumbers
    numbers = ("trained_ratio", "worst_drop_db", "tol_db", "gain_db", "baseline_gain_db", "min_gain_db", "margin")

    def require(self, values: dict[str, Any], sources: dict[str, str]) -> bool:
        if values["ratio_sweep"] is not None:
            return True
        if sources["checks"] != "default":
            raise OptionError(f"checks (from {sources['checks']}) includes 'samples', which needs ratio_sweep: the "
                              "sampling ratios to sweep, e.g. @stable(ratio_sweep=(0.15, 0.25, 0.33, 0.5)).")
        return False

    def compute(self, ctx: Any) -> Any:
        return ctx.cached(self.name, lambda: _sweep(ctx))

    def settings_lines(self, ctx: Any, numbers: SamplesNumbers) -> list[str]:
        s = ctx.settings
        return [f"  settings: ratio_sweep={s['ratio_sweep']}, tol_db={s['tol_db']}, min_gain_db={s['min_gain_db']}, "
                f"baseline={s['baseline']}, seed={ctx.seed}"]

    def row(self, record: Record) -> tuple[str, str, str, str]:
        """The sweep's first and last PSNR and the verdict's deciding number: the worst step between two ratios
        against −tol_db, or the gain over the sweep against min_gain_db when that rule is the closer to failing
        (the margin is the smaller of the two, checks.sample_sweep)."""
        n: SamplesNumbers = record.numbers
        psnr, base_psnr = n.psnr, n.baseline_psnr
        base = "-" if not base_psnr else f"{fmt(base_psnr[0], '.1f')}→{fmt(base_psnr[-1], '.1f')} dB"
        metric = f"PSNR {fmt(psnr[0], '.1f')}→{fmt(psnr[-1], '.1f')} dB"
        gain, min_gain, margin = number(n.gain_db), number(n.min_gain_db), number(n.margin)
        if (gain is not None and min_gain is not None and margin is not None
                and math.isclose(margin, (gain - min_gain) / (abs(min_gain) or 1.0), rel_tol=1e-6)):
            return ("samples", f"{metric}, gain {gain:+.2f} dB",
                    f"{'≥' if gain >= min_gain else '<'} {min_gain:.2f} dB (min_gain_db)", base)
        drop, tol = number(n.worst_drop_db), number(n.tol_db)
        if drop is None or tol is None:
            return "samples", metric, "-", base
        where = n.worst_drop_ratios
        step = "" if not where else f" at {fmt(where[0], '.3f')}→{fmt(where[1], '.3f')}"
        return ("samples", f"{metric}, worst step {-drop:+.2f} dB{step}",
                f"{'≥' if drop <= tol else '<'} {-tol:.2f} dB (tol_db)", base)

    def regressions(self, old: Record, new: Record, worse: Worse) -> list[str]:
        before, after = old.numbers, new.numbers
        if before.ratios != after.ratios:
            return []
        found = (worse("psnr", b, a, False, " dB") for b, a in zip(before.psnr or [], after.psnr or [], strict=False))
        return [f"{w} @ ratio {ratio:.3g}" for ratio, w in zip(after.ratios or [], found, strict=False) if w]

    def report(self, report_dir: Any, record: Record) -> list[str]:
        return [_plot(Path(report_dir), record), _table(record.numbers)]

    def figures(self, fig: Any, tensors: dict[str, Any], record: Record) -> str:
        from ..report.figures import peak

        x = tensors.get("x")
        if x is None:
            return ""
        top = peak(x)
        parts = [fig.image(x, "x", top)]
        for key in sorted(k for k in tensors if k.startswith("reconstruction@")):
            parts.append(fig.image(tensors[key], f"f(A x) at ratio {key.split('@', 1)[1]}", top))
        return '<div class="figures">' + "".join(parts) + "</div>"


def _sweep(ctx: Any) -> Any:
    from ..checks import sample_sweep

    family = ctx.case.family
    if family is None:
        raise ValueError("the samples check needs an operator family to sweep sampling ratios: return "
                         "Case(model, mri_family(shape) or radon_family(shape), ratio=<trained ratio>, ...).")
    s = ctx.settings
    return sample_sweep(ctx.f, ctx.images, family, s["ratio_sweep"], tol_db=s["tol_db"], min_gain_db=s["min_gain_db"],
                        baseline=s["baseline"], trained_ratio=ctx.case.ratio)


def _floats(values: Any) -> list[float] | None:
    if not isinstance(values, list):
        return None
    out = []
    for v in values:
        try:
            out.append(float(v))  # "inf" / "nan" strings from the JSON become floats
        except (TypeError, ValueError):
            return None
    return out


def _plot(report_dir: Path, record: Record) -> str:
    """PSNR against the sampling ratio as a PNG (matplotlib), or a note when matplotlib is not installed."""
    from ..report.figures import plot

    n: SamplesNumbers = record.numbers
    ratios, psnr, base = _floats(n.ratios), _floats(n.psnr), _floats(n.baseline_psnr)
    if not ratios or not psnr or len(ratios) != len(psnr):
        return ""

    def draw(ax: Any) -> None:
        ax.plot(ratios, psnr, "o-", label=str(record.model))
        if base is not None and len(base) == len(ratios):
            ax.plot(ratios, base, "s--", label=str(record.baseline or "baseline"))
        trained = n.trained_ratio
        if isinstance(trained, (int, float)) and not isinstance(trained, bool):
            ax.axvline(float(trained), color="gray", linestyle=":", label=f"trained ratio {float(trained):.3g}")
        ax.set_xlabel("sampling ratio")
        ax.set_ylabel("PSNR (dB)")

    return plot(report_dir, record.nodeid, "psnr", "PSNR against sampling ratio", draw)


def _table(n: SamplesNumbers) -> str:
    from ..report.figures import num

    ratios, psnr, base = _floats(n.ratios), _floats(n.psnr), _floats(n.baseline_psnr)
    if not ratios or not psnr:
        return ""
    rows = ["<tr><th>sampling ratio</th><th>PSNR model (dB)</th><th>PSNR baseline (dB)</th></tr>"]
    for i, ratio in enumerate(ratios):
        b = base[i] if base is not None and i < len(base) else None
        p = psnr[i] if i < len(psnr) else None
        rows.append(f"<tr><td>{num(ratio)}</td><td>{num(p, '.2f')}</td><td>{num(b, '.2f')}</td></tr>")
    return '<table class="sweep">' + "".join(rows) + "</table>"


KIND = Samples()
