"""A DAGAN analogue (Yang et al., IEEE TMI 2018): a U-Net that refines the zero-filled MRI image, at 128 × 128.

DAGAN's generator (the "refine" model the paper tested) is a pix2pix-style U-Net: 8 strided 4 × 4 convolutions
(64, 128, 256, 512, 512, 512, 512, 512 channels, batch normalisation after all but the first, leaky ReLU 0.2) down
to 1 × 1 at 256 × 256, then transposed 4 × 4 convolutions back up with batch normalisation, ReLU and the encoder's
features concatenated, and a residual output ``clip(tanh(U-Net(x₀)) + x₀, −1, 1)`` on the zero-filled magnitude
image x₀ = |F⁻¹ M F x| (20 % 1D Gaussian Cartesian mask). It was trained as a GAN (see train.py). This analogue
is the same generator at a quarter of the width for 128 × 128: 7 levels (16, 32, 64, 128, 128, 128, 128 channels)
down to 1 × 1, 2.6 M parameters, on images in [0, 1]:

    x₀ = |A* y| (B, 1, 128, 128) → U-Net → x̂ = x₀ + tanh(U-Net(x₀)).

The final clip is dropped (it would zero the gradient wherever it bites; with [0, 1] images and a tanh residual
it rarely does). The model takes the zero-filled magnitude, so a test passes ``inputs=naive_magnitude``.
:class:`Discriminator` is the GAN's critic, used only in training.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pytest_stability import LinearOperator, mri_family
from pytest_stability.families import OperatorFamily

from .. import zoo

SIZE = 128
RATIO = 0.2
PATTERN = "cartesian-gaussian"
FOLDER = Path(__file__).parent


def family() -> OperatorFamily:
    """The single-coil MRI family the network was trained for: 128 × 128, nested Gaussian line masks, seed 0."""
    return mri_family((SIZE, SIZE), pattern=PATTERN, seed=0)


def naive_magnitude(y: torch.Tensor, operator: LinearOperator) -> tuple[torch.Tensor]:
    """The model's input for measurements y: the zero-filled magnitude |A* y| (B, 1, H, W), real."""
    return (operator.adjoint(y).abs(),)


def _down(cin: int, cout: int, norm: bool) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 4, stride=2, padding=1)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers, nn.LeakyReLU(0.2))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1), nn.BatchNorm2d(cout), nn.ReLU())


class DaganGenerator(nn.Module):
    """x₀ (B, 1, H, W) real, H and W divisible by 2^levels → x̂ = x₀ + tanh(U-Net(x₀)) (B, 1, H, W)."""

    def __init__(self, width: int = 16, levels: int = 7):
        super().__init__()
        widths = [width * min(2**k, 8) for k in range(levels)]
        self.levels = levels
        self.down = nn.ModuleList(_down(c_in, c_out, 0 < k < levels - 1)
                                  for k, (c_in, c_out) in enumerate(zip([1, *widths[:-1]], widths, strict=True)))
        ups = [_up(widths[-1], widths[-2])]
        ups += [_up(2 * widths[k], widths[k - 1]) for k in range(levels - 2, 0, -1)]
        self.up = nn.ModuleList(ups)
        self.out = nn.ConvTranspose2d(2 * widths[0], 1, 4, stride=2, padding=1)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        side = 2**self.levels
        if x0.dim() != 4 or x0.shape[1] != 1 or x0.is_complex() or x0.shape[-1] % side or x0.shape[-2] % side:
            raise ValueError(f"DaganGenerator takes real images (B, 1, H, W) with H, W divisible by {side} (the "
                             f"zero-filled magnitude |A* y|), got {tuple(x0.shape)} {x0.dtype}.")
        skips = []
        h = x0
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        for layer, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            h = torch.cat([layer(h), skip], dim=1)
        return x0 + torch.tanh(self.out(h))


class Discriminator(nn.Module):
    """DAGAN's critic at a quarter width: strided 4 × 4 convolutions (16, 32, 64, 128 channels, batch norm, leaky ReLU),
    a 1 × 1 convolution to one channel and the mean over positions: one logit per image (B,)."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.body = nn.Sequential(_down(1, width, False), _down(width, 2 * width, True),
                                  _down(2 * width, 4 * width, True), _down(4 * width, 8 * width, True),
                                  nn.Conv2d(8 * width, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(1, 2, 3))


def load(seed: int = zoo.SHIPPED_SEED) -> DaganGenerator:
    """The trained generator of one training seed (``weights-seed{seed}.pt``), in eval mode."""
    return zoo.load_weights(DaganGenerator(), FOLDER / f"weights-seed{seed}.pt")
