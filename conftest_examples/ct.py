"""The CT setting Ell 50 and Med 50 share: parallel-beam CT at 128 × 128 with the paper's 50 views.

The paper's networks saw 50 equispaced views over [0°, 180°) (every 3.6°, 50 of a 1000-angle grid). Here the
candidate grid has 800 angles and a ratio r keeps round(800 r) of them in the nested low-discrepancy order of
:func:`pytest_stability.radon_family`, which for 800 = 50 · 16 candidates makes 50, 100, 200 and 400 views exactly
equispaced: ratio 50/800 is the paper's 50 views (3.6° apart) and a higher ratio the same views plus more, as
the paper's more-samples sweep (50 → 500 views) added views to the same grid.
"""

from __future__ import annotations

import torch
from torch import nn

from pytest_stability import TVReconstruction, psnr, radon_family
from pytest_stability.families import OperatorFamily

SIZE = 128
CANDIDATES = 800
RATIO = 50 / CANDIDATES


def family() -> OperatorFamily:
    """Parallel-beam CT at 128 × 128 on nested subsets of 800 angles; ratio 50/800 = the paper's 50 views."""
    return radon_family(SIZE, n_candidates=CANDIDATES)


def fbp_mse(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Jin et al.'s loss on a batch: mean squared error of the network's output on the 50-view FBP of x."""
    operator = family()(RATIO)
    with torch.no_grad():
        fbp = operator.naive(operator(x))
    return (model(fbp) - x).pow(2).mean()


def mean_psnr(model: nn.Module | None, x: torch.Tensor) -> float:
    """Mean PSNR on x of the network (or, for ``model=None``, of TV) from 50 noiseless views."""
    operator = family()(RATIO)
    y = operator(x)
    out = TVReconstruction(operator)(y) if model is None else model(operator.naive(y))
    return float(psnr(out, x).mean())
