"""MRI sampling masks and nested pairs of them (fewer ⊂ more samples), drawn from :mod:`pytest_stability.masks`."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import strategies as st

from .. import masks as _masks
from ..families import MRI_PATTERNS
from .perturbation import named


def _mask_args(shape: Sequence[int], patterns: str | Sequence[str], ratios: tuple[float, float],
               gap: int) -> tuple[tuple[str, ...], int, int]:
    patterns = (patterns,) if isinstance(patterns, str) else tuple(patterns)
    for p in patterns:
        if p not in MRI_PATTERNS:
            close = difflib.get_close_matches(str(p), list(MRI_PATTERNS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown mask pattern {p!r}{hint}; expected some of {', '.join(MRI_PATTERNS)}.")
    if not patterns:
        raise ValueError(f"patterns is empty; give some of {', '.join(MRI_PATTERNS)}.")
    lo, hi = (round(100 * r) for r in ratios)
    if not 1 <= lo <= hi - gap or hi > 100:
        relation = "<" if gap else "<="
        raise ValueError(f"ratios must be (lowest, highest) sampling ratios in (0, 1] with lowest {relation} highest, "
                         f"on a grid of 0.01, got {ratios!r}.")
    _masks.check_shape(tuple(shape))
    return patterns, lo, hi


def sampling_masks(shape: Sequence[int], *, patterns: str | Sequence[str] = tuple(MRI_PATTERNS),
                   ratios: tuple[float, float] = (0.1, 0.5), max_seed: int = 2**16 - 1,
                   **mask_kwargs: Any) -> st.SearchStrategy[_masks.SamplingMask]:
    """A :class:`~pytest_stability.masks.SamplingMask` of one of ``patterns`` (as :func:`mri_family` names them),
    a requested ratio in ``ratios`` on a grid of 0.01 and a seed in [0, max_seed]; shrinks towards the first
    pattern, the lowest ratio and seed 0. ``mask_kwargs`` go to the mask function (e.g. ``center_fraction``)."""
    patterns, lo, hi = _mask_args(shape, patterns, ratios, 0)
    shape = tuple(shape)

    def make(drawn: tuple[str, int, int]) -> _masks.SamplingMask:
        pattern, percent, seed = drawn
        return MRI_PATTERNS[pattern](shape, percent / 100, seed=seed, **mask_kwargs)

    drawn = st.tuples(st.sampled_from(patterns), st.integers(lo, hi), st.integers(0, max_seed))
    return drawn.map(named(make, "sampling_mask"))


def nested_mask_pairs(shape: Sequence[int], *, patterns: str | Sequence[str] = tuple(MRI_PATTERNS),
                      ratios: tuple[float, float] = (0.1, 0.5), max_seed: int = 2**16 - 1,
                      **mask_kwargs: Any) -> st.SearchStrategy[tuple[_masks.SamplingMask, _masks.SamplingMask]]:
    """(fewer, more): two masks of one pattern and seed at requested ratios r1 < r2 in ``ratios`` (grid 0.01), so
    ``more`` holds every sample of ``fewer`` (:mod:`pytest_stability.masks` nests by construction; the achieved
    ratios may coincide on a coarse grid). For properties such as "more samples never lower the PSNR"."""
    patterns, lo, hi = _mask_args(shape, patterns, ratios, 1)
    shape = tuple(shape)

    @st.composite
    def draw(draw: Callable) -> tuple[_masks.SamplingMask, _masks.SamplingMask]:
        pattern = draw(st.sampled_from(patterns))
        low = draw(st.integers(lo, hi - 1))
        high = low + draw(st.integers(1, hi - low))
        seed = draw(st.integers(0, max_seed))
        make = MRI_PATTERNS[pattern]
        return (make(shape, low / 100, seed=seed, **mask_kwargs), make(shape, high / 100, seed=seed, **mask_kwargs))

    return draw()
