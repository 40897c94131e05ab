"""What a fuzz draw is (:class:`Perturbation`) and the norm budget every strategy keeps.

A perturbation is r (B, C, H, W), added to the images x, or e (B, ...), added to the measurements y = A x.
The budget is relative, per image b: ‖r_b‖ ≤ eps·‖x_b‖ or ‖e_b‖ ≤ eps·‖y_b‖. Noise is rescaled to exactly
level/:data:`LEVELS` of it (:func:`fit_norms`); a physical perturbation (a shift, a phase error) is reduced by one
factor c ≤ 1 of its amplitude until it fits (:func:`cap_linear` when it is linear in c, :func:`cap_to` by
bisection otherwise). The argument checks every strategy shares live here too.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hypothesis import strategies as st

from ..details import Detail
from ..metrics import l2_norm
from ..operators import LinearOperator, MultiCoilMRI, SingleCoilMRI, as_operator
from ..tensors import per_sample

LEVELS = 16
"""Budget levels: a noise draw has norm level/LEVELS × the budget, level 1 … LEVELS (shrinks towards 1)."""

SEEDS = st.integers(0, 2**32 - 1)
BISECTIONS = 24  # amplitude resolution 2^-24 of the drawn amplitude when a budget reduces it


# -- what a draw is ---------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False, repr=False)
class Perturbation:
    """One drawn input change: ``tensor`` is r (B, C, H, W), added to the images, or e (B, ...), added to the
    measurements y = A x (``domain`` "image" or "measurement").

    ``scale`` (B,) is the norm the budget is relative to (‖x_b‖ or ‖y_b‖); ``label`` says what was drawn in
    words; ``params`` the drawn parameters (hashable: ``key`` identifies the draw); ``detail`` the structural
    detail of a ``kind="detail"`` draw (its tensor is d = contrast × max|x_b| × pattern).
    """

    kind: str
    domain: str
    tensor: torch.Tensor
    scale: torch.Tensor
    label: str
    params: tuple[tuple[str, Any], ...] = ()
    detail: Detail | None = None

    @property
    def key(self) -> tuple:
        return (self.kind, self.domain, self.params)

    @property
    def norm(self) -> torch.Tensor:
        """‖r_b‖ (or ‖e_b‖) per image, (B,)."""
        return l2_norm(self.tensor).cpu()

    @property
    def relative_norm(self) -> torch.Tensor:
        """‖r_b‖/‖x_b‖ (or ‖e_b‖/‖y_b‖) per image, (B,)."""
        return self.norm / self.scale.cpu()

    def describe(self) -> str:
        what = "‖r‖/‖x‖" if self.domain == "image" else "‖e‖/‖y‖"
        return f"{self.label}, {what} ≤ {float(self.relative_norm.max()):.3g}"

    def image(self, operator: LinearOperator) -> torch.Tensor:
        """The perturbation as an image: r itself, or A* e for a measurement-domain e."""
        return self.tensor if self.domain == "image" else operator.adjoint(self.tensor)

    def __repr__(self) -> str:
        return f"Perturbation({self.describe()})"


# -- validation and small helpers -------------------------------------------------------------------
def check_images(x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"images must be a (B, C, H, W) tensor, got {shape}; add dimensions with x[None, None].")
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"images have dtype {x.dtype}; give float or complex images (x.float()).")
    x = x.detach()
    if bool((l2_norm(x) == 0).any()):
        raise ValueError("an image is all zeros: a budget relative to ‖x‖ is empty for it. Use images with content.")
    return x


def check_eps(eps: Any, *, required: bool) -> float | None:
    if eps is None and not required:
        return None
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (math.isfinite(eps) and eps > 0):
        need = "a positive relative budget" if required else "a positive relative budget or None"
        raise ValueError(f"eps must be {need} (‖r‖ ≤ eps·‖x‖, e.g. eps=0.02), got {eps!r}.")
    return float(eps)


def check_positive(name: str, value: Any, *, at_most: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}.")
    if at_most is not None and value > at_most:
        raise ValueError(f"{name} must be at most {at_most:g}, got {value!r}.")
    return float(value)


def check_count(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be a whole number >= {low}, got {value!r}.")
    return value


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def fit_norms(t: torch.Tensor, norms: torch.Tensor) -> torch.Tensor:
    """``t`` rescaled to the norms (B,) per image."""
    current = l2_norm(t)
    return t * per_sample(norms / torch.where(current > 0, current, torch.ones_like(current)), t)


def cap_linear(t: torch.Tensor, cap: torch.Tensor | None) -> tuple[torch.Tensor, float]:
    """A perturbation linear in its amplitude, scaled by one factor c ≤ 1 so every image keeps its cap."""
    if cap is None:
        return t, 1.0
    norm = l2_norm(t)
    c = float(torch.clamp(cap / norm.clamp_min(torch.finfo(norm.dtype).tiny), max=1.0).min())
    return (t if c >= 1.0 else t * c), c


def cap_to(make: Callable[[float], torch.Tensor], cap: torch.Tensor | None) -> tuple[torch.Tensor, float]:
    """make(c) at the largest c in (0, 1] (to 2^-24) for which every image keeps its cap (c = 1 without a cap).

    Bisection keeps the lower end feasible, so the result respects the cap even where the norm is not
    monotone in c; ``make(0)`` must be zero.
    """
    full = make(1.0)
    if cap is None or bool((l2_norm(full) <= cap).all()):
        return full, 1.0
    lo, hi, best = 0.0, 1.0, None
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        t = make(mid)
        if bool((l2_norm(t) <= cap).all()):
            lo, best = mid, t
        else:
            hi = mid
    return (make(0.0) if best is None else best), lo


def named(make: Callable, name: str) -> Callable:
    """``make`` under ``name``: hypothesis shows a failing draw as ``name((drawn values))``."""
    make.__name__ = make.__qualname__ = name
    return make


def level_strategy(levels: int) -> st.SearchStrategy[int]:
    return st.integers(1, check_count("levels", levels))


def check_operator(operator: Any, x: torch.Tensor) -> LinearOperator:
    if operator is None:
        raise ValueError("this kind perturbs the measurements: pass the operator A (e.g. the Case's operator).")
    op = as_operator(operator)
    if tuple(x.shape[-2:]) != op.image_shape:
        raise ValueError(f"images have shape {tuple(x.shape)} but the operator expects (B, C, {op.image_shape[0]}, "
                         f"{op.image_shape[1]}).")
    return op


def check_mri(operator: Any, x: torch.Tensor, kind: str) -> SingleCoilMRI | MultiCoilMRI:
    op = check_operator(operator, x)
    if not isinstance(op, (SingleCoilMRI, MultiCoilMRI)):
        raise ValueError(f"kind {kind!r} perturbs MRI k-space and needs a SingleCoilMRI or MultiCoilMRI operator, got "
                         f"{type(op).__name__}; leave {kind!r} out of kinds for this modality.")
    return op
