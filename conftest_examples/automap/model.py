"""An AUTOMAP analogue (Zhu et al., Nature 2018), the paper's single-coil MRI network with dense layers, at 64 × 64.

AUTOMAP maps the sampled k-space values straight to the image through fully connected layers, then refines with
convolutions. The network the paper tested ("_2fc_2cnv_1dcv_L1sparse", 128 × 128, 60 % sampling) takes the 9855
samples as one real vector [Re; −Im] (19710 values), runs FC 25000 + tanh → FC 16384 + tanh, reshapes to the
image grid, applies a 5 × 5 convolution with 64 channels and tanh, a 5 × 5 convolution with 64 channels and ReLU
(the L1-penalised layer) and a 7 × 7 transposed convolution to the image. This analogue keeps that layout at 64 × 64:

    y (B, 1, 64, 64) complex k-space grid, zero off the mask
      → gather the m = 2458 sampled entries with the model's own copy of the mask (60 %, variable density, seed 0)
      → v = [Re y_Ω ; Im y_Ω] ∈ ℝ^{4916}
      → FC 4916 → 2048, tanh → FC 2048 → 4096, tanh → reshape (B, 1, 64, 64)
      → conv 5 × 5, 32 channels, tanh → conv 5 × 5, 32 channels, ReLU → transposed conv 7 × 7 → image (B, 1, 64, 64).

Why this width: the dense layers hold (2m + N²) · H parameters, which grows with the fourth power of the side N.
At the original's proportions (H ≈ 1.5 N²) the 64 × 64 network would have 54 M parameters (108 MB in float16);
H = 2048 = N²/2 keeps both dense layers, the part that makes AUTOMAP what it is, at 18.5 M parameters (37 MB in
float16, one file in the repository), and the convolutions have half the original's 64 channels.

The input size is fixed by the mask, so the network cannot be run at another sampling ratio (the paper skipped
its more-samples test for the same reason). k-space is centred and orthonormal (pytest-stability's
:class:`~pytest_stability.SingleCoilMRI`), images are real in [0, 1].
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pytest_stability import mri_family
from pytest_stability.families import OperatorFamily

from .. import zoo

SIZE = 64
RATIO = 0.6
PATTERN = "variable-density"
HIDDEN = 2048
CHANNELS = 32
FOLDER = Path(__file__).parent


def family() -> OperatorFamily:
    """The single-coil MRI family the network was trained for: 64 × 64, nested variable-density masks, seed 0."""
    return mri_family((SIZE, SIZE), pattern=PATTERN, seed=0)


class Automap(nn.Module):
    """y (B, 1, H, W) complex k-space grid → x̂ (B, 1, H, W) real, for the sampling mask ``mask`` (H, W) bool.

    ``features`` holds the last call's L1-penalised feature maps (the second convolution's output) for training."""

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
        self.features: torch.Tensor | None = None

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.dim() != 4 or y.shape[1] != 1 or tuple(y.shape[-2:]) != self.image_shape or not y.is_complex():
            raise ValueError(f"Automap takes complex k-space grids (B, 1, {self.image_shape[0]}, "
                             f"{self.image_shape[1]}), got {tuple(y.shape)} {y.dtype}.")
        samples = y[:, 0][:, self.mask]  # (B, m), the sampled entries in row-major order
        v = torch.cat([samples.real, -samples.imag], dim=1)
        h = torch.tanh(self.fc1(v))
        h = torch.tanh(self.fc2(h)).view(-1, 1, *self.image_shape)
        h = torch.tanh(self.conv1(h))
        h = torch.relu(self.conv2(h))
        self.features = h if self.training else None
        return self.deconv(h)


def load(seed: int = zoo.SHIPPED_SEED) -> Automap:
    """The trained network of one training seed (``weights-seed{seed}.pt``), in eval mode, with the mask of
    ``family()(RATIO)``."""
    return zoo.load_weights(Automap(family()(RATIO).mask), FOLDER / f"weights-seed{seed}.pt")
