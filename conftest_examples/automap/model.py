"""An AUTOMAP analogue (Zhu et al., Nature 2018), the paper's low-resolution single-coil MRI network, at 32 × 32.

AUTOMAP maps the sampled k-space values straight to the image through fully connected layers, then refines
with convolutions. The network the paper tested ("_2fc_2cnv_1dcv", 128 × 128, 60 % sampling) takes the
samples as one real vector [Re; Im], runs FC + tanh → FC + tanh, reshapes to the image grid, applies two
5 × 5 convolutions and one transposed convolution. This analogue keeps that layout at 32 × 32:

    y (B, 1, 32, 32) complex k-space grid, zero off the mask
      → gather the m = 614 sampled entries with the model's own copy of the mask (60 %, variable density, seed 0)
      → v = [Re y_Ω ; Im y_Ω] ∈ ℝ^{2m}
      → FC 2m → 1024, tanh → FC 1024 → 1024, tanh → reshape (B, 1, 32, 32)
      → conv 5 × 5, 16 channels, ReLU → conv 5 × 5, 16 channels, ReLU → transposed conv 7 × 7 → image (B, 1, 32, 32).

The input size is fixed by the mask, so the network cannot be run at another sampling ratio (the paper skipped
its more-samples test for the same reason). k-space is centred and orthonormal (pytest-stability's
:class:`~pytest_stability.SingleCoilMRI`), images are real in [0, 1]. Weights: ``weights.pt`` (float16),
written by ``python -m conftest_examples.automap.train``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pytest_stability import mri_family
from pytest_stability.families import OperatorFamily

from .. import zoo

SIZE = 32
RATIO = 0.6
PATTERN = "variable-density"
HIDDEN = 1024
CHANNELS = 16
WEIGHTS = Path(__file__).with_name("weights.pt")


def family() -> OperatorFamily:
    """The single-coil MRI family the network was trained for: 32 × 32, nested variable-density masks, seed 0."""
    return mri_family((SIZE, SIZE), pattern=PATTERN, seed=0)


class Automap(nn.Module):
    """y (B, 1, H, W) complex k-space grid → x̂ (B, 1, H, W) real, for the sampling mask ``mask`` (H, W) bool."""

    def __init__(self, mask: torch.Tensor, *, hidden: int = HIDDEN, channels: int = CHANNELS):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        self.register_buffer("mask", mask)
        self.image_shape = tuple(mask.shape)
        m = int(mask.sum())
        self.fc1 = nn.Linear(2 * m, hidden)
        self.fc2 = nn.Linear(hidden, mask.numel())
        self.conv1 = nn.Conv2d(1, channels, 5, padding=2)
        self.conv2 = nn.Conv2d(channels, channels, 5, padding=2)
        self.deconv = nn.ConvTranspose2d(channels, 1, 7, padding=3)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 4 or y.shape[1] != 1 or tuple(y.shape[-2:]) != self.image_shape or not y.is_complex():
            raise ValueError(f"Automap takes complex k-space grids (B, 1, {self.image_shape[0]}, "
                             f"{self.image_shape[1]}), got {tuple(y.shape)} {y.dtype}.")
        samples = y[:, 0][:, self.mask]  # (B, m), the sampled entries in row-major order
        v = torch.cat([samples.real, samples.imag], dim=1)
        h = torch.tanh(self.fc1(v))
        h = torch.tanh(self.fc2(h)).view(-1, 1, *self.image_shape)
        h = torch.relu(self.conv1(h))
        h = torch.relu(self.conv2(h))
        return self.deconv(h)


def load() -> Automap:
    """The trained network (eval mode, float32) with the mask of ``family()(RATIO)``."""
    model = Automap(family()(RATIO).mask)
    return zoo.load_weights(model, WEIGHTS)
