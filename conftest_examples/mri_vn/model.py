"""The MRI-VN analogue: a variational network for parallel MRI (Hammernik et al., MRM 2018).

The paper's MRI-VN unrolls T = 10 gradient steps on a learned Fields-of-Experts energy for 15-coil knee data at
15 % (regular columns): each stage takes a step on the data term ½‖A x − y‖² and on a learned regulariser whose
gradient is Σ_j K_jᵀ φ_j(K_j x), with 24 filters K_j (11×11, on the real and imaginary parts) and learned
activations φ_j (mixtures of 31 Gaussian RBFs). This one is the same network at 128 × 128 with 15 coils:

    x₀ = A* y
    x_{t+1} = x_t − λ_t A*(A x_t − y) − R_t(x_t),   R_t(x) = K_tᵀ φ_t(K_t x)        (t = 0 … T − 1)

with the original's T = 10 stages and 24 filters of 11 × 11 per stage on the real and imaginary parts (zero-mean,
unit norm), K_tᵀ the transposed convolution with the same filters, and φ_t a learned mixture of 31 Gaussian radial
basis functions per filter, centres evenly spaced on [−1, 1] and width their spacing (Hammernik et al.'s
activation). λ_t is learned. 66 k parameters, as many as the original's (the VN's width is its filter count).
The model is ``model(y, A)``: it uses the operator A it is given (A.forward, A.adjoint), so it runs at any
sampling ratio and coil count; y is (B, coils, H, W) complex k-space and the output the complex image (B, 1, H, W).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pytest_stability.operators import LinearOperator

from .. import zoo

FOLDER = Path(__file__).parent


class RadialBasisActivation(nn.Module):
    """φ_j(z) = Σ_i w_ji exp(−(z − μ_i)² / (2σ²)), one learned function per channel j: ``kernels`` Gaussians with
    centres μ_i evenly spaced on [−bound, bound] and σ their spacing (Hammernik et al.'s activation). Input and
    output (B, C, H, W) real; initialised to φ(z) ≈ scale · z on [−bound, bound] (least-squares weights).

    Evaluated through a table: the mixture is computed exactly at ``table`` points on [−1.5 bound, 1.5 bound]
    (a matrix product with the fixed Gaussians) and interpolated linearly in between, constant beyond (where the
    Gaussians have decayed to below 1e-5 of their peak). The interpolation error is below 1e-4 of the function's
    scale, and it costs two gathers per pixel instead of 31 exponentials: the activation of a 15-coil 128 × 128
    VN would otherwise cost more than its convolutions.
    """

    def __init__(self, channels: int, kernels: int = 31, bound: float = 1.0, scale: float = 0.1,
                 table: int = 2049):
        super().__init__()
        centres = torch.linspace(-bound, bound, kernels, dtype=torch.float64)
        sigma = 2 * bound / (kernels - 1)
        gauss = lambda z: torch.exp(-(z.view(-1, 1) - centres.view(1, -1)) ** 2 / (2 * sigma**2))  # noqa: E731
        line = torch.linalg.lstsq(gauss(centres), scale * centres.view(-1, 1)).solution.view(1, -1)
        self.weights = nn.Parameter(line.float().repeat(channels, 1))  # (C, kernels)
        self.limit = 1.5 * bound
        self.register_buffer("basis", gauss(torch.linspace(-self.limit, self.limit, table)).float())  # (T, K)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        values = self.weights @ self.basis.T  # (C, T): φ_j at the table points
        points = values.shape[1]
        t = (z.clamp(-self.limit, self.limit) + self.limit) * ((points - 1) / (2 * self.limit))
        left = t.detach().floor().clamp(max=points - 2)
        frac = t - left
        index = left.long() + torch.arange(z.shape[1], device=z.device).view(1, -1, 1, 1) * points
        low, high = torch.take(values, index), torch.take(values, index + 1)
        return low + frac * (high - low)


class Stage(nn.Module):
    """One VN stage: x ↦ x − λ A*(A x − y) − Kᵀ φ(K x), with zero-mean, unit-norm filters K."""

    def __init__(self, filters: int = 24, size: int = 11):
        super().__init__()
        self.kernels = nn.Parameter(torch.randn(filters, 2, size, size) / size)
        self.activation = RadialBasisActivation(filters)
        self.step = nn.Parameter(torch.tensor(1.0))

    def filters(self) -> torch.Tensor:
        k = self.kernels - self.kernels.mean(dim=(1, 2, 3), keepdim=True)
        return k / torch.linalg.vector_norm(k, dim=(1, 2, 3), keepdim=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor, A: LinearOperator) -> torch.Tensor:
        k = self.filters()
        pad = k.shape[-1] // 2
        response = F.conv2d(torch.cat([x.real, x.imag], dim=1), k, padding=pad)
        r = F.conv_transpose2d(self.activation(response), k, padding=pad)
        return x - self.step * A.adjoint(A.forward(x) - y) - torch.complex(r[:, :1], r[:, 1:])


class VariationalNetwork(nn.Module):
    """``model(y, A)``: T unrolled VN stages from x₀ = A* y; see the module docstring."""

    def __init__(self, stages: int = 10, filters: int = 24, size: int = 11):
        super().__init__()
        self.stages = nn.ModuleList(Stage(filters, size) for _ in range(stages))

    def forward(self, y: torch.Tensor, A: LinearOperator) -> torch.Tensor:
        x = A.adjoint(y)
        for stage in self.stages:
            x = stage(x, y, A)
        return x


def load(seed: int = zoo.SHIPPED_SEED) -> VariationalNetwork:
    """The trained network of one training seed (``weights-seed{seed}.pt``), in eval mode."""
    return zoo.load_weights(VariationalNetwork(), FOLDER / f"weights-seed{seed}.pt")
