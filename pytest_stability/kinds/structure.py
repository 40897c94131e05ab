"""The structure check as the plugin runs it: one item per detail, one structural check for all of them.

The paper's Fig. 5: a small detail d (a card symbol, text, a lesion) is added to x, and the reconstruction
f(A(x + d)) must still show it (its recovery ρ at least ``min_recovery``, and not far below the CS baseline's).
The report draws x + d with the detail's box, the network's and the baseline's reconstructions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..records import Numbers, Record
from .base import CheckKind, CheckSpec, Worse, fmt, recovery_limit_text


@dataclass
class StructureNumbers(Numbers):
    """A structure record's numbers (docs/reports.md): the detail's recovery ρ against its limit on the image where
    it is worst, the baseline's ρ_g, the box's PSNR and SSIM for both, and the certified bounds of the pairs
    (x, x + d)."""

    detail: str | None = None
    recovery: float | str | None = None
    min_recovery: float | None = None
    limit: float | str | None = None
    margin: float | str | None = None
    recovery_margin: float | None = None
    image: int | None = None
    recoveries: list[Any] | None = None
    box_psnr: float | str | None = None
    box_ssim: float | str | None = None
    baseline_recovery: float | str | None = None
    baseline_recoveries: list[Any] | None = None
    baseline_box_psnr: float | str | None = None
    baseline_box_ssim: float | str | None = None
    contrast: float | None = None
    box: list[int] | None = None
    nonfinite_output: bool | None = None
    lipschitz_lower_bound: float | str | None = None
    lipschitz_pair: dict[str, Any] | None = None
    tradeoff_bound: float | str | None = None
    tradeoff_pair: dict[str, Any] | None = None


class Structure(CheckKind):
    name = "structure"
    shared = True
    rule = "recovery"
    numbers_type = StructureNumbers
    numbers = ("detail", "recovery", "limit", "margin", "min_recovery", "baseline_recovery", "recovery_margin",
               "box_psnr", "box_ssim", "baseline_box_psnr", "baseline_box_ssim", "contrast", "lipschitz_lower_bound",
               "tradeoff_bound")

    def specs(self, settings: dict[str, Any]) -> list[CheckSpec]:
        return [CheckSpec(self.name, f"structure-{d}", detail=d) for d in settings["details"]]

    def compute(self, ctx: Any) -> Any:
        from ..checks import structural

        s = ctx.settings
        by_detail = ctx.cached(self.name, lambda: {r.numbers["detail"]: r for r in structural(
            ctx.f, ctx.images, details=s["details"], min_recovery=s["min_recovery"],
            recovery_margin=s["recovery_margin"], baseline=s["baseline"])})
        return by_detail[ctx.spec.detail]

    def settings_lines(self, ctx: Any, numbers: StructureNumbers) -> list[str]:
        s = ctx.settings
        return [f"  settings: detail={ctx.spec.detail}, min_recovery={s['min_recovery']}, "
                f"recovery_margin={s['recovery_margin']}, baseline={s['baseline']}, "
                f"seed={ctx.seed}"]

    def row(self, record: Record) -> tuple[str, str, str, str]:
        n: StructureNumbers = record.numbers
        return (f"structure {n.detail}", f"ρ {fmt(n.recovery, '.2f')}",
                recovery_limit_text(n.recovery, n.limit, n.min_recovery, n.recovery_margin),
                f"ρ_g {fmt(n.baseline_recovery, '.2f')}")

    def regressions(self, old: Record, new: Record, worse: Worse) -> list[str]:
        return [w for w in (worse("recovery", old.numbers.recovery, new.numbers.recovery, False, ""),) if w]

    def figures(self, fig: Any, tensors: dict[str, Any], record: Record) -> str:
        from ..report.figures import num, peak

        n: StructureNumbers = record.numbers
        x, d = tensors.get("x"), tensors.get("detail")
        if x is None or d is None:
            return ""
        top = peak(x + d)
        box = n.box if isinstance(n.box, list) and len(n.box) == 4 else None
        parts = [fig.image(x + d, "x + d (box marked)", top, box)]
        if tensors.get("detail_reconstruction") is not None:
            rho = num(n.recovery, ".2f")
            parts.append(fig.image(tensors["detail_reconstruction"], f"f(A(x + d)), ρ = {rho}", top, box))
        if tensors.get("baseline_detail_reconstruction") is not None:
            name = record.baseline or "baseline"
            parts.append(fig.image(tensors["baseline_detail_reconstruction"],
                                   f"{name}: g(A(x + d)), ρ_g = {num(n.baseline_recovery, '.2f')}", top, box))
        return '<div class="figures">' + "".join(parts) + "</div>"


KIND = Structure()
