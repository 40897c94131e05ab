"""Train the DAGAN analogue: ``python -m conftest_examples dagan:SEED`` (CPU, one thread, deterministic).

Data: MNI152 slices at 128 × 128, elastically deformed, with random contrasts (:func:`datasets.augment`), measured
noiselessly with the fixed 20 % Gaussian-line mask (seed 0), as DAGAN was trained on one mask. Input: the zero-filled
magnitude |A* y|. DAGAN is trained as a conditional GAN with DAGAN's own losses and weights (tensorlayer/DAGAN,
config.py and train.py): the generator minimises

    1 · BCE(D(x̂), real) + 15 · NMSE(x̂, x) + 0.1 · mean (|F x̂| − |F x|)²  (+ 0.0025 · VGG perceptual loss)

with NMSE = ‖x̂ − x‖ / ‖x‖ per image (not squared: its pull does not vanish as the error shrinks) and the frequency
term on the magnitudes of the orthonormal DFT; the discriminator minimises the usual cross-entropy on real and
generated images; Adam 1e-4, β₁ = 0.5 for both, one discriminator step per generator step. The perceptual term needs
ImageNet VGG weights, which nothing here may download, and is left out (its weight is the smallest). Batch 8.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from pytest_stability import TVReconstruction, psnr
from pytest_stability.operators import fft2c

from .. import datasets, zoo
from ..training import Nets, Optimisers, Recipe
from .model import RATIO, DaganGenerator, Discriminator, family

BATCH = 8
ADVERSARIAL, PIXEL, FREQUENCY = 1.0, 15.0, 0.1  # DAGAN's g_adv, g_alpha, g_beta


def nmse(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ‖x̂ − x‖ / ‖x‖ (DAGAN's pixel loss)."""
    dims = tuple(range(1, x.dim()))
    return (torch.linalg.vector_norm(out - x, dim=dims) / torch.linalg.vector_norm(x, dim=dims)).mean()


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
    frequency = (fft2c(fake.to(torch.complex64)).abs() - fft2c(x.to(torch.complex64)).abs()).pow(2).mean()
    g_loss = ADVERSARIAL * bce(critic(fake), ones) + PIXEL * nmse(fake, x) + FREQUENCY * frequency
    optimisers["generator"].zero_grad(set_to_none=True)
    g_loss.backward()
    optimisers["generator"].step()
    return float((fake - x).pow(2).mean().detach())


def validation_psnr(model: DaganGenerator | None) -> float:
    """Mean PSNR on the validation slices with the seed-0 mask (TV's for ``model=None``)."""
    operator, x = family()(RATIO), zoo.brain_slices("val")
    y = operator(x)
    out = TVReconstruction(operator)(y) if model is None else model(operator.adjoint(y).abs())
    return float(psnr(out, x).mean())


RECIPE = Recipe(name="dagan", folder=Path(__file__).parent,
                build=lambda: {"generator": DaganGenerator(), "discriminator": Discriminator()},
                step=gan_step, validate=validation_psnr, baseline=lambda: validation_psnr(None),
                steps=12000, lr=1e-4, betas=(0.5, 0.999), check_every=500)
