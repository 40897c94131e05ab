"""Nested sampling masks for MRI k-space and nested angle subsets for CT.

The paper's "more samples" test (PSNR as the sampling ratio grows) only means "the same samples plus
more" when the masks are *nested*: for one seed, the mask at a higher ratio contains every sample of the
mask at a lower ratio. The paper's own code nested only Deep MRI's masks; here every pattern nests by
construction. From the seed, a pattern computes a *rank* for every candidate sample (a k-space line, a
k-space point, a radial spoke, a CT angle): the order in which candidates are added. The mask at ratio s
keeps the candidates of rank < k(s), with k(s) non-decreasing in s, so for the same shape, seed and
pattern options, ``mask(s1) ⊆ mask(s2)`` whenever s1 <= s2.

Conventions
-----------
* k-space is *centred* (fastMRI's convention, as in :mod:`pytest_stability.operators.mri`): the zero
  frequency sits at index (H // 2, W // 2) of an (H, W) grid.
* The sampling ratio is sampled / total *as achieved* by the mask: ``mask.sum() / mask.numel()``.
  The number of candidates k is chosen so the achieved ratio is the closest achievable to the requested
  one (ties go to the larger mask), never empty: at least one line, point, spoke or angle is kept.
  ``SamplingMask.ratio`` reports the achieved value and ``SamplingMask.requested`` the asked one.
* Masks are bool tensors on the CPU, drawn with a ``torch.Generator`` seeded with ``seed``, so a given
  (pattern, shape, ratio, seed) gives the same mask on every machine (for a given torch version). The
  operators move a mask to the data's device on first use.
* A ratio below the fully sampled centre keeps nesting: the mask is the highest-ranked part of the
  centre (the centre lines nearest the zero frequency, or the points of the centre disc nearest to it).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise

import torch

_CARTESIAN_PATTERNS = ("random", "equispaced", "gaussian")
_ANGLE_PATTERNS = ("equispaced", "random")
_GOLDEN_ANGLE = math.pi * (math.sqrt(5.0) - 1.0) / 2.0  # π/φ = 111.246°, Winkelmann et al. 2007


@dataclass(frozen=True, eq=False)
class SamplingMask:
    """A sampling pattern with the ratio it achieves and how it was made.

    ``mask`` is a bool tensor: (H, W) over centred k-space for MRI patterns, (n_candidates,) over the
    candidate angle grid for CT. ``ratio`` is the achieved sampling ratio ``mask.sum() / mask.numel()``,
    ``requested`` the ratio asked for, ``pattern`` names the construction ("cartesian-random",
    "cartesian-equispaced", "variable-density", "radial", "uniform", "angles-equispaced",
    "angles-random") and ``seed`` the generator seed. For CT, ``angles`` holds the chosen projection
    angles in degrees (float64, sorted ascending, in [0, 180)); it is None for MRI masks.
    ``low_frequencies``: for Cartesian line masks, the number of lines of the fully sampled centre block (the
    ACS lines; fastMRI's ``num_low_frequencies``), else None. Equality is identity (tensors have no single
    truth value); compare ``mask`` tensors with torch.equal.
    """

    mask: torch.Tensor
    ratio: float
    requested: float
    pattern: str
    seed: int
    angles: torch.Tensor | None = None
    low_frequencies: int | None = None

    def __repr__(self) -> str:
        return (f"SamplingMask(pattern={self.pattern!r}, shape={tuple(self.mask.shape)}, ratio={self.ratio:.4f}, "
                f"requested={self.requested:.4f}, seed={self.seed})")


# -- validation -------------------------------------------------------------------------------------
def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_shape(shape: object) -> tuple[int, int]:
    ok = (isinstance(shape, (tuple, list, torch.Size)) and len(shape) == 2
          and all(_is_int(s) and s >= 1 for s in shape))
    if not ok:
        raise ValueError(f"shape must be (H, W), two positive ints, got {shape!r}; "
                         "pass the image size, e.g. shape=(256, 256).")
    return int(shape[0]), int(shape[1])


def check_ratio(ratio: object) -> float:
    if not _is_real(ratio) or not 0.0 < float(ratio) <= 1.0:
        raise ValueError(f"ratio must be a sampling ratio in (0, 1] (sampled / total), got {ratio!r}; "
                         "e.g. ratio=0.25 for 4-fold acceleration.")
    return float(ratio)


def check_seed(seed: object) -> int:
    if not _is_int(seed) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}.")
    return int(seed)


def _check_pattern(pattern: object, known: tuple[str, ...]) -> str:
    if pattern not in known:
        raise ValueError(f"pattern must be one of {', '.join(map(repr, known))}, got {pattern!r}.")
    return str(pattern)


def _check_unit_interval(name: str, value: object) -> float:
    if not _is_real(value) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}.")
    return float(value)


def _generator(seed: int) -> torch.Generator:
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen


# -- ranks --------------------------------------------------------------------------------------------
def _rank_from_order(order: torch.Tensor) -> torch.Tensor:
    """The inverse permutation: rank[order[j]] = j."""
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), dtype=order.dtype)
    return rank


def _choose_count(counts: torch.Tensor, target: float) -> int:
    """The number k >= 1 of ranked units whose sample count counts[k - 1] is closest to target.

    ``counts`` is non-decreasing; ties go to the larger count, and among equal counts to the smallest k.
    """
    err = (counts.to(torch.float64) - target).abs()
    best = counts[err == err.min()].max()
    return int(torch.nonzero(counts == best)[0, 0]) + 1


def _centre_out_rank(n: int) -> torch.Tensor:
    """Rank of each of n lines, nearest the centre index n // 2 first.

    The first c lines in this order are exactly fastMRI's centre block [pad, pad + c) with
    pad = (n - c + 1) // 2, for every c, so the centre block of any size is a prefix. Ties in distance
    alternate: the lower index first for even n, the higher index first for odd n.
    """
    i = torch.arange(n)
    dist = (i - n // 2).abs()
    first_side = i < n // 2 if n % 2 == 0 else i > n // 2
    return torch.where(first_side, 2 * dist - 1, 2 * dist)


def _low_discrepancy_rank(n: int, offset: int) -> torch.Tensor:
    """Rank of n positions in bit-reversal (base-2 van der Corput) order after a cyclic shift by offset.

    Position q = (i + offset) mod n gets the key bitrev(q) over ceil(log2 n) bits; sorting the keys gives
    the van der Corput sequence restricted to [0, n), whose every prefix of k points leaves circular gaps
    of at most 2n / k positions (checked for every n < 300 and k; exactly n / k when n and k are powers
    of two). The cyclic shift moves the points but not the gaps.
    """
    bits = max(n - 1, 0).bit_length()
    q = (torch.arange(n) + offset) % n
    key = torch.zeros_like(q)
    for b in range(bits):
        key |= ((q >> b) & 1) << (bits - 1 - b)
    return _rank_from_order(torch.argsort(key))


def _mask_from_rank(rank: torch.Tensor, k: int) -> torch.Tensor:
    return rank < k


def _make(mask: torch.Tensor, requested: float, pattern: str, seed: int, angles: torch.Tensor | None = None,
          low_frequencies: int | None = None) -> SamplingMask:
    return SamplingMask(mask=mask, ratio=float(mask.sum()) / mask.numel(), requested=requested, pattern=pattern,
                        seed=seed, angles=angles, low_frequencies=low_frequencies)


# -- MRI patterns -------------------------------------------------------------------------------------
def cartesian_mask(shape: Sequence[int], ratio: float, *, seed: int = 0, center_fraction: float = 0.08,
                   pattern: str = "random", axis: int = -1, sigma: float = 0.15) -> SamplingMask:
    """Cartesian line mask (fastMRI style): a fully sampled centre plus random, equispaced or Gaussian lines.

    Lines are indexed along ``axis`` (the phase-encode direction; axis=-1 selects columns of the (H, W)
    grid) and each line is fully sampled along the other (readout) axis, so the mask is constant along
    the readout axis. With n lines, round(center_fraction · n) lines nearest the zero frequency
    (index n // 2, centred k-space) come first, in fastMRI's centre-block order; the other lines follow
    in a seeded random order (``pattern="random"``) or in a seeded low-discrepancy order
    (``pattern="equispaced"``: bit-reversal order of their positions after a random cyclic shift, so any
    prefix is spread roughly evenly, with gaps at most about twice the ideal spacing) or, for
    ``pattern="gaussian"``, in a seeded random order weighted by a Gaussian density of the line's distance d
    from the centre, w(d) = exp(−d² / (2 (sigma · n)²)) (DAGAN's "Gaussian 1D" masks: lines near the centre
    are drawn first; a weighted order without replacement, E / w(d) with E ~ Exp(1), earliest first). The mask at
    ``ratio`` keeps k = round(ratio · n) lines (at least one), so its achieved ratio is k / n.

    Nesting: for the same shape, seed, center_fraction, pattern and axis, a higher ratio gives a
    superset. fastMRI's exact equispaced masks (every a-th line) are not nested across accelerations a
    unless one divides the other; the low-discrepancy order trades exact regular spacing for nesting.
    Unlike fastMRI's RandomMaskFunc, the number of lines is exact rather than drawn. A ratio below the
    centre fraction keeps the round(ratio · n) lines nearest the centre.
    """
    h, w = check_shape(shape)
    r = check_ratio(ratio)
    seed = check_seed(seed)
    cf = _check_unit_interval("center_fraction", center_fraction)
    pattern = _check_pattern(pattern, _CARTESIAN_PATTERNS)
    if not _is_int(axis) or axis not in (-2, -1, 0, 1):
        raise ValueError(f"axis must be the phase-encode axis of the (H, W) grid, -1 (columns) or -2 (rows), "
                         f"got {axis!r}.")
    dim = axis % 2
    n = (h, w)[dim]
    gen = _generator(seed)
    n_centre = math.floor(cf * n + 0.5)
    rank = _centre_out_rank(n)
    others = torch.nonzero(rank >= n_centre).flatten()
    n_others = others.numel()
    if n_others:
        if pattern == "random":
            other_rank = torch.randperm(n_others, generator=gen)
        elif pattern == "gaussian":
            if not _is_real(sigma) or not 0.0 < float(sigma) < math.inf:
                raise ValueError(f"sigma must be a positive width (a fraction of the line count), got {sigma!r}.")
            d = (others - n // 2).to(torch.float64)
            arrival = -torch.log1p(-torch.rand(n_others, generator=gen, dtype=torch.float64))
            weight = torch.exp(-0.5 * (d / (float(sigma) * n)) ** 2)
            other_rank = _rank_from_order(torch.argsort(arrival / weight, stable=True))
        else:
            other_rank = _low_discrepancy_rank(n_others, int(torch.randint(n_others, (1,), generator=gen)))
        rank[others] = n_centre + other_rank
    k = _choose_count(torch.arange(1, n + 1), r * n)
    lines = _mask_from_rank(rank, k)
    mask = (lines.view(1, w) if dim == 1 else lines.view(h, 1)).expand(h, w).clone()
    return _make(mask, r, f"cartesian-{pattern}", seed, low_frequencies=min(n_centre, k))


def _centred_offsets(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column offsets (float64, (H, 1) and (1, W)) from the centred zero frequency (H//2, W//2)."""
    dy = (torch.arange(h, dtype=torch.float64) - h // 2).view(h, 1)
    dx = (torch.arange(w, dtype=torch.float64) - w // 2).view(1, w)
    return dy, dx


def variable_density_mask(shape: Sequence[int], ratio: float, *, seed: int = 0, decay: float = 3.0,
                          center_radius: float = 0.05) -> SamplingMask:
    """2D variable-density random points with a fully sampled centre disc (Lustig's polynomial density).

    With ρ = |k| / kmax the distance to the zero frequency (H//2, W//2) relative to the farthest grid
    point, points are weighted by p(k) ∝ (1 − ρ)^decay (the polynomial pdf of Lustig's sparseMRI
    ``genPDF``, as in the paper's DAGAN-style 2D masks). The rank is a weighted random order without
    replacement (Efraimidis–Spirakis: exponential arrival times E / p(k), E ~ Exp(1), earliest first),
    preceded by the disc ρ < center_radius in order of distance (ties in random order). Points of zero
    weight (the farthest corners when decay > 0) come last, in random order. The mask at ``ratio`` keeps
    round(ratio · H · W) points (at least one), so the achieved ratio equals it up to one point.

    Unlike genPDF + independent draws, the count is exact and the density shape is fixed across ratios
    (genPDF adds a ratio-dependent constant), which is what makes the masks nested. A ratio below the
    disc keeps the disc points nearest the centre.
    """
    h, w = check_shape(shape)
    r = check_ratio(ratio)
    seed = check_seed(seed)
    if not _is_real(decay) or not 0.0 <= float(decay) < math.inf:
        raise ValueError(f"decay must be a finite exponent >= 0 (0: uniform density), got {decay!r}.")
    cr = _check_unit_interval("center_radius", center_radius)
    gen = _generator(seed)
    dy, dx = _centred_offsets(h, w)
    dist = torch.sqrt(dy**2 + dx**2).flatten()
    rho = dist / dist.max() if dist.max() > 0 else dist
    weight = (1.0 - rho).clamp_min(0.0) ** float(decay)
    arrival = -torch.log1p(-torch.rand(h * w, generator=gen, dtype=torch.float64))
    arrival = torch.where(weight > 0, arrival / weight, torch.full_like(arrival, math.inf))
    key = torch.where(rho < cr, rho - 2.0, arrival)
    perm = torch.randperm(h * w, generator=gen)
    rank = _rank_from_order(perm[torch.sort(key[perm], stable=True).indices])
    k = _choose_count(torch.arange(1, h * w + 1), r * h * w)
    return _make(_mask_from_rank(rank, k).view(h, w), r, "variable-density", seed)


def uniform_mask(shape: Sequence[int], ratio: float, *, seed: int = 0) -> SamplingMask:
    """Uniform random points: a seeded random permutation of all H · W points of k-space.

    The mask at ``ratio`` keeps round(ratio · H · W) points (at least one); no centre is forced, so at
    low ratios the zero frequency may be missing (the pattern of compressed-sensing theory, not a
    practical MRI protocol).
    """
    h, w = check_shape(shape)
    r = check_ratio(ratio)
    seed = check_seed(seed)
    rank = torch.randperm(h * w, generator=_generator(seed))
    k = _choose_count(torch.arange(1, h * w + 1), r * h * w)
    return _make(_mask_from_rank(rank, k).view(h, w), r, "uniform", seed)


def _radial_rank(h: int, w: int, gen: torch.Generator, target: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel index of the first golden-angle spoke covering it, and the cumulative counts per spoke.

    Spoke j has angle θ_j = θ_0 + j · π/φ (mod π) with θ_0 ~ U[0, π) from the generator. A spoke is
    rasterised one pixel per column when it is nearer horizontal (|cos θ| >= |sin θ|: the pixel with
    dy = round(dx · tan θ)) and one pixel per row otherwise (dx = round(dy · cot θ)), rounding halves up,
    so a spoke covers at most max(H, W) pixels. Spokes are rasterised in blocks of doubling size, and a
    pixel's rank is the smallest index of the spokes through it (a scatter-min), until at least
    ``target`` pixels are covered (or all of them). Uncovered pixels get rank equal to the number of
    spokes drawn, which exceeds every count k that can be chosen.
    """
    n = h * w
    ch, cw = h // 2, w // 2
    u = torch.arange(-max(ch, cw), max(h - ch, w - cw), dtype=torch.float64).view(1, -1)
    theta0 = float(torch.rand((), generator=gen, dtype=torch.float64)) * math.pi
    rank = torch.full((n,), torch.iinfo(torch.int64).max, dtype=torch.int64)
    n_spokes, block, covered = 0, 64, 0
    while covered < min(target, n):
        j = torch.arange(n_spokes, n_spokes + block, dtype=torch.int64)
        theta = torch.remainder(theta0 + j.to(torch.float64) * _GOLDEN_ANGLE, math.pi).view(-1, 1)
        c, s = torch.cos(theta), torch.sin(theta)
        flat = c.abs() >= s.abs()
        # along the dominant axis (columns for flat spokes, rows for steep ones) the spoke is at u · slope
        v = torch.floor(u * torch.where(flat, s / c, c / s) + 0.5)
        dy, dx = torch.where(flat, v, u).long(), torch.where(flat, u, v).long()
        inside = (dy >= -ch) & (dy < h - ch) & (dx >= -cw) & (dx < w - cw)
        pixel = ((dy + ch) * w + dx + cw)[inside]
        spoke = j.view(-1, 1).expand_as(inside)[inside]
        rank.scatter_reduce_(0, pixel, spoke, reduce="amin")
        n_spokes += block
        block = min(2 * block, 8192)
        covered = int((rank < n_spokes).sum())
    rank.clamp_(max=n_spokes)
    counts = torch.bincount(rank, minlength=n_spokes + 1)[:n_spokes].cumsum(0)
    return rank, counts


def radial_mask(shape: Sequence[int], ratio: float, *, seed: int = 0) -> SamplingMask:
    """Radial spokes through the centre of the Cartesian grid at golden-angle increments.

    Spoke j has angle θ_0 + j · 111.246° (π/φ, the golden angle of radial MRI) from a seeded start θ_0,
    and passes through the zero frequency (H//2, W//2) of centred k-space; it is rasterised to the
    nearest grid pixel once per column (spokes nearer horizontal) or once per row (nearer vertical). A
    pixel's rank is the index of the first spoke that covers it; the mask with k spokes is the union of
    spokes 0..k-1, and k is chosen so the achieved ratio is the closest achievable to the requested one.
    Granularity: one spoke, at most max(H, W) pixels (fewer once spokes overlap near the centre). Since
    the golden-angle sequence is dense, ratio 1 is reached (with many spokes for the corner pixels).
    """
    h, w = check_shape(shape)
    r = check_ratio(ratio)
    seed = check_seed(seed)
    rank, counts = _radial_rank(h, w, _generator(seed), r * h * w)
    k = _choose_count(counts, r * h * w)
    return _make(_mask_from_rank(rank, k).view(h, w), r, "radial", seed)


# -- CT angle subsets -----------------------------------------------------------------------------------
def angle_subset(ratio: float | None = None, *, n_views: int | None = None, n_candidates: int = 180, seed: int = 0,
                 pattern: str = "equispaced") -> SamplingMask:
    """A nested subset of the candidate angle grid θ_j = j · 180° / n_candidates, j = 0..n_candidates-1.

    Give either ``ratio`` (k = round(ratio · n_candidates) views, at least one) or ``n_views`` (exactly
    that many). ``pattern="equispaced"`` ranks the candidates in a seeded low-discrepancy order
    (bit-reversal order after a random rotation of the grid), so any number of views is spread roughly
    evenly over [0°, 180°) with gaps at most about twice the ideal 180° / k; ``pattern="random"`` ranks
    them by a seeded permutation. The views for k are those of rank < k, so for the same seed,
    n_candidates and pattern a larger k gives a superset.

    Exactly equispaced sets (every s-th angle, as the paper's FBPConvNet sweep) are nested only when one
    step divides the other; here k views are exactly equispaced when n_candidates and k are powers of
    two. ``mask`` is (n_candidates,) bool; ``angles`` holds the chosen angles in degrees (float64,
    sorted); ``ratio`` is k / n_candidates.
    """
    if not _is_int(n_candidates) or n_candidates < 1:
        raise ValueError(f"n_candidates must be a positive int (the size of the angle grid over [0, 180)), "
                         f"got {n_candidates!r}.")
    n_candidates = int(n_candidates)
    if (ratio is None) == (n_views is None):
        raise ValueError(f"give exactly one of ratio (in (0, 1]) or n_views (in [1, n_candidates]); got "
                         f"ratio={ratio!r}, n_views={n_views!r}.")
    seed = check_seed(seed)
    pattern = _check_pattern(pattern, _ANGLE_PATTERNS)
    if n_views is not None:
        if not _is_int(n_views) or not 1 <= n_views <= n_candidates:
            raise ValueError(f"n_views must be an int in [1, n_candidates={n_candidates}], got {n_views!r}; "
                             "raise n_candidates for a finer angle grid.")
        k, requested = int(n_views), n_views / n_candidates
    else:
        requested = check_ratio(ratio)
        k = _choose_count(torch.arange(1, n_candidates + 1), requested * n_candidates)
    gen = _generator(seed)
    if pattern == "random":
        rank = torch.randperm(n_candidates, generator=gen)
    else:
        rank = _low_discrepancy_rank(n_candidates, int(torch.randint(n_candidates, (1,), generator=gen)))
    mask = _mask_from_rank(rank, k)
    grid = torch.arange(n_candidates, dtype=torch.float64) * 180.0 / n_candidates  # j·180/n, one rounding
    return _make(mask, requested, f"angles-{pattern}", seed, angles=grid[mask])


# -- sweeps -----------------------------------------------------------------------------------------------
def nested_masks(make: Callable[..., SamplingMask], ratios: Sequence[float], **kwargs: object) -> list[SamplingMask]:
    """Masks from ``make(ratio=s, **kwargs)`` for increasing ratios s, checked to be nested.

    ``kwargs`` carry everything else, the same for every ratio (shape, seed, pattern options), e.g.
    ``nested_masks(cartesian_mask, [0.15, 0.25, 0.5], shape=(256, 256), seed=3)`` or
    ``nested_masks(angle_subset, [0.1, 0.2], n_candidates=1000)``. ``ratios`` must be non-decreasing;
    each mask must contain the previous one (true by construction for this module's patterns; a custom
    ``make`` that draws independent masks is refused, as it would not measure "the same samples plus more").
    """
    ratios = list(ratios)
    if not ratios:
        raise ValueError("ratios is empty; give the sampling ratios of the sweep, e.g. [0.15, 0.25, 0.5].")
    if any(b < a for a, b in pairwise(ratios)):
        raise ValueError(f"ratios must be non-decreasing, got {ratios!r}; sort them.")
    masks = [make(ratio=s, **kwargs) for s in ratios]
    for lo, hi in pairwise(masks):
        if bool((lo.mask & ~hi.mask).any()):
            raise ValueError(f"{getattr(make, '__name__', make)!r} did not give nested masks: the mask at ratio "
                             f"{lo.requested} has samples missing from the mask at ratio {hi.requested}. Use a "
                             "mask function that ranks its samples (as this module's patterns do).")
    return masks
