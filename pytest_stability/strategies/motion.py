"""Rigid patient motion: sub-pixel shifts and small rotations of the object, for the whole scan (image domain) or
from part-way through a sequential MRI acquisition (measurement domain)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from hypothesis import strategies as st

from ..metrics import l2_norm
from ..operators import MultiCoilMRI, SingleCoilMRI
from .fourier import fourier_rotate, fourier_shift
from .perturbation import Perturbation, cap_to, check_eps, check_images, check_mri, check_positive, named

SUBSTEPS = 8
"""Shifts are drawn in steps of 1/SUBSTEPS pixel, angles of 1/SUBSTEPS degree, kspace motion onsets of
1/SUBSTEPS of the acquisition."""

WHERE = ("image", "kspace")


def _acquired_after(op: SingleCoilMRI | MultiCoilMRI, fraction: float, like: torch.Tensor) -> torch.Tensor:
    """0/1 weights (W,) of the phase-encode columns acquired after the motion: of the columns the mask samples,
    acquired left to right, the last ``fraction`` (at least one)."""
    acquired = torch.nonzero(op.mask.any(dim=0)).flatten()
    after = acquired[acquired.numel() - max(1, round(fraction * acquired.numel())):]
    weights = torch.zeros(op.image_shape[1], dtype=like.real.dtype)
    weights[after] = 1
    return weights.to(like.device)


def _motion(kind: str, x: torch.Tensor, operator: Any, eps: float | None, where: Sequence[str],
            amounts: st.SearchStrategy, move: Callable[[torch.Tensor, Any, float], torch.Tensor],
            words: Callable[[Any, float], str]) -> st.SearchStrategy[Perturbation]:
    x, eps = check_images(x), check_eps(eps, required=False)
    where = (where,) if isinstance(where, str) else tuple(where)
    if not where or any(w not in WHERE for w in where):
        raise ValueError(f"where must be 'image', 'kspace' or both, got {where!r}.")
    scale_x = l2_norm(x)
    op, y, scale_y = None, None, None
    if "kspace" in where:
        op = check_mri(operator, x, f"{kind} (where='kspace')")
        with torch.no_grad():
            y = op.forward(x)
        scale_y = l2_norm(y)

    def make(drawn: tuple[str, Any, int]) -> Perturbation:
        place, amount, onset = drawn
        if place == "image":
            t, c = cap_to(lambda c: move(x, amount, c) - x, None if eps is None else eps * scale_x)
            return Perturbation(kind, "image", t, scale_x, words(amount, c) + " of the whole scan",
                                (("where", place), ("amount", amount)))
        fraction = onset / SUBSTEPS
        after = _acquired_after(op, fraction, y)

        def e(c: float) -> torch.Tensor:
            with torch.no_grad():
                return (op.forward(move(x, amount, c)) - y) * after
        t, c = cap_to(e, None if eps is None else eps * scale_y)
        return Perturbation(kind, "measurement", t, scale_y,
                            words(amount, c) + f" during the last {fraction:.3g} of the acquisition "
                            f"(sampled phase-encode columns, left to right)", (("where", place), ("amount", amount),
                                                                ("onset", onset)))

    return st.tuples(st.sampled_from(where), amounts, st.integers(1, SUBSTEPS)).map(named(make, kind))


def shifts(x: torch.Tensor, operator: Any = None, *, max_shift: float = 1.0, eps: float | None = None,
           where: str | Sequence[str] = "image") -> st.SearchStrategy[Perturbation]:
    """Rigid sub-pixel shifts (dy, dx), |dy|, |dx| ≤ max_shift pixels in steps of 1/8, not both 0 (patient motion).

    ``where="image"``: the whole scan sees the moved object, r = S x − x (image domain). ``where="kspace"`` (MRI):
    the object moves part-way through a sequential acquisition and the last 1/8 … 8/8 of the phase-encode
    columns see it moved, e = P(A S x − A x) (measurement domain). Give both to draw either. With ``eps``
    the shift is reduced until ‖r_b‖ ≤ eps·‖x_b‖ (‖e_b‖ ≤ eps·‖y_b‖). Shrinks towards one 1/8-pixel step.
    """
    steps = round(SUBSTEPS * check_positive("max_shift", max_shift))
    if steps < 1:
        raise ValueError(f"max_shift must be at least 1/{SUBSTEPS} pixel, got {max_shift!r}.")
    amounts = st.tuples(st.integers(-steps, steps), st.integers(-steps, steps)).filter(lambda d: d != (0, 0))

    def move(x: torch.Tensor, d: tuple[int, int], c: float) -> torch.Tensor:
        return fourier_shift(x, c * d[0] / SUBSTEPS, c * d[1] / SUBSTEPS)

    def words(d: tuple[int, int], c: float) -> str:
        return f"shift by ({c * d[0] / SUBSTEPS:.4g}, {c * d[1] / SUBSTEPS:.4g}) px (rows, columns)"

    return _motion("shift", x, operator, eps, where, amounts, move, words)


def rotations(x: torch.Tensor, operator: Any = None, *, max_angle: float = 1.0, eps: float | None = None,
              where: str | Sequence[str] = "image") -> st.SearchStrategy[Perturbation]:
    """Rigid rotations about the image centre by 1/8 … max_angle degrees (either sense), as :func:`shifts`."""
    steps = round(SUBSTEPS * check_positive("max_angle", max_angle, at_most=45.0))
    if steps < 1:
        raise ValueError(f"max_angle must be at least 1/{SUBSTEPS} degree, got {max_angle!r}.")
    amounts = st.integers(-steps, steps).filter(lambda a: a != 0)

    def move(x: torch.Tensor, a: int, c: float) -> torch.Tensor:
        return fourier_rotate(x, c * a / SUBSTEPS)

    def words(a: int, c: float) -> str:
        return f"rotation by {c * a / SUBSTEPS:.4g}°"

    return _motion("rotation", x, operator, eps, where, amounts, move, words)
