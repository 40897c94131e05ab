"""Ell 50's architecture: FBPConvNet (Jin et al., 2017), a residual U-Net on the filtered back-projection.

The network sees the FBP x₁ = FBP(y) of a sparse-view sinogram (the paper's 50 views, at 128 × 128) and returns
x₁ + g(x₁), where g is a U-Net that learns to subtract the streaks of sparse-view FBP. Shapes: (B, 1, H, W)
float32 → (B, 1, H, W), H and W divisible by 2^levels. Jin et al.'s network at a quarter of its width: the same
4 pooling levels (5 scales) with 16 feature maps at the top instead of 64 (doubling per level, 256 at the bottom
instead of 1024; 1.9 M parameters), the original's 3×3 convolutions, batch normalisation, ReLU, 2×2 max pooling,
2×2 transposed convolutions for upsampling, concatenated skip connections, and the skip from input to output.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from conftest_examples import zoo

FOLDER = Path(__file__).parent


def _block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3×3 convolutions, each followed by batch normalisation and ReLU."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU())


class FBPConvNet(nn.Module):
    """x₁ ↦ x₁ + g(x₁) with g a U-Net of ``levels`` poolings and ``channels`` feature maps at the top."""

    def __init__(self, channels: int = 16, levels: int = 4):
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


def load(seed: int = zoo.SHIPPED_SEED) -> FBPConvNet:
    """The trained network of one training seed (``weights-seed{seed}.pt``, written by
    ``python -m conftest_examples ell50:SEED``), in eval mode."""
    return zoo.load_weights(FBPConvNet(), FOLDER / f"weights-seed{seed}.pt")
