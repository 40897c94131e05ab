"""The MRI-VN analogue: a variational network for parallel MRI (Hammernik et al., MRM 2018).

The paper's MRI-VN unrolls T = 10 gradient steps on a learned Fields-of-Experts energy for 15-coil knee data at
15 % (regular columns): each stage takes a step on the data term ½‖A x − y‖² and on a learned regulariser whose
gradient is Σ_j K_jᵀ φ_j(K_j x), with 24 filters K_j (11×11, on the real and imaginary parts) and learned
activations φ_j (mixtures of 31 Gaussian RBFs). This one is the same design, small, for 64×64 images:

    x₀ = A* y
    x_{t+1} = x_t − λ_t A*(A x_t − y) − R_t(x_t),   R_t(x) = K_tᵀ φ_t(K_t x)        (t = 0 … T − 1)

with T = 10 stages, 24 filters of 7×7 per stage (zero-mean, unit norm, as in the original), K_tᵀ the transposed
convolution with the same filters, and φ_t a learned piecewise-linear function per filter (31 knots on [−1, 1],
constant beyond), which plays the role of the RBF mixture at a fraction of its memory. λ_t is learned. The
model is ``model(y, A)``: it uses the operator A it is given (A.forward, A.adjoint), so it runs at any sampling
ratio and coil count; y is (B, coils, H, W) complex k-space and the output the complex image (B, 1, H, W).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from pytest_stability.operators import LinearOperator

from .. import zoo

WEIGHTS = Path(__file__).with_name("weights.pt")


class PiecewiseLinear(nn.Module):
    """φ_j(z), one learned function per channel j: linear interpolation of ``knots`` values on a uniform grid
    over [−bound, bound], constant beyond. Input and output (B, C, H, W) real; initialised to φ(z) = scale·z."""

    def __init__(self, channels: int, knots: int = 31, bound: float = 1.0, scale: float = 0.1):
        super().__init__()
        self.bound, self.knots = bound, knots
        grid = torch.linspace(-bound, bound, knots)
        self.values = nn.Parameter(scale * grid.repeat(channels, 1))  # (C, knots)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        t = (z.clamp(-self.bound, self.bound) + self.bound) * ((self.knots - 1) / (2 * self.bound))
        left = t.detach().floor().clamp(max=self.knots - 2)
        frac = t - left
        offset = torch.arange(z.shape[1], device=z.device).view(1, -1, 1, 1) * self.knots
        index = left.long() + offset
        low, high = torch.take(self.values, index), torch.take(self.values, index + 1)
        return low + frac * (high - low)


class Stage(nn.Module):
    """One VN stage: x ↦ x − λ A*(A x − y) − Kᵀ φ(K x), with zero-mean, unit-norm filters K."""

    def __init__(self, filters: int = 24, size: int = 7):
        super().__init__()
        self.kernels = nn.Parameter(torch.randn(filters, 2, size, size) / size)
        self.activation = PiecewiseLinear(filters)
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

    def __init__(self, stages: int = 10, filters: int = 24, size: int = 7):
        super().__init__()
        self.stages = nn.ModuleList(Stage(filters, size) for _ in range(stages))

    def forward(self, y: torch.Tensor, A: LinearOperator) -> torch.Tensor:
        x = A.adjoint(y)
        for stage in self.stages:
            x = stage(x, y, A)
        return x


def load() -> VariationalNetwork:
    """The trained network (``python -m conftest_examples.mri_vn.train`` writes the weights)."""
    return zoo.load_weights(VariationalNetwork(), WEIGHTS)
