"""Check 3: more samples (the paper's Fig. 5, bottom): does quality rise as the sampling ratio grows?

Reconstruct the images at increasing sampling ratios s1 < s2 < … on nested masks (the same samples plus
more, see :mod:`pytest_stability.families`), with the model and the CS baseline, and record mean PSNR and
SSIM per ratio. Verdict: fail when the model's mean PSNR drops by more than ``tol_db`` from one ratio to the
next; with ``min_gain_db``, also fail when its total gain over the sweep stays below ``min_gain_db`` while
the baseline's reaches it (the paper's "stagnates", seen for MRI-VN). The achieved ratios are reported, not
the requested ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..families import OperatorFamily
from ..inputs import prepare_images
from ..metrics import psnr, ssim
from ..models import Reconstructor, as_reconstructor, check_clean_output, frozen
from ..operators import LinearOperator
from .references import reference
from .result import CheckResult, relative_margin


def _check_ratios(ratios: Sequence[float]) -> list[float]:
    ratios = [float(r) for r in ratios]
    if len(ratios) < 2:
        raise ValueError(f"ratio_sweep needs at least two sampling ratios, got {ratios}.")
    if any(not 0 < r <= 1 for r in ratios):
        raise ValueError(f"sampling ratios must lie in (0, 1], got {ratios}.")
    if ratios != sorted(ratios) or len(set(ratios)) != len(ratios):
        raise ValueError(f"sampling ratios must be strictly increasing (a sweep from few to many samples), got "
                         f"{ratios}; sort them and drop duplicates.")
    return ratios


def _quality(f: Reconstructor, x: torch.Tensor, ratio: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    with frozen(f.model), torch.no_grad():
        out = f(f.measure(x))
    check_clean_output(f, out, x, where=f" at sampling ratio {ratio:g}")
    return psnr(out, x).cpu(), ssim(out, x).cpu(), out[:1]


def sample_sweep(model: Any, images: torch.Tensor, family: OperatorFamily | Callable[[float], LinearOperator],
                 ratios: Sequence[float], *, tol_db: float = 0.5, min_gain_db: float | None = None,
                 baseline: Any = "tv", trained_ratio: float | None = None, **reconstructor_kwargs: Any) -> CheckResult:
    """Run the more-samples check over ``ratios`` with operators from ``family(ratio)``.

    ``model`` is a :class:`Reconstructor` (its operator is replaced at each ratio) or a model with
    ``inputs=...`` etc.; ``trained_ratio`` is only reported (the report marks it on the plot).
    """
    ratios = _check_ratios(ratios)
    if tol_db < 0:
        raise ValueError(f"tol_db must be >= 0, got {tol_db!r}.")
    f0 = as_reconstructor(model, family(ratios[0]), **reconstructor_kwargs)
    x = prepare_images(images, f0)
    achieved, rows, ref_rows, recons = [], [], [], []
    for r in ratios:
        op = family(r)
        achieved.append(family.achieved_ratio(r) if isinstance(family, OperatorFamily) else op.sampling_ratio)
        p, s, out = _quality(f0.with_operator(op), x, r)
        rows.append((p, s))
        recons.append(out)
        g = reference(baseline, op)
        if g is not None:
            ref_rows.append(_quality(g, x, r)[:2])
    model_psnr = torch.stack([p for p, _ in rows])  # (R, B)
    mean_psnr = model_psnr.mean(dim=1)
    mean_ssim = torch.stack([s for _, s in rows]).mean(dim=1)
    drops = mean_psnr[:-1] - mean_psnr[1:]
    worst = int(torch.argmax(drops))
    gain = float(mean_psnr[-1] - mean_psnr[0])
    ref_psnr = torch.stack([p for p, _ in ref_rows]).mean(dim=1) if ref_rows else None
    ref_gain = None if ref_psnr is None else float(ref_psnr[-1] - ref_psnr[0])
    falls = float(drops[worst]) > tol_db
    stagnates = (min_gain_db is not None and gain < min_gain_db and (ref_gain is None or ref_gain >= min_gain_db))
    numbers: dict[str, Any] = {
        "ratios": achieved, "requested_ratios": ratios, "psnr": mean_psnr, "ssim": mean_ssim,
        "psnr_per_image": model_psnr.T,
        "baseline": None if not ref_rows else reference(baseline, family(ratios[0])).name,
        "baseline_psnr": ref_psnr, "baseline_ssim": None if not ref_rows else
        torch.stack([s for _, s in ref_rows]).mean(dim=1),
        "tol_db": tol_db, "min_gain_db": min_gain_db, "worst_drop_db": float(drops[worst]),
        "worst_drop_ratios": [achieved[worst], achieved[worst + 1]], "gain_db": gain,
        "baseline_gain_db": ref_gain, "trained_ratio": trained_ratio,
        "margin": min([relative_margin(float(drops[worst]), tol_db)]
                      + ([relative_margin(gain, min_gain_db, stable_above=True)] if min_gain_db is not None
                         and (ref_gain is None or ref_gain >= min_gain_db) else [])),
    }
    tensors = {"x": x[:1], **{f"reconstruction@{a:.3f}": out for a, out in zip(achieved, recons, strict=True)}}
    passed = not (falls or stagnates)
    return CheckResult("samples", f0.name, passed, _explain(numbers, achieved, worst, falls, stagnates), numbers,
                       tensors)


def _explain(n: dict[str, Any], achieved: list[float], worst: int, falls: bool, stagnates: bool) -> str:
    sweep = " → ".join(f"{p:.1f}" for p in n["psnr"].tolist())
    span = f"PSNR {sweep} dB over ratios {achieved[0]:.3f} … {achieved[-1]:.3f}"
    ref = "" if n["baseline_psnr"] is None else (f"; the {n['baseline']} goes "
                                                 f"{' → '.join(f'{p:.1f}' for p in n['baseline_psnr'].tolist())} dB")
    if falls:
        return (f"quality falls with more samples: PSNR drops {n['worst_drop_db']:.2f} dB (> tol_db {n['tol_db']:.2f}) "
                f"from ratio {achieved[worst]:.3f} to {achieved[worst + 1]:.3f}; {span}{ref}")
    if stagnates:
        return (f"quality stagnates with more samples: gain {n['gain_db']:.2f} dB < min_gain_db "
                f"{n['min_gain_db']:.2f} while the baseline gains {n['baseline_gain_db']:.2f} dB; {span}{ref}")
    return f"quality rises or holds with more samples (gain {n['gain_db']:.2f} dB); {span}{ref}"
