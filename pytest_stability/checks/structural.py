"""Check 2: small structural changes (the paper's Fig. 5): is an added detail still in the reconstruction?

For each detail d (card suits, the text "CAN U SEE IT", a disc lesion; see :mod:`pytest_stability.details`)
and image x, reconstruct f(A(x + d)) and measure the recovery coefficient

    ρ = Re⟨f(A(x + d)) − f(Ax), d⟩ / ‖d‖²      (1: kept; 0: gone; < 0: inverted)

with PSNR and SSIM of |f(A(x + d))| against |x + d| inside the detail's box, for the model and the CS
baseline g. Verdict: the detail is lost on an image when ρ < ``min_recovery`` while the baseline keeps it
(ρ_g ≥ ``min_recovery``), or when ρ falls more than ``recovery_margin`` below ρ_g. When the baseline loses
the detail too (and the network is not far below it), the sampling cannot resolve it and the network is not
blamed; the explanation says so. Without a baseline, ρ < ``min_recovery`` alone fails.
All details and images go through the model in one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..certificates import best, pair_ratios, tradeoff_bounds, tradeoff_certificate
from ..details import DEFAULT_CONTRAST, DETAIL_NAMES, Detail, make_detail
from ..inputs import prepare_images
from ..metrics import l2_norm, psnr, recovery, ssim
from ..models import Reconstructor, as_reconstructor, check_clean_output, frozen
from .references import reference
from .result import CheckResult
from .rules import detail_lost

MIN_BOX = 16  # SSIM's 11×11 window needs room: boxes are widened to at least this many pixels


def _details(details: str | Detail | Sequence[str | Detail], shape: tuple[int, int], **kwargs: Any) -> list[Detail]:
    if isinstance(details, (str, Detail)):
        details = [details]
    return [d if isinstance(d, Detail) else make_detail(d, shape, **kwargs) for d in details]


def _wide_box(detail: Detail, shape: tuple[int, int]) -> tuple[slice, slice]:
    """The detail's box with a 2-pixel margin, widened about its centre to at least MIN_BOX pixels."""
    top, left, bottom, right = detail.box
    out = []
    for lo, hi, n in ((top, bottom, shape[0]), (left, right, shape[1])):
        width = min(n, max(hi - lo + 4, MIN_BOX))
        start = min(max((lo + hi - width) // 2, 0), n - width)
        out.append(slice(start, start + width))
    return out[0], out[1]


def _recover(f: Reconstructor, x: torch.Tensor, ds: torch.Tensor, boxes: list[tuple[slice, slice]]) -> dict:
    """ρ (J, B), box PSNR/SSIM (J, B) and whether f(A(x + d)) is finite (J, B) for details ds (J, B, C, H, W)
    added to x (B, C, H, W)."""
    j, b = ds.shape[:2]
    fd = f.for_images(torch.arange(b).repeat(j))  # x + d_i for every detail i: per-image coil maps follow
    with frozen(f.model), torch.no_grad():
        clean = f(f.measure(x))
        check_clean_output(f, clean, x)
        xd = (x.unsqueeze(0) + ds).reshape(j * b, *x.shape[1:])
        out = fd(fd.measure(xd)).reshape(j, b, *clean.shape[1:])
        eta = l2_norm(fd.measure(ds.reshape(j * b, *x.shape[1:])))  # ‖A d‖: how far apart the measurements are
    finite = torch.isfinite(out).reshape(j, b, -1).all(dim=2)
    rho = recovery((out - clean.unsqueeze(0)).reshape(j * b, -1), ds.reshape(j * b, -1)).view(j, b)
    truth = x.unsqueeze(0) + ds
    box_psnr = torch.empty(j, b)
    box_ssim = torch.empty(j, b)
    for i, (rows, cols) in enumerate(boxes):
        peak = truth[i].abs().reshape(b, -1).amax(dim=1)
        a, t = out[i][..., rows, cols].abs(), truth[i][..., rows, cols].abs()
        box_psnr[i] = psnr(a, t, data_range=peak).cpu()
        box_ssim[i] = ssim(a, t, data_range=peak).cpu()
    flat_out, truth_flat = out.reshape(j * b, *clean.shape[1:]), truth.reshape(j * b, *x.shape[1:])
    clean_rep, x_rep = clean.repeat(j, *[1] * (clean.dim() - 1)), x.repeat(j, *[1] * (x.dim() - 1))
    lipschitz = pair_ratios(l2_norm(flat_out - clean_rep), eta).view(j, b).cpu()
    tradeoff = tradeoff_bounds(x_rep, truth_flat, clean_rep, flat_out, eta)
    return {"rho": rho.cpu(), "psnr": box_psnr, "ssim": box_ssim, "out": out, "clean": clean,
            "finite": finite.cpu(), "lipschitz": lipschitz, "tradeoff": {k: v.view(j, b) for k, v in tradeoff.items()}}


def structural(model: Any, images: torch.Tensor, operator: Any = None, *,
               details: str | Detail | Sequence[str | Detail] = DETAIL_NAMES, contrast: float = DEFAULT_CONTRAST,
               size: float | None = None, center: tuple[float, float] = (0.5, 0.5), min_recovery: float = 0.5,
               recovery_margin: float = 0.3, baseline: Any = "tv", **reconstructor_kwargs: Any) -> list[CheckResult]:
    """Run the structural check; one :class:`CheckResult` per detail.

    ``details``: names from ``DETAIL_NAMES`` or ready :class:`~pytest_stability.details.Detail` objects;
    ``size``, ``center`` place the named ones; ``contrast`` sets the amplitude contrast × max|x| per image.
    """
    if not -1.0 <= min_recovery <= 1.0:
        raise ValueError(f"min_recovery must lie in [-1, 1] (it is a recovery coefficient ρ), got {min_recovery!r}.")
    if not recovery_margin >= 0:
        raise ValueError(f"recovery_margin must be >= 0, got {recovery_margin!r}.")
    f = as_reconstructor(model, operator, **reconstructor_kwargs)
    x = prepare_images(images, f)
    shape = f.operator.image_shape
    kwargs = {"center": center} | ({"size": size} if size is not None else {})
    ds_list = _details(details, shape, **kwargs)
    ds = torch.stack([d.scaled(x, contrast) for d in ds_list])
    boxes = [_wide_box(d, shape) for d in ds_list]
    net = _recover(f, x, ds, boxes)
    g = reference(baseline, f.operator)
    ref = _recover(g, x, ds, boxes) if g is not None else None
    results = []
    for i, detail in enumerate(ds_list):
        rho = net["rho"][i]
        rho_g = ref["rho"][i] if ref is not None else None
        nonfinite = ~net["finite"][i]
        lost, limits = detail_lost(rho, rho_g, min_recovery, recovery_margin)
        lost |= nonfinite  # NaN or Inf on x + d: unstable by definition
        rank = torch.where(nonfinite, -torch.inf, rho)
        b = int(torch.argmin(torch.where(lost, rank, rank + 10.0)))  # the worst lost image, else the worst image
        passed = not bool(lost.any())
        margins = torch.where(torch.isinf(limits), torch.inf, (rho - limits) / torch.where(limits == 0, 1.0,
                                                                                            limits.abs()))
        margins = torch.where(nonfinite | rho.isnan(), -torch.inf, margins)  # relative_margin, per image
        numbers: dict[str, Any] = {
            "detail": detail.name, "recovery": float(rho[b]), "min_recovery": min_recovery,
            "limit": float(limits[b]), "margin": float(margins.min()),
            "recovery_margin": recovery_margin, "image": b,
            "recoveries": rho, "box_psnr": float(net["psnr"][i, b]), "box_ssim": float(net["ssim"][i, b]),
            "baseline": None if g is None else g.name,
            "baseline_recovery": None if rho_g is None else float(rho_g[b]),
            "baseline_recoveries": rho_g,
            "baseline_box_psnr": None if ref is None else float(ref["psnr"][i, b]),
            "baseline_box_ssim": None if ref is None else float(ref["ssim"][i, b]),
            "contrast": contrast, "box": list(detail.box), "nonfinite_output": bool(nonfinite[b]),
            **_certificates(net, i),
        }
        tensors = {"x": x[b:b + 1], "detail": ds[i, b:b + 1], "reconstruction": net["clean"][b:b + 1],
                   "detail_reconstruction": net["out"][i, b:b + 1]}
        if ref is not None:
            tensors["baseline_detail_reconstruction"] = ref["out"][i, b:b + 1]
        results.append(CheckResult("structure", f.name, passed, _explain(numbers, passed, rho, rho_g, min_recovery),
                                   numbers, tensors))
    return results


def _certificates(net: dict[str, Any], i: int) -> dict[str, Any]:
    """The certified lower bounds of detail i from the pairs (Ax, A(x + d)) of every image: the data bound
    ‖f(A(x + d)) − f(Ax)‖ / ‖Ad‖ and the trade-off bound (‖d‖ − 2δ) / ‖Ad‖ (:mod:`~pytest_stability.certificates`)."""
    lip = net["lipschitz"][i]
    data = best([(lip, lambda p: {"kind": "clean vs detail", "image": p})])
    parts = {k: v[i] for k, v in net["tradeoff"].items()}
    tradeoff = tradeoff_certificate(parts, lambda p: {"kind": "clean vs detail", "image": p})
    return {"lipschitz_lower_bound": None if data is None else data.bound,
            "lipschitz_pair": None if data is None else data.pair,
            "tradeoff_bound": tradeoff.bound, "tradeoff_pair": tradeoff.pair}


def _explain(n: dict[str, Any], passed: bool, rho: torch.Tensor, rho_g: torch.Tensor | None,
             min_recovery: float) -> str:
    name, b = n["detail"], n["image"]
    box = f"box PSNR {n['box_psnr']:.1f} dB, SSIM {n['box_ssim']:.2f}"
    if n["baseline_box_psnr"] is not None:
        box += f" (baseline {n['baseline_box_psnr']:.1f} dB, {n['baseline_box_ssim']:.2f})"
    if n["nonfinite_output"]:
        return f"detail '{name}' lost on image {b}: the model returns NaN/Inf on x + d, unstable by definition"
    if not passed:
        if rho_g is not None and n["recovery"] >= min_recovery:
            return (f"detail '{name}' weakened on image {b}: ρ = {n['recovery']:.2f} is more than "
                    f"{n['recovery_margin']:.2f} below the {n['baseline']}'s ρ_g = {n['baseline_recovery']:.2f}; {box}")
        keeps = "" if rho_g is None else f" while the {n['baseline']} keeps ρ_g = {n['baseline_recovery']:.2f}"
        return (f"detail '{name}' lost on image {b}: ρ = {n['recovery']:.2f} < min_recovery {min_recovery:.2f}"
                f"{keeps}; {box}")
    low = rho < min_recovery
    if bool(low.any()):
        return (f"detail '{name}' is faint (ρ = {n['recovery']:.2f} < {min_recovery:.2f} on image {b}), but the "
                f"{n['baseline']} loses it too (ρ_g = {n['baseline_recovery']:.2f}): the sampling cannot resolve it, "
                f"so the network is not blamed; {box}")
    ref = "" if rho_g is None else f" ({n['baseline']}: {n['baseline_recovery']:.2f})"
    return (f"detail '{name}' kept: ρ = {n['recovery']:.2f} ≥ {min_recovery:.2f} on every image, worst image "
            f"{b}{ref}; {box}")
