"""Train the AUTOMAP analogue: ``python -m conftest_examples automap:SEED`` (CPU, one thread, deterministic).

Data: MNI152 slices, elastically deformed, with random contrasts (:func:`datasets.augment`), averaged 2 × 2 to
64 × 64. Measurements y = A x with the fixed 60 % variable-density mask (seed 0) plus white complex Gaussian noise on
the sampled entries, standard deviation ``NOISE`` per real and imaginary part (‖e‖ ≈ 1 % of ‖y‖), as AUTOMAP was
trained with white noise added to its Fourier samples. Loss: mean squared error against x plus Zhu et al.'s L1
penalty on the last hidden feature maps (weight ``SPARSITY``). Adam 1e-4 (Zhu et al. used RMSProp 2e-5 for 100
epochs of 50,000 images), batch 32.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from pytest_stability import TVReconstruction, psnr

from .. import datasets, zoo
from ..training import Recipe, simple_step
from .model import RATIO, SIZE, Automap, family

BATCH = 32
NOISE = 0.004
SPARSITY = 1e-4


def automap_loss(model: Automap, gen: torch.Generator) -> torch.Tensor:
    operator, maps = family()(RATIO), datasets.tissue_maps("train")
    x = F.avg_pool2d(datasets.augment(maps[torch.randint(len(maps), (BATCH,), generator=gen)], gen), 2)
    y = operator(x)
    noise = torch.complex(torch.randn(y.shape, generator=gen), torch.randn(y.shape, generator=gen))
    out = model(y + NOISE * operator.project(noise))
    return (out - x).pow(2).mean() + SPARSITY * model.features.abs().mean()


def validation_psnr(model: Automap | None) -> float:
    """Mean PSNR on the validation slices at 64 × 64, noiseless (TV's for ``model=None``)."""
    operator, x = family()(RATIO), zoo.brain_slices("val", SIZE)
    y = operator(x)
    out = TVReconstruction(operator)(y) if model is None else model(y)
    return float(psnr(out, x).mean())


RECIPE = Recipe(name="automap", folder=Path(__file__).parent,
                build=lambda: {"automap": Automap(family()(RATIO).mask)}, step=simple_step(automap_loss),
                validate=validation_psnr, baseline=lambda: validation_psnr(None), steps=12000, lr=1e-4,
                check_every=1000)
