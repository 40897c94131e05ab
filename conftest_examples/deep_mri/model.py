"""The Deep MRI analogue: a deep cascade of CNNs with data-consistency layers (Schlemper et al., IPMI 2017).

The paper's Deep MRI network is D5-C5: five cascades, each a 5-layer CNN (64 filters, 3×3) with a residual
connection, followed by a data-consistency (DC) layer, on complex cardiac images as 2 real channels, trained
with random 33 % Cartesian patterns. This one is the same network at half the width: five cascades of five 3×3
convolutions with 32 filters instead of 64 (145 k parameters), for 128 × 128 single-coil MRI. With y the measured
k-space (zero off the mask M) and F the centred orthonormal DFT (:func:`~pytest_stability.operators.fft2c`), the
network computes

    x₀ = F⁻¹ y                                   (the zero-filled image)
    x_{c+1} = DC(x_c + CNN_c(x_c)),   DC(x) = F⁻¹((1 − M) ⊙ F x + M ⊙ y)   (hard, noiseless DC)

and returns x₅, complex (B, 1, H, W). Each CNN sees the complex image as its real and imaginary channels.
The DC layer puts the measured samples back exactly, so every output agrees with y on the mask; only the
unsampled k-space is the network's guess.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pytest_stability.operators import fft2c, ifft2c

from .. import zoo

FOLDER = Path(__file__).parent


class Denoiser(nn.Module):
    """x ↦ x + CNN(x) on complex images (B, 1, H, W): ``layers`` 3×3 convolutions with ReLU between them,
    ``channels`` filters, on the real and imaginary parts as 2 channels."""

    def __init__(self, layers: int = 5, channels: int = 32):
        super().__init__()
        widths = [2] + [channels] * (layers - 1) + [2]
        convs: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            convs.append(nn.Conv2d(w_in, w_out, 3, padding=1))
            if i < layers - 1:
                convs.append(nn.ReLU())
        self.cnn = nn.Sequential(*convs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.cnn(torch.cat([x.real, x.imag], dim=1))
        return x + torch.complex(out[:, :1], out[:, 1:])


def data_consistency(x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """F⁻¹((1 − M) ⊙ F x + M ⊙ y): replace the sampled k-space of x by the measurements y.

    x: (B, 1, H, W) complex; y: (B, 1, H, W) complex k-space; mask: (1, 1, H, W) of 0/1 (real).
    """
    k = fft2c(x)
    return ifft2c(k + mask * (y - k))


class DeepCascade(nn.Module):
    """``model(y, mask)``: cascades of residual CNNs and hard data consistency; see the module docstring.

    y: (B, 1, H, W) complex k-space, zero off the mask; mask: (1, 1, H, W) 0/1, real. Returns the complex
    image (B, 1, H, W).
    """

    def __init__(self, cascades: int = 5, layers: int = 5, channels: int = 32):
        super().__init__()
        self.denoisers = nn.ModuleList(Denoiser(layers, channels) for _ in range(cascades))

    def forward(self, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.to(y.real.dtype)
        x = ifft2c(y * mask)
        for denoiser in self.denoisers:
            x = data_consistency(denoiser(x), y, mask)
        return x


def load(seed: int = zoo.SHIPPED_SEED) -> DeepCascade:
    """The trained network of one training seed (``weights-seed{seed}.pt``), in eval mode."""
    return zoo.load_weights(DeepCascade(), FOLDER / f"weights-seed{seed}.pt")
