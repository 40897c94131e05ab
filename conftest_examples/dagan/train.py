"""Train the DAGAN analogue: ``python -m conftest_examples dagan:SEED`` (CPU, one thread, deterministic).

Data: MNI152 slices at 128 × 128, elastically deformed, with random contrasts (:func:`datasets.augment`), measured
noiselessly with the fixed 20 % Gaussian-line mask (seed 0), as DAGAN was trained on one mask. Input: the zero-filled
magnitude |A* y|. DAGAN is trained as a conditional GAN: the generator's loss is a pixel term plus an adversarial
term, the discriminator's the usual cross-entropy on real and generated images (both Adam 1e-4 here, β₁ = 0.5
as in DCGAN/DAGAN), one discriminator step per generator step. DAGAN's pixel loss is 15 · MSE on [−1, 1] images,
i.e. 60 · MSE on [0, 1], against an adversarial weight of 1, so ours is MSE + ADVERSARIAL · BCE with
ADVERSARIAL = 1/60. DAGAN's frequency loss (an MSE of the DFTs) equals the pixel MSE times a constant (Parseval)
and is folded into it; its perceptual loss needs ImageNet VGG weights, which nothing here may download, and is left
out. Batch 8.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from pytest_stability import TVReconstruction, psnr

from .. import datasets, zoo
from ..training import Nets, Optimisers, Recipe
from .model import RATIO, DaganGenerator, Discriminator, family

BATCH = 8
ADVERSARIAL = 1 / 60


def gan_step(nets: Nets, optimisers: Optimisers, gen: torch.Generator, i: int) -> float:
    """One discriminator step, then one generator step, on a fresh batch; returns the generator's pixel MSE."""
    generator, critic = nets["generator"], nets["discriminator"]
    operator = family()(RATIO)
    maps = datasets.tissue_maps("train")
    x = datasets.augment(maps[torch.randint(len(maps), (BATCH,), generator=gen)], gen)
    fake = generator(operator.adjoint(operator(x)).abs())
    ones, zeros = torch.ones(BATCH), torch.zeros(BATCH)
    d_loss = bce(critic(x), ones) + bce(critic(fake.detach()), zeros)
    optimisers["discriminator"].zero_grad(set_to_none=True)
    d_loss.backward()
    optimisers["discriminator"].step()
    pixel = (fake - x).pow(2).mean()
    g_loss = pixel + ADVERSARIAL * bce(critic(fake), ones)
    optimisers["generator"].zero_grad(set_to_none=True)
    g_loss.backward()
    optimisers["generator"].step()
    return float(pixel.detach())


def validation_psnr(model: DaganGenerator | None) -> float:
    """Mean PSNR on the validation slices with the seed-0 mask (TV's for ``model=None``)."""
    operator, x = family()(RATIO), zoo.brain_slices("val")
    y = operator(x)
    out = TVReconstruction(operator)(y) if model is None else model(operator.adjoint(y).abs())
    return float(psnr(out, x).mean())


RECIPE = Recipe(name="dagan", folder=Path(__file__).parent,
                build=lambda: {"generator": DaganGenerator(), "discriminator": Discriminator()},
                step=gan_step, validate=validation_psnr, baseline=lambda: validation_psnr(None),
                steps=8000, lr=1e-4, betas=(0.5, 0.999), check_every=500)
