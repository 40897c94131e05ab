"""Measurement-domain MRI faults e added to the k-space y = A x: spikes, phase errors per phase-encode line and
coil-sensitivity errors."""

from __future__ import annotations

import math
from typing import Any

import torch
from hypothesis import strategies as st

from ..metrics import l2_norm
from ..operators import MultiCoilMRI
from .fourier import smooth_fields
from .perturbation import (
    LEVELS,
    SEEDS,
    Perturbation,
    cap_linear,
    cap_to,
    check_count,
    check_eps,
    check_images,
    check_mri,
    check_positive,
    fit_norms,
    level_strategy,
    named,
    seeded,
)


def kspace_spikes(x: torch.Tensor, operator: Any, *, eps: float = 0.02, max_spikes: int = 32,
                  levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """Spikes in the measured k-space (RF or gradient hardware faults): e non-zero at 1 … max_spikes sampled
    locations with random complex amplitudes (per coil for multi-coil MRI), ‖e_b‖ = level/levels × eps·‖y_b‖.

    The first spike's location is drawn as an index into the sampled locations ordered from the k-space centre
    outwards; the others are the first ones of a seeded permutation, so a draw with fewer spikes keeps the
    same ones. Each location has its own seeded amplitude. Shrinks towards fewer spikes (one: the first), the
    first one at the centre, and the smallest budget.
    """
    x, eps = check_images(x), check_eps(eps, required=True)
    op = check_mri(operator, x, "spike")
    max_spikes = check_count("max_spikes", max_spikes)
    with torch.no_grad():
        y = op.forward(x)
    scale = l2_norm(y)
    h, w = op.image_shape
    sampled = torch.nonzero(op.mask)  # (m, 2) rows, columns
    radius = (sampled[:, 0] - h // 2) ** 2 + (sampled[:, 1] - w // 2) ** 2
    sampled = sampled[torch.argsort(radius, stable=True)]
    m, coils = sampled.shape[0], y.shape[1]

    def make(drawn: tuple[int, int, int, int]) -> Perturbation:
        level, first, count, seed = drawn
        gen = seeded(seed)
        others = torch.randperm(m, generator=gen)
        chosen = torch.cat([torch.tensor([first]), others[others != first][:count - 1]])
        amplitudes = torch.view_as_complex(torch.randn(coils, m, 2, generator=gen))[:, chosen]
        where = sampled[chosen]
        spikes = torch.zeros(coils, h, w, dtype=torch.complex64)
        spikes[:, where[:, 0], where[:, 1]] = amplitudes
        e = fit_norms(spikes.to(device=y.device, dtype=y.dtype).expand(y.shape).contiguous(),
                 level / levels * eps * scale)
        at = ", ".join(f"({int(r) - h // 2}, {int(c) - w // 2})" for r, c in where[:4].tolist())
        more = f" and {where.shape[0] - 4} more" if where.shape[0] > 4 else ""
        noun = "spike" if where.shape[0] == 1 else "spikes"
        return Perturbation("spike", "measurement", e, scale,
                            f"{where.shape[0]} k-space {noun} at {at}{more} (row, column from the centre; seed {seed})",
                            (("level", level), ("first", first), ("spikes", count), ("seed", seed)))

    drawn = st.tuples(level_strategy(levels), st.integers(0, m - 1), st.integers(1, min(max_spikes, m)), SEEDS)
    return drawn.map(named(make, "kspace_spikes"))


def phase_errors(x: torch.Tensor, operator: Any, *, max_phase: float = 0.2, eps: float | None = None,
                 levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """A phase error φ_j per phase-encode column j (eddy currents, motion between lines):
    e = y·(exp(iφ_j) − 1) with φ_j uniform in ±level/levels × max_phase radians, reduced to the budget
    ‖e_b‖ ≤ eps·‖y_b‖ when eps is given."""
    x, eps = check_images(x), check_eps(eps, required=False)
    op = check_mri(operator, x, "phase")
    max_phase = check_positive("max_phase", max_phase, at_most=math.pi)
    with torch.no_grad():
        y = op.forward(x)
    scale = l2_norm(y)
    cap = None if eps is None else eps * scale

    def make(drawn: tuple[int, int]) -> Perturbation:
        level, seed = drawn
        u = 2 * torch.rand(op.image_shape[1], generator=seeded(seed), dtype=torch.float64) - 1
        phi = (u * level / levels * max_phase).to(device=y.device, dtype=y.real.dtype)
        e, c = cap_to(lambda c: y * (torch.polar(torch.ones_like(phi), c * phi) - 1), cap)
        return Perturbation("phase", "measurement", e, scale,
                            f"phase errors of up to ±{c * level / levels * max_phase:.3g} rad per phase-encode "
                            f"column (seed {seed})", (("level", level), ("seed", seed)))

    return st.tuples(level_strategy(levels), SEEDS).map(named(make, "phase_errors"))


def coil_errors(x: torch.Tensor, operator: Any, *, max_error: float = 0.1, eps: float | None = None,
                max_order: int = 2, levels: int = LEVELS) -> st.SearchStrategy[Perturbation]:
    """Coil-sensitivity errors (multi-coil MRI): the data come from maps S_c(1 + δ_c) while the model assumes S_c,
    so e = A' x − A x = M ⊙ F(δ_c S_c x), with δ_c smooth complex fields (Fourier order 1 … max_order) of
    max|δ| = level/levels × max_error, reduced to the budget ‖e_b‖ ≤ eps·‖y_b‖ when eps is given."""
    x, eps = check_images(x), check_eps(eps, required=False)
    op = check_mri(operator, x, "coil")
    if not isinstance(op, MultiCoilMRI):
        raise ValueError("kind 'coil' perturbs coil sensitivities and needs a MultiCoilMRI operator, got "
                         "SingleCoilMRI; leave 'coil' out of kinds for single-coil data.")
    max_error, max_order = check_positive("max_error", max_error), check_count("max_order", max_order)
    with torch.no_grad():
        scale = l2_norm(op.forward(x))
    cap = None if eps is None else eps * scale

    def make(drawn: tuple[int, int, int]) -> Perturbation:
        level, order, seed = drawn
        delta = smooth_fields(op.image_shape, order, op.n_coils, seeded(seed), complex_=True, like=op.coil_maps)
        wrong = MultiCoilMRI(op.mask, op.coil_maps * delta * (level / levels * max_error))
        with torch.no_grad():
            e, c = cap_linear(wrong.forward(x), cap)
        return Perturbation("coil", "measurement", e, scale,
                            f"coil-sensitivity errors of up to {100 * c * level / levels * max_error:.3g} %, order "
                            f"{order} (seed {seed})", (("level", level), ("order", order), ("seed", seed)))

    return st.tuples(level_strategy(levels), st.integers(1, max_order), SEEDS).map(named(make, "coil_errors"))
