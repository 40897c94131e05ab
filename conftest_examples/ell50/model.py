"""Ell 50's architecture: FBPConvNet (Jin et al., 2017), a residual U-Net on the filtered back-projection.

The network sees the FBP x₁ = FBP(y) of a sparse-view sinogram (here 10 of 180 views: the paper's regime of 50
of 1000 views, scaled to this image size; see train.py) and returns x₁ + g(x₁), where g is a U-Net that learns
to subtract the streaks of sparse-view FBP. Shapes: (B, 1, H, W) float32 → (B, 1, H, W),
H and W divisible by 2^levels. This is a small analogue of Jin et al.'s network (5 levels, 64 channels at
the top): 3 pooling levels and 16 channels at the top (doubling per level, 128 at the bottom), with the
original's 3×3 convolutions, batch normalisation, ReLU, 2×2 max pooling, 2×2 transposed convolutions for
upsampling, concatenated skip connections, and the skip from input to output.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from conftest_examples import zoo

WEIGHTS = Path(__file__).with_name("weights.pt")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3×3 convolutions, each followed by batch normalisation and ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU())


class FBPConvNet(nn.Module):
    """x₁ ↦ x₁ + g(x₁) with g a U-Net of ``levels`` poolings and ``channels`` feature maps at the top."""

    def __init__(self, channels: int = 16, levels: int = 3):
        super().__init__()
        widths = [channels * 2 ** k for k in range(levels + 1)]
        self.down = nn.ModuleList(_block(a, b) for a, b in zip([1, *widths[:-2]], widths[:-1], strict=True))
        self.bottom = _block(widths[-2], widths[-1])
        self.up = nn.ModuleList(nn.ConvTranspose2d(c, c // 2, 2, stride=2) for c in reversed(widths[1:]))
        self.merge = nn.ModuleList(_block(c, c // 2) for c in reversed(widths[1:]))
        self.out = nn.Conv2d(channels, 1, 1)

    def forward(self, fbp: torch.Tensor) -> torch.Tensor:
        skips, z = [], fbp
        for block in self.down:
            z = block(z)
            skips.append(z)
            z = nn.functional.max_pool2d(z, 2)
        z = self.bottom(z)
        for up, merge, skip in zip(self.up, self.merge, reversed(skips), strict=True):
            z = merge(torch.cat([skip, up(z)], dim=1))
        return fbp + self.out(z)


def load() -> FBPConvNet:
    """The trained network (weights.pt, written by ``python -m conftest_examples.ell50.train``), in eval mode."""
    return zoo.load_weights(FBPConvNet(), WEIGHTS)
