"""Nested operator families: one modality at any sampling ratio, for the more-samples check.

A family is a callable ``family(ratio) -> LinearOperator``. Its operators share a seed, so the masks (or
CT angle sets) are nested: the operator at a higher ratio measures every sample the lower one does, plus
more. That is what makes the paper's third test mean "the same samples plus more".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from . import masks
from .operators import LinearOperator, MultiCoilMRI, ParallelBeamRadon, SingleCoilMRI

MRI_PATTERNS = {
    "variable-density": masks.variable_density_mask,
    "cartesian": masks.cartesian_mask,
    "cartesian-equispaced": functools.partial(masks.cartesian_mask, pattern="equispaced"),
    "cartesian-gaussian": functools.partial(masks.cartesian_mask, pattern="gaussian"),
    "radial": masks.radial_mask,
    "uniform": masks.uniform_mask,
}


class OperatorFamily:
    """``family(ratio)`` builds (and caches) the operator whose mask or angle set has that sampling ratio."""

    def __init__(self, make_mask: Callable[[float], masks.SamplingMask],
                 make_operator: Callable[[masks.SamplingMask], LinearOperator], description: str):
        self._make_mask, self._make_operator, self.description = make_mask, make_operator, description
        self._cache: dict[float, tuple[masks.SamplingMask, LinearOperator]] = {}

    def _entry(self, ratio: float) -> tuple[masks.SamplingMask, LinearOperator]:
        ratio = float(ratio)
        if ratio not in self._cache:
            mask = self._make_mask(ratio)
            self._cache[ratio] = (mask, self._make_operator(mask))
        return self._cache[ratio]

    def __call__(self, ratio: float) -> LinearOperator:
        return self._entry(ratio)[1]

    def achieved_ratio(self, ratio: float) -> float:
        """The ratio the nested mask (or angle subset) actually reaches for a requested one."""
        return self._entry(ratio)[0].ratio

    def __repr__(self) -> str:
        return f"OperatorFamily({self.description})"


def mri_family(shape: tuple[int, int], *, pattern: str = "variable-density", seed: int = 0,
               coil_maps: torch.Tensor | None = None, n_coils: int | None = None, **mask_kwargs: Any) -> OperatorFamily:
    """Single-coil (or, with ``coil_maps``/``n_coils``, multi-coil) MRI on nested masks of ``pattern``."""
    if pattern not in MRI_PATTERNS:
        raise ValueError(f"pattern={pattern!r} is not one of {sorted(MRI_PATTERNS)}.")
    make = MRI_PATTERNS[pattern]
    multi = coil_maps is not None or n_coils is not None

    def operator(mask: masks.SamplingMask) -> LinearOperator:
        return MultiCoilMRI(mask, coil_maps, n_coils=n_coils) if multi else SingleCoilMRI(mask)

    coils = f", {n_coils or coil_maps.shape[0]} coils" if multi else ""
    return OperatorFamily(lambda r: make(shape, r, seed=seed, **mask_kwargs), operator,
                          f"MRI {shape[0]}x{shape[1]}, {pattern} masks, seed {seed}{coils}")


def radon_family(image_shape: int | tuple[int, int], *, n_candidates: int = 360, pattern: str = "equispaced",
                 seed: int = 0) -> OperatorFamily:
    """Parallel-beam CT on nested subsets of ``n_candidates`` angles over [0°, 180°); ratio = views / n_candidates."""
    return OperatorFamily(lambda r: masks.angle_subset(r, n_candidates=n_candidates, seed=seed, pattern=pattern),
                          lambda m: ParallelBeamRadon(image_shape, m),
                          f"CT, {pattern} subsets of {n_candidates} angles, seed {seed}")
