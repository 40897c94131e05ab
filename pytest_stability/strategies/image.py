"""Image-domain perturbations r (B, C, H, W) of the images x: white and coloured Gaussian noise, and a smooth
multiplicative intensity bias."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from ..metrics import l2_norm
from ..operators.base import complex_dtype
from ..tensors import randn
from .fourier import freqs, same_kind, smooth_fields
from .perturbation import (
    LEVELS,
    SEEDS,
    Perturbation,
    cap_linear,
    check_count,
    check_eps,
    check_images,
    check_positive,
    fit_norms,
    level_strategy,
    named,
    seeded,
)


# -- noise ----------------------------------------------------------------------------------------------
def gaussian_noise(x: torch.Tensor, *, eps: float = 0.02, levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """White Gaussian noise r with ‖r_b‖ = level/levels × eps·‖x_b‖ (real for real x)."""
    x, eps = check_images(x), check_eps(eps, required=True)
    scale = l2_norm(x)

    def make(drawn: tuple[int, int]) -> Perturbation:
        level, seed = drawn
        r = fit_norms(randn(tuple(x.shape), x, seeded(seed)), level / levels * eps * scale)
        return Perturbation("gaussian", "image", r, scale, f"Gaussian noise (seed {seed}, level {level}/{levels})",
                            (("level", level), ("seed", seed)))

    return st.tuples(level_strategy(levels), SEEDS).map(named(make, "gaussian_noise"))


def coloured_noise(x: torch.Tensor, *, eps: float = 0.02, max_width: float = 4.0,
                   levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """Gaussian noise smoothed by a Gaussian of width σ ∈ {0.5, 1, …, max_width} pixels, ‖r_b‖ = level/levels ×
    eps·‖x_b‖; shrinks towards σ = 0.5 (the least coloured)."""
    x, eps = check_images(x), check_eps(eps, required=True)
    widths = max(1, int(2 * check_positive("max_width", max_width)))
    scale = l2_norm(x)
    h, w = x.shape[-2:]
    radius2 = freqs(h, x).view(-1, 1) ** 2 + freqs(w, x).view(1, -1) ** 2

    def make(drawn: tuple[int, int, int]) -> Perturbation:
        level, half_width, seed = drawn
        sigma = half_width / 2
        white = randn(tuple(x.shape), x, seeded(seed))
        smooth = torch.fft.ifft2(torch.fft.fft2(white.to(complex_dtype(x.dtype))) *
                                 torch.exp(-2 * math.pi ** 2 * sigma ** 2 * radius2))
        r = fit_norms(same_kind(smooth, x), level / levels * eps * scale)
        return Perturbation("coloured", "image", r, scale,
                            f"coloured noise of width {sigma:g} px (seed {seed}, level {level}/{levels})",
                            (("level", level), ("width", sigma), ("seed", seed)))

    return st.tuples(level_strategy(levels), st.integers(1, widths), SEEDS).map(named(make, "coloured_noise"))


# -- smooth intensity bias --------------------------------------------------------------------------------
def intensity_bias(x: torch.Tensor, *, max_bias: float = 0.1, eps: float | None = None, max_order: int = 2,
                   levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """A smooth multiplicative bias x·(1 + β): r = x·β, β a real random field of Fourier order 1 … max_order with
    max|β| = level/levels × max_bias, reduced to the budget ‖r_b‖ ≤ eps·‖x_b‖ when eps is given."""
    x, eps = check_images(x), check_eps(eps, required=False)
    max_bias, max_order = check_positive("max_bias", max_bias), check_count("max_order", max_order)
    scale = l2_norm(x)
    cap = None if eps is None else eps * scale

    def make(drawn: tuple[int, int, int]) -> Perturbation:
        level, order, seed = drawn
        beta = smooth_fields(tuple(x.shape[-2:]), order, 1, seeded(seed), complex_=False, like=x)[0]
        r, c = cap_linear(x * (level / levels * max_bias) * beta, cap)
        amplitude = level / levels * max_bias * c
        return Perturbation("bias", "image", r, scale,
                            f"intensity bias of up to ±{100 * amplitude:.3g} %, order {order} (seed {seed})",
                            (("level", level), ("order", order), ("seed", seed)))

    return st.tuples(level_strategy(levels), st.integers(1, max_order), SEEDS).map(named(make, "intensity_bias"))
