"""Train the MRI-VN analogue: ``python -m conftest_examples mri_vn:SEED`` (CPU, one thread, deterministic).

Data: MNI152 slices at 128 × 128, elastically deformed, with random contrasts (:func:`datasets.augment`), measured
noiselessly by 15-coil MRI (simulated birdcage coil maps) with the fixed seed-0 mask of nearly regular columns at
15 % (``cartesian-equispaced``: the paper's MRI-VN was trained for one regular 15 % pattern with 15 coils). Loss
mean |f(y, A) − x|² over pixels, Adam 1e-3 (Hammernik et al. used IPALM on the same loss), batch 2.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pytest_stability import TVReconstruction, mri_family, psnr
from pytest_stability.families import OperatorFamily

from .. import datasets, zoo
from ..training import Recipe, simple_step
from .model import VariationalNetwork

SIZE = 128
COILS = 15
RATIO = 0.15
BATCH = 2


def family() -> OperatorFamily:
    """The operator family of this repository: 15-coil MRI on 128 × 128, nested near-regular columns, seed 0."""
    return mri_family((SIZE, SIZE), pattern="cartesian-equispaced", seed=0, n_coils=COILS)


def vn_loss(model: VariationalNetwork, gen: torch.Generator) -> torch.Tensor:
    operator, maps = family()(RATIO), datasets.tissue_maps("train")
    x = datasets.augment(maps[torch.randint(len(maps), (BATCH,), generator=gen)], gen)
    return (model(operator(x), operator) - x).abs().pow(2).mean()


def validation_psnr(model: VariationalNetwork | None) -> float:
    """Mean PSNR on the validation slices at RATIO (TV's for ``model=None``)."""
    operator, x = family()(RATIO), zoo.brain_slices("val")
    y = operator(x)
    out = TVReconstruction(operator)(y) if model is None else model(y, operator)
    return float(psnr(out, x).mean())


RECIPE = Recipe(name="mri_vn", folder=Path(__file__).parent, build=lambda: {"vn": VariationalNetwork()},
                step=simple_step(vn_loss), validate=validation_psnr, baseline=lambda: validation_psnr(None),
                steps=3000, lr=1e-3, check_every=150)
