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

    coils = f", {n_coils or coil_maps.shape[-3]} coils" if multi else ""
    return OperatorFamily(lambda r: make(shape, r, seed=seed, **mask_kwargs), operator,
                          f"MRI {shape[0]}x{shape[1]}, {pattern} masks, seed {seed}{coils}")


def radon_family(image_shape: int | tuple[int, int], *, n_candidates: int = 360, pattern: str = "equispaced",
                 seed: int = 0) -> OperatorFamily:
    """Parallel-beam CT on nested subsets of ``n_candidates`` angles over [0°, 180°); ratio = views / n_candidates."""
    return OperatorFamily(lambda r: masks.angle_subset(r, n_candidates=n_candidates, seed=seed, pattern=pattern),
                          lambda m: ParallelBeamRadon(image_shape, m),
                          f"CT, {pattern} subsets of {n_candidates} angles, seed {seed}")


def _acceleration(ratio: float) -> float | int:
    """1 / ratio, as an int when it is one (fastMRI's equispaced masks step through columns by it)."""
    acceleration = 1.0 / float(ratio)
    return round(acceleration) if abs(acceleration - round(acceleration)) < 1e-9 else acceleration


def fastmri_family(mask_func: Any, shape: tuple[int, int], *, center_fraction: float | Callable[[float], float]
                   | None = None, seed: int = 0, offset: int | None = None,
                   padding: tuple[int, int] | None = None, coil_maps: torch.Tensor | None = None,
                   n_coils: int | None = None) -> OperatorFamily:
    """MRI on fastMRI's own masks: ``family(ratio)`` is the mask fastMRI's ``mask_func`` draws at acceleration
    1/ratio, checked to be nested with every mask the family built before.

    ``mask_func``: a fastMRI mask-function class (``fastmri.data.subsample.RandomMaskFunc``,
    ``EquiSpacedMaskFunc``, ``EquispacedMaskFractionFunc``, ...) or an instance, whose class and first centre
    fraction are used. For each ratio it is built for one (centre fraction, acceleration) pair and called as
    fastMRI's transforms call it, ``mask_func((1, H, W, 2), offset, seed)``: columns (the last axis) are the
    phase encodes, and the centre block is the ACS lines it reports (``low_frequencies``, which
    ``inputs="fastmri"`` passes on as ``num_low_frequencies``). ``center_fraction``: a number, or a function of
    the acceleration (fastMRI's challenge pairs (4×, 0.08) and (8×, 0.04) are ``lambda a: 0.32 / a``);
    default the instance's first, else 0.08. ``seed``: the mask seed, the same at every ratio (fastMRI's
    transforms seed each volume with ``tuple(map(ord, fname))``); ``offset``: the equispaced masks' first
    column (None: drawn from the seed).
    ``padding``: acquired columns [left, right); the mask is zeroed outside, as fastMRI's VarNet transform
    does (``FastMRISlices.padding``). ``coil_maps`` (n_coils, H, W) or (B, n_coils, H, W), or ``n_coils``:
    multi-coil, as for :func:`mri_family`.

    Nesting: fastMRI's masks at two accelerations are not nested in general, and the more-samples check needs
    them nested, so a mask that is not raises a ValueError naming the two ratios and the columns. With one
    seed, RandomMaskFunc's masks are nested as long as the centre fraction does not shrink as the ratio grows
    (a constant one, or fastMRI's 0.32 / a): every column gets the same uniform draw at every acceleration
    and is kept when the draw is below a probability that rises with the ratio. EquiSpacedMaskFunc is nested
    when the accelerations divide each other and the offsets agree: always with ``offset=0``; with the seeded
    offset (numpy's ``randint(0, a)``) at powers of two (ratios 1/8, 1/4, 1/2), but at 3 and 6 only for
    some seeds. EquispacedMaskFractionFunc and the "magic" masks are in general not nested. The achieved
    ratio (sampled columns / W) is the mask's own: random masks draw their line count, and equispaced masks
    add the centre block to W / a lines.
    """
    cls = mask_func if isinstance(mask_func, type) else type(mask_func)
    if center_fraction is None:
        center_fraction = float(getattr(mask_func, "center_fractions", [0.08])[0]) if not isinstance(
            mask_func, type) else 0.08
    h, w = masks.check_shape(shape)
    seed = masks.check_seed(seed)
    built: dict[float, torch.Tensor] = {}

    def make(ratio: float) -> masks.SamplingMask:
        r = masks.check_ratio(ratio)
        acceleration = _acceleration(r)
        fraction = float(center_fraction(acceleration) if callable(center_fraction) else center_fraction)
        try:
            drawn, low = cls([fraction], [acceleration])((1, h, w, 2), offset, seed)
        except TypeError as exc:
            raise ValueError(f"{cls.__name__} cannot draw a mask at ratio {r:g} (acceleration {acceleration:.4g}): "
                             f"{exc}. Equispaced masks step through whole columns: use ratios 1/a for whole a "
                             "(0.5, 0.25, 0.125).") from exc
        columns = torch.as_tensor(drawn).reshape(-1) > 0
        if columns.numel() != w:
            raise ValueError(f"{cls.__name__} returned a mask of {columns.numel()} columns for k-space of width {w}; "
                             "it must be a fastMRI mask function (called as mask_func((1, H, W, 2), offset, seed)).")
        if padding is not None:
            keep = torch.zeros(w, dtype=torch.bool)
            keep[padding[0]:padding[1]] = True
            columns &= keep
        for other, previous in built.items():
            fewer, more = (previous, columns) if other < r else (columns, previous)
            missing = torch.nonzero(fewer & ~more).flatten().tolist()
            if missing:
                low_r, high_r = min(other, r), max(other, r)
                raise ValueError(
                    f"fastMRI's {cls.__name__} masks at ratios {low_r:g} and {high_r:g} (accelerations "
                    f"{_acceleration(low_r):.4g} and {_acceleration(high_r):.4g}, seed {seed}) are not nested: the "
                    f"mask at {low_r:g} samples columns {missing[:8]} that the mask at {high_r:g} does not, so the "
                    "more-samples check would compare different samples, not more of the same. Nested fastMRI masks: "
                    "RandomMaskFunc with a centre fraction that does not shrink as the ratio grows, or "
                    "EquiSpacedMaskFunc with offset=0 and accelerations that divide each other; or use nested "
                    "masks of fastMRI's kind: mri_family(shape, pattern='cartesian' or 'cartesian-equispaced').")
        built[r] = columns
        if not bool(columns.any()):
            raise ValueError(f"{cls.__name__} sampled no column at ratio {r:g} inside padding={padding!r}.")
        return masks.SamplingMask(mask=columns.view(1, w).expand(h, w).clone(), ratio=float(columns.sum()) / w,
                                  requested=r, pattern=f"fastmri-{cls.__name__}", seed=seed,
                                  low_frequencies=int(low))

    multi = coil_maps is not None or n_coils is not None

    def operator(mask: masks.SamplingMask) -> LinearOperator:
        return MultiCoilMRI(mask, coil_maps, n_coils=n_coils) if multi else SingleCoilMRI(mask)

    coils = f", {n_coils or coil_maps.shape[-3]} coils" if multi else ""
    return OperatorFamily(make, operator, f"MRI {h}x{w}, fastMRI {cls.__name__} masks, seed {seed}{coils}")
