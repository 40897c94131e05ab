"""Train Ell 50: ``python -m conftest_examples ell50:SEED`` (CPU, one thread, deterministic).

FBPConvNet on random ellipse images (:func:`pytest_stability.random_ellipses`, the paper's Ell 50 training class),
parallel-beam CT with the paper's 50 views at 128 × 128 (:mod:`conftest_examples.ct`). Every step draws a fresh
batch of 8 images (a seed ≥ 1000 from the training generator; the test images are seed 0 and the validation images
seed 1), simulates the noiseless 50-view sinogram and fits the network's output on the FBP to the image in mean
squared error (Jin et al.'s loss), Adam 1e-3.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pytest_stability import random_ellipses

from .. import ct
from ..training import Recipe, simple_step
from .model import FBPConvNet

BATCH = 8


def test_images() -> torch.Tensor:
    """The 4 held-out ellipse images the tests use (seed 0)."""
    return random_ellipses(4, ct.SIZE, seed=0)


def validation_images() -> torch.Tensor:
    return random_ellipses(8, ct.SIZE, seed=1)


def ellipse_loss(model: FBPConvNet, gen: torch.Generator) -> torch.Tensor:
    seed = 1000 + int(torch.randint(2**62, (1,), generator=gen))
    return ct.fbp_mse(model, random_ellipses(BATCH, ct.SIZE, seed=seed))


RECIPE = Recipe(name="ell50", folder=Path(__file__).parent, build=lambda: {"fbpconvnet": FBPConvNet()},
                step=simple_step(ellipse_loss), validate=lambda net: ct.mean_psnr(net, validation_images()),
                baseline=lambda: ct.mean_psnr(None, validation_images()), steps=4000, lr=1e-3, check_every=250)
