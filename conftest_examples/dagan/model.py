"""A DAGAN analogue (Yang et al., IEEE TMI 2018): a U-Net that refines the zero-filled MRI image, at 64 × 64.

DAGAN's generator (the "refine" model the paper tested) is a U-Net of strided 4 × 4 convolutions with batch
normalisation and leaky ReLUs, transposed convolutions with skip connections back up, and a residual output
``clip(tanh(U-Net(x₀)) + x₀, −1, 1)`` on the zero-filled magnitude image x₀ = |F⁻¹ M F x| (images in [−1, 1],
256 × 256, 20 % 1D Gaussian Cartesian mask). This analogue keeps that design at 64 × 64 on images in [0, 1]:

    x₀ = |A* y| (B, 1, 64, 64)
      → 4 × [conv 4 × 4 stride 2 (+ batch norm after the first), leaky ReLU 0.2]:  32, 64, 128, 128 channels
      → 3 × [transposed conv 4 × 4 stride 2, batch norm, ReLU, concatenate the encoder features of that size]
      → transposed conv 4 × 4 stride 2 → tanh → x̂ = x₀ + tanh(U-Net(x₀)).

The final clip is dropped (it would zero the gradient wherever it bites; with [0, 1] images and a tanh
residual it rarely does). The operator is single-coil Cartesian MRI with 20 % of the phase-encode lines
(``mri_family((64, 64), pattern="cartesian")`` at 0.2, seed 0: 13 of 64 columns, 5 of them the centre); the
paper's DAGAN used a 1D Gaussian line mask. The model takes the zero-filled magnitude, so a test passes
``inputs=naive_magnitude``. Weights: ``weights.pt`` (float16), written by ``python -m conftest_examples.dagan.train``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pytest_stability import LinearOperator, mri_family
from pytest_stability.families import OperatorFamily

from .. import zoo

SIZE = 64
RATIO = 0.2
PATTERN = "cartesian"
WIDTH = 32
WEIGHTS = Path(__file__).with_name("weights.pt")


def family() -> OperatorFamily:
    """The single-coil MRI family the network was trained for: 64 × 64, nested Cartesian line masks, seed 0."""
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
    """x₀ (B, 1, H, W) real, H and W divisible by 16 → x̂ = x₀ + tanh(U-Net(x₀)) (B, 1, H, W)."""

    def __init__(self, width: int = WIDTH):
        super().__init__()
        c = width
        self.down = nn.ModuleList([_down(1, c, False), _down(c, 2 * c, True), _down(2 * c, 4 * c, True),
                                   _down(4 * c, 4 * c, True)])
        self.up = nn.ModuleList([_up(4 * c, 4 * c), _up(8 * c, 2 * c), _up(4 * c, c)])
        self.out = nn.ConvTranspose2d(2 * c, 1, 4, stride=2, padding=1)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        if x0.dim() != 4 or x0.shape[1] != 1 or x0.is_complex() or x0.shape[-1] % 16 or x0.shape[-2] % 16:
            raise ValueError(f"DaganGenerator takes real images (B, 1, H, W) with H, W divisible by 16 (the "
                             f"zero-filled magnitude |A* y|), got {tuple(x0.shape)} {x0.dtype}.")
        skips = []
        h = x0
        for layer in self.down:
            h = layer(h)
            skips.append(h)
        for layer, skip in zip(self.up, reversed(skips[:-1]), strict=True):
            h = torch.cat([layer(h), skip], dim=1)
        return x0 + torch.tanh(self.out(h))


def load() -> DaganGenerator:
    """The trained generator (eval mode, float32)."""
    return zoo.load_weights(DaganGenerator(), WEIGHTS)
