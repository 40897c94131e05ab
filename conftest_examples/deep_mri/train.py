"""Train the Deep MRI analogue: ``python -m conftest_examples deep_mri:0`` (CPU, one thread, deterministic).

Data: MNI152 slices of three orientations at 128 × 128 with elastic deformation and random contrasts
(:func:`conftest_examples.datasets.augment`), measured noiselessly by single-coil Cartesian MRI at 33 %. Like
Schlemper et al.'s training (js3611/Deep-MRI-Reconstruction draws a new random Cartesian mask for every batch in
``prep_input``), every training image gets its own random mask at 33 % with the centre lines, drawn with a fresh
seed (:func:`pytest_stability.cartesian_mask`); the tests and the validation curve use the seed-0 mask of the
family, which training never saw. Loss mean |f(y, M) − x|² (Schlemper et al.'s), Adam 1e-3, batch 4.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pytest_stability import TVReconstruction, cartesian_mask, mri_family, psnr
from pytest_stability.families import OperatorFamily
from pytest_stability.operators import LinearOperator, fft2c

from .. import datasets, zoo
from ..training import Recipe, simple_step
from .model import DeepCascade

SIZE = 128
RATIO = 0.33
BATCH = 4


def family() -> OperatorFamily:
    """The operator family of this repository: single-coil Cartesian lines on 128 × 128, nested masks, seed 0."""
    return mri_family((SIZE, SIZE), pattern="cartesian", seed=0)


def mask_of(operator: LinearOperator) -> torch.Tensor:
    """The operator's sampling mask as the network takes it, (1, 1, H, W) float32."""
    return operator.mask.view(1, 1, *operator.image_shape).float()


def random_masks(n: int, gen: torch.Generator) -> torch.Tensor:
    """n random Cartesian masks at RATIO, one per training image, (n, 1, H, W) float32 (fresh seeds from gen)."""
    seeds = torch.randint(2**62, (n,), generator=gen).tolist()
    return torch.stack([cartesian_mask((SIZE, SIZE), RATIO, seed=s).mask for s in seeds]).unsqueeze(1).float()


def batch(gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A training batch: images x (B, 1, H, W), their random masks and the k-space y = M ⊙ F x."""
    maps = datasets.tissue_maps("train")
    x = datasets.augment(maps[torch.randint(len(maps), (BATCH,), generator=gen)], gen)
    masks = random_masks(BATCH, gen)
    return x, masks, masks * fft2c(x.to(torch.complex64))


def cascade_loss(model: DeepCascade, gen: torch.Generator) -> torch.Tensor:
    x, masks, y = batch(gen)
    return (model(y, masks) - x).abs().pow(2).mean()


def validation_psnr(model: DeepCascade) -> float:
    """Mean PSNR on the validation slices, measured with the seed-0 mask at RATIO."""
    operator, x = family()(RATIO), zoo.brain_slices("val")
    return float(psnr(model(operator(x), mask_of(operator)), x).mean())


def tv_validation_psnr() -> float:
    operator, x = family()(RATIO), zoo.brain_slices("val")
    return float(psnr(TVReconstruction(operator)(operator(x)), x).mean())


RECIPE = Recipe(name="deep_mri", folder=Path(__file__).parent, build=lambda: {"cascade": DeepCascade()},
                step=simple_step(cascade_loss), validate=validation_psnr, baseline=tv_validation_psnr,
                steps=6000, lr=1e-3, check_every=250)
