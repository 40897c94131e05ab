"""The verdict rules every check that judges by them shares: the limit on κ, and when a detail counts as lost.

* **κ limit**: the smaller of the absolute ``max_ratio`` and ``baseline_factor`` × the CS baseline's own ratio
  (a network may amplify a perturbation no more than a stable baseline does, times a factor); no limit (∞)
  when neither is given. The worst-case check compares its search's κ with it, the fuzz check each drawn
  perturbation's.
* **detail lost**: the recovery ρ of the detail in the reconstruction is below ``min_recovery`` while the
  baseline keeps it (ρ_g ≥ ``min_recovery``), or ρ falls more than ``recovery_margin`` below ρ_g. Without a
  baseline, ρ < ``min_recovery`` alone. The structure check applies it to its details, the fuzz check to each
  drawn detail.
"""

from __future__ import annotations

import math

import torch


def kappa_limit(like: torch.Tensor, max_ratio: float | None, baseline_factor: float | None,
                baseline_ratio: torch.Tensor | None) -> torch.Tensor:
    """The limit on κ, shaped like ``like``: min(``max_ratio``, ``baseline_factor`` × ``baseline_ratio``)."""
    limit = torch.full_like(like, math.inf)
    if max_ratio is not None:
        limit = torch.minimum(limit, torch.tensor(float(max_ratio), dtype=limit.dtype))
    if baseline_ratio is not None and baseline_factor is not None:
        limit = torch.minimum(limit, baseline_factor * baseline_ratio)
    return limit


def detail_lost(rho: torch.Tensor, rho_g: torch.Tensor | None, min_recovery: float,
                recovery_margin: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, whether the detail is lost, and the ρ below which it would count as lost (−∞: never, because
    the baseline loses it too and the network stays within ``recovery_margin`` of it)."""
    lost = rho < min_recovery
    limits = torch.full_like(rho, min_recovery)
    if rho_g is not None:
        lost = (lost & (rho_g >= min_recovery)) | (rho < rho_g - recovery_margin)
        limits = torch.maximum(torch.where(rho_g >= min_recovery, limits, -torch.inf), rho_g - recovery_margin)
    return lost, limits
