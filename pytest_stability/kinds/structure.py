"""The structure check as the plugin runs it: one item per detail, one structural check for all of them.

The paper's Fig. 5: a small detail d (a card symbol, text, a lesion) is added to x, and the reconstruction
f(A(x + d)) must still show it (its recovery ρ at least ``min_recovery``, and not far below the CS baseline's).
The report draws x + d with the detail's box, the network's and the baseline's reconstructions.
"""

from __future__ import annotations

from typing import Any

from .base import CheckKind, CheckSpec, Worse, fmt


class Structure(CheckKind):
    name = "structure"
    shared = True
    rule = "recovery"
    numbers = ("detail", "recovery", "limit", "margin", "min_recovery", "baseline_recovery", "recovery_margin",
               "box_psnr", "box_ssim", "baseline_box_psnr", "baseline_box_ssim", "contrast")

    def specs(self, settings: dict[str, Any]) -> list[CheckSpec]:
        return [CheckSpec(self.name, f"structure-{d}", detail=d) for d in settings["details"]]

    def compute(self, ctx: Any) -> Any:
        from ..checks import structural

        s = ctx.settings
        by_detail = ctx.cached(self.name, lambda: {r.numbers["detail"]: r for r in structural(
            ctx.f, ctx.images, details=s["details"], min_recovery=s["min_recovery"], baseline=s["baseline"])})
        return by_detail[ctx.spec.detail]

    def settings_lines(self, ctx: Any, numbers: dict[str, Any]) -> list[str]:
        s = ctx.settings
        return [f"  settings: detail={ctx.spec.detail}, min_recovery={s['min_recovery']}, baseline={s['baseline']}, "
                f"seed={ctx.seed}"]

    def row(self, record: dict[str, Any]) -> tuple[str, str, str, str]:
        limit = record["limit"] if record.get("limit") is not None else record["min_recovery"]
        return (f"structure {record['detail']}", f"ρ {fmt(record['recovery'], '.2f')}", fmt(limit, ".2f"),
                f"ρ_g {fmt(record.get('baseline_recovery'), '.2f')}")

    def regressions(self, old: dict[str, Any], new: dict[str, Any], worse: Worse) -> list[str]:
        return [w for w in (worse("recovery", old.get("recovery"), new.get("recovery"), False, ""),) if w]

    def figures(self, fig: Any, tensors: dict[str, Any], record: dict[str, Any]) -> str:
        from ..report.figures import num, peak

        x, d = tensors.get("x"), tensors.get("detail")
        if x is None or d is None:
            return ""
        top = peak(x + d)
        box = record.get("box") if isinstance(record.get("box"), list) and len(record["box"]) == 4 else None
        parts = [fig.image(x + d, "x + d (box marked)", top, box)]
        if tensors.get("detail_reconstruction") is not None:
            rho = num(record.get("recovery"), ".2f")
            parts.append(fig.image(tensors["detail_reconstruction"], f"f(A(x + d)), ρ = {rho}", top, box))
        if tensors.get("baseline_detail_reconstruction") is not None:
            name = record.get("baseline") or "baseline"
            parts.append(fig.image(tensors["baseline_detail_reconstruction"],
                                   f"{name}: g(A(x + d)), ρ_g = {num(record.get('baseline_recovery'), '.2f')}", top,
                                   box))
        return '<div class="figures">' + "".join(parts) + "</div>"


KIND = Structure()
