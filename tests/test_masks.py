"""Nested sampling masks: nesting, achieved ratios, determinism, pattern geometry and input validation."""

from __future__ import annotations

import math
from itertools import pairwise

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_stability.masks import (
    SamplingMask,
    angle_subset,
    cartesian_mask,
    nested_masks,
    radial_mask,
    uniform_mask,
    variable_density_mask,
)
from pytest_stability.operators.mri import SingleCoilMRI

MAKERS = {
    "cartesian-random": lambda shape, r, seed: cartesian_mask(shape, r, seed=seed),
    "cartesian-equispaced": lambda shape, r, seed: cartesian_mask(shape, r, seed=seed, pattern="equispaced"),
    "cartesian-gaussian": lambda shape, r, seed: cartesian_mask(shape, r, seed=seed, pattern="gaussian"),
    "cartesian-rows": lambda shape, r, seed: cartesian_mask(shape, r, seed=seed, center_fraction=0.2, axis=-2),
    "variable-density": lambda shape, r, seed: variable_density_mask(shape, r, seed=seed),
    "radial": lambda shape, r, seed: radial_mask(shape, r, seed=seed),
    "uniform": lambda shape, r, seed: uniform_mask(shape, r, seed=seed),
}

shapes = st.tuples(st.integers(8, 64), st.integers(8, 64))
ratios = st.floats(min_value=0.0, max_value=1.0, exclude_min=True, allow_nan=False)
seeds = st.integers(0, 2**32 - 1)
fast = settings(max_examples=25, deadline=None)


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def _expected_count(name: str, shape: tuple[int, int], r: float) -> int | None:
    """The exact number of sampled pixels for line and point patterns (None for radial: spoke granularity)."""
    h, w = shape
    if name.startswith("cartesian"):
        n_lines, line = (h, w) if name == "cartesian-rows" else (w, h)
        return max(1, _round_half_up(r * n_lines)) * line
    if name == "radial":
        return None
    return max(1, _round_half_up(r * h * w))


# -- properties common to every MRI pattern ----------------------------------------------------------------
@pytest.mark.parametrize("name", MAKERS)
@fast
@given(shape=shapes, r1=ratios, r2=ratios, seed=seeds)
def test_masks_are_nested(name, shape, r1, r2, seed):
    r1, r2 = sorted((r1, r2))
    small, large = MAKERS[name](shape, r1, seed), MAKERS[name](shape, r2, seed)
    assert small.mask.dtype == torch.bool and tuple(small.mask.shape) == shape
    assert not bool((small.mask & ~large.mask).any()), (small, large)
    assert small.ratio <= large.ratio


@pytest.mark.parametrize("name", MAKERS)
@fast
@given(shape=shapes, r=ratios, seed=seeds)
def test_achieved_ratio_is_reported_and_closest(name, shape, r, seed):
    m = MAKERS[name](shape, r, seed)
    n = shape[0] * shape[1]
    count = int(m.mask.sum())
    assert m.ratio == count / n and m.requested == r and m.seed == seed and m.angles is None
    expected = _expected_count(name, shape, r)
    if expected is not None:
        assert count == expected
    else:  # one spoke adds at most max(H, W) pixels, and at least one spoke is drawn
        assert abs(count - r * n) <= max(shape)


@pytest.mark.parametrize("name", MAKERS)
@fast
@given(shape=shapes, r=ratios, seed=seeds)
def test_masks_are_deterministic(name, shape, r, seed):
    assert torch.equal(MAKERS[name](shape, r, seed).mask, MAKERS[name](shape, r, seed).mask)


@pytest.mark.parametrize("name", MAKERS)
def test_different_seeds_give_different_masks(name):
    masks = [MAKERS[name]((40, 36), 0.3, seed).mask for seed in range(8)]
    distinct = {tuple(m.flatten().tolist()) for m in masks}
    assert len(distinct) >= 6


@pytest.mark.parametrize("name", MAKERS)
def test_ratio_one_samples_everything(name):
    m = MAKERS[name]((23, 30), 1.0, 5)
    assert bool(m.mask.all()) and m.ratio == 1.0


def test_ties_round_half_up_to_the_larger_mask():
    # 0.25 · 10 lines = 2.5 -> 3 lines; 0.25 · 10 points = 2.5 -> 3 points; 0.25 · 6 angles = 1.5 -> 2 angles
    assert int(cartesian_mask((4, 10), 0.25, center_fraction=0.0).mask[0].sum()) == 3
    assert int(variable_density_mask((2, 5), 0.25).mask.sum()) == 3
    assert int(uniform_mask((2, 5), 0.25).mask.sum()) == 3
    assert int(angle_subset(0.25, n_candidates=6).mask.sum()) == 2
    # never empty: the smallest ratio keeps one line, point or angle
    assert int(cartesian_mask((4, 10), 1e-9).mask[0].sum()) == 1
    assert int(uniform_mask((8, 8), 1e-9).mask.sum()) == 1
    assert int(angle_subset(1e-9).mask.sum()) == 1


def test_numpy_scalars_are_accepted():
    np = pytest.importorskip("numpy")
    m = cartesian_mask((np.int64(16), 16), np.float32(0.5), seed=np.int64(2), center_fraction=np.float64(0.1))
    assert torch.equal(m.mask, cartesian_mask((16, 16), 0.5, seed=2, center_fraction=0.1).mask)
    assert angle_subset(n_views=np.int32(5), n_candidates=np.int64(20)).angles.numel() == 5


def test_masks_drive_the_mri_operator():
    m = cartesian_mask((32, 32), 0.25, seed=1)
    op = SingleCoilMRI(m)
    assert op.num_measurements == int(m.mask.sum()) == 8 * 32
    assert "cartesian-random" in repr(m) and "ratio=0.2500" in repr(m)


# -- Cartesian -------------------------------------------------------------------------------------------
@fast
@given(shape=shapes, r=ratios, seed=seeds, cf=st.floats(0.0, 0.5), pattern=st.sampled_from(["random", "equispaced"]),
       axis=st.sampled_from([-1, -2, 0, 1]))
def test_cartesian_lines_and_centre(shape, r, seed, cf, pattern, axis):
    m = cartesian_mask(shape, r, seed=seed, center_fraction=cf, pattern=pattern, axis=axis).mask
    dim = axis % 2
    n = shape[dim]
    lines = m[0, :] if dim == 1 else m[:, 0]
    # constant along the readout axis (the other dimension)
    assert torch.equal(m, lines.view(1, -1).expand_as(m) if dim == 1 else lines.view(-1, 1).expand_as(m))
    n_centre = _round_half_up(cf * n)
    k = max(1, _round_half_up(r * n))
    # fastMRI's centre block of c lines is [pad, pad + c) with pad = (n - c + 1) // 2
    c = min(n_centre, k)
    pad = (n - c + 1) // 2
    assert bool(lines[pad:pad + c].all())
    if r >= cf:
        assert c == n_centre


def test_cartesian_centre_block_is_fastmri_block():
    for n in (8, 9, 16, 17):
        for c in range(1, n + 1):
            m = cartesian_mask((4, n), c / n, center_fraction=0.99, seed=3)
            lines = torch.nonzero(m.mask[0]).flatten().tolist()
            pad = (n - c + 1) // 2
            assert lines == list(range(pad, pad + c)), (n, c, lines)


@fast
@given(n=st.integers(8, 200), r=st.floats(0.05, 1.0), seed=seeds, cf=st.sampled_from([0.0, 0.08, 0.25]))
def test_cartesian_equispaced_prefixes_are_evenly_spread(n, r, seed, cf):
    m = cartesian_mask((2, n), r, seed=seed, center_fraction=cf, pattern="equispaced")
    n_centre = _round_half_up(cf * n)
    pad = (n - n_centre + 1) // 2
    centre = torch.zeros(n, dtype=torch.bool)
    centre[pad:pad + n_centre] = True
    others = m.mask[0][~centre]  # non-centre lines in order, the centre block removed
    n_others, picked = others.numel(), torch.nonzero(others).flatten()
    if picked.numel() < 2:
        return
    gaps = torch.diff(torch.cat([picked, picked[:1] + n_others]))  # circular gaps
    assert int(gaps.max()) <= 2 * n_others / picked.numel()


def test_cartesian_random_lines_are_spread_over_k_space():
    # with the centre excluded, random lines land on both sides of the centre, in every quarter
    hits = torch.stack([cartesian_mask((1, 128), 0.25, seed=s, center_fraction=0.0).mask[0] for s in range(200)])
    per_quarter = hits.float().view(200, 4, 32).mean(dim=(0, 2))
    assert torch.allclose(per_quarter, torch.full((4,), 0.25), atol=0.02)


def test_cartesian_gaussian_lines_follow_the_gaussian_density():
    # without a forced centre, line d from the centre is drawn with frequency rising with w(d) = exp(−d²/(2σ²n²)):
    # over many seeds the inner quarter of k-space is hit far more often than the outer quarters, and the
    # empirical frequency falls monotonically from the centre out
    n = 128
    hits = torch.stack([cartesian_mask((1, n), 0.2, seed=s, center_fraction=0.0, pattern="gaussian").mask[0]
                        for s in range(300)]).float().mean(0)
    d = (torch.arange(n) - n // 2).abs()
    bands = [float(hits[(d >= lo) & (d < lo + 16)].mean()) for lo in (0, 16, 32, 48)]
    assert all(a > b for a, b in pairwise(bands)), bands
    assert bands[0] > 5 * bands[-1]
    with pytest.raises(ValueError, match="sigma must be a positive width"):
        cartesian_mask((8, 8), 0.5, pattern="gaussian", sigma=0.0)


# -- variable density, uniform ----------------------------------------------------------------------------
def _annulus_fraction(masks: torch.Tensor, lo: float, hi: float) -> float:
    h, w = masks.shape[-2:]
    dy = (torch.arange(h) - h // 2).view(-1, 1).float()
    dx = (torch.arange(w) - w // 2).view(1, -1).float()
    rho = torch.sqrt(dy**2 + dx**2)
    rho = rho / rho.max()
    ring = (rho >= lo) & (rho < hi)
    return float(masks[:, ring].float().mean())


def test_variable_density_decreases_with_distance():
    masks = torch.stack([variable_density_mask((48, 40), 0.25, seed=s).mask for s in range(20)])
    fractions = [_annulus_fraction(masks, lo, lo + 0.2) for lo in (0.1, 0.3, 0.5, 0.7)]
    assert all(a > b for a, b in pairwise(fractions)), fractions
    assert fractions[0] > 2 * fractions[-1]


def test_variable_density_centre_disc_is_sampled_first():
    # disc of radius 0.2 · kmax; a ratio below the disc keeps its points nearest the centre
    big = variable_density_mask((32, 32), 0.5, center_radius=0.2, seed=4).mask
    assert _annulus_fraction(big[None], 0.0, 0.2) == 1.0
    small = variable_density_mask((32, 32), 5 / 1024, center_radius=0.2, seed=4).mask
    assert torch.nonzero(small).tolist() == [[15, 16], [16, 15], [16, 16], [16, 17], [17, 16]]


def test_variable_density_decay_zero_is_uniform_outside_the_disc():
    masks = torch.stack([variable_density_mask((32, 32), 0.3, decay=0, center_radius=0.0, seed=s).mask
                         for s in range(100)])
    inner, outer = _annulus_fraction(masks, 0.0, 0.5), _annulus_fraction(masks, 0.5, 1.01)
    assert abs(inner - outer) < 0.02 and abs(inner - 0.3) < 0.02


def test_uniform_has_no_density_trend():
    masks = torch.stack([uniform_mask((32, 32), 0.3, seed=s).mask for s in range(100)])
    inner, outer = _annulus_fraction(masks, 0.0, 0.5), _annulus_fraction(masks, 0.5, 1.01)
    assert abs(inner - outer) < 0.02 and abs(inner - 0.3) < 0.02


# -- radial ----------------------------------------------------------------------------------------------
def _reference_spoke_ranks(shape: tuple[int, int], seed: int, n_spokes: int) -> list[list[int]]:
    """First golden-angle spoke through each pixel, by a plain loop over spokes and columns/rows."""
    h, w = shape
    gen = torch.Generator().manual_seed(seed)
    theta0 = float(torch.rand((), generator=gen, dtype=torch.float64)) * math.pi
    golden = math.pi * (math.sqrt(5) - 1) / 2
    rank = [[n_spokes] * w for _ in range(h)]
    for j in reversed(range(n_spokes)):
        t = math.fmod(theta0 + j * golden, math.pi)
        if abs(math.cos(t)) >= abs(math.sin(t)):
            pixels = [(math.floor(dx * math.tan(t) + 0.5), dx) for dx in range(-(w // 2), w - w // 2)]
        else:
            pixels = [(dy, math.floor(dy / math.tan(t) + 0.5)) for dy in range(-(h // 2), h - h // 2)]
        for dy, dx in pixels:
            if -(h // 2) <= dy < h - h // 2 and -(w // 2) <= dx < w - w // 2:
                rank[dy + h // 2][dx + w // 2] = j
    return rank


@pytest.mark.parametrize("shape", [(9, 12), (16, 11)])
def test_radial_matches_reference_rasterisation(shape):
    n = shape[0] * shape[1]
    rank = torch.tensor(_reference_spoke_ranks(shape, seed=7, n_spokes=40))
    counts = [int((rank < k).sum()) for k in range(1, 41)]
    for r in (0.1, 0.3, 0.5):
        best = min(counts, key=lambda c: (abs(c - r * n), -c))
        k = counts.index(best) + 1
        assert torch.equal(radial_mask(shape, r, seed=7).mask, rank < k), (shape, r, k)


def test_radial_picks_the_closest_achievable_ratio():
    shape, n = (40, 56), 40 * 56
    requested = torch.linspace(0.005, 1.0, 100).tolist()
    achieved = [int(radial_mask(shape, r, seed=11).mask.sum()) for r in requested]
    achievable = sorted(set(achieved))
    for r, count in zip(requested, achieved, strict=True):
        assert abs(count - r * n) <= min(abs(c - r * n) for c in achievable) + 1e-9


def test_radial_spokes_pass_through_the_centre():
    m = radial_mask((33, 40), 0.02, seed=2).mask
    assert bool(m[16, 20])
    # a single spoke: one pixel per column or per row, point-symmetric about the centre up to rounding
    assert int(m.sum()) in (33, 40)


# -- CT angle subsets --------------------------------------------------------------------------------------
@fast
@given(n_candidates=st.integers(1, 400), v1=st.integers(1, 400), v2=st.integers(1, 400), seed=seeds,
       pattern=st.sampled_from(["equispaced", "random"]))
def test_angle_subsets_are_nested_sorted_and_exact(n_candidates, v1, v2, seed, pattern):
    v1, v2 = sorted((min(v1, n_candidates), min(v2, n_candidates)))
    a = angle_subset(n_views=v1, n_candidates=n_candidates, seed=seed, pattern=pattern)
    b = angle_subset(n_views=v2, n_candidates=n_candidates, seed=seed, pattern=pattern)
    assert a.mask.shape == (n_candidates,) and int(a.mask.sum()) == v1 and int(b.mask.sum()) == v2
    assert not bool((a.mask & ~b.mask).any())
    assert a.angles.dtype == torch.float64 and a.angles.numel() == v1
    assert bool((torch.diff(a.angles) > 0).all()) and float(a.angles.min()) >= 0 and float(a.angles.max()) < 180
    grid = torch.arange(n_candidates, dtype=torch.float64) * 180 / n_candidates
    assert torch.equal(a.angles, grid[a.mask])
    assert a.ratio == v1 / n_candidates == a.requested and a.pattern == f"angles-{pattern}"
    if pattern == "equispaced" and v1 >= 2:
        gaps = torch.diff(torch.cat([a.angles, a.angles[:1] + 180]))
        assert float(gaps.max()) <= 2 * 180 / v1 + 1e-9


@fast
@given(r=ratios, seed=seeds, n_candidates=st.integers(1, 1000))
def test_angle_subset_by_ratio(r, seed, n_candidates):
    m = angle_subset(r, n_candidates=n_candidates, seed=seed)
    assert int(m.mask.sum()) == max(1, _round_half_up(r * n_candidates)) and m.requested == r


def test_angle_subset_powers_of_two_are_exactly_equispaced():
    for seed in range(5):
        angles = angle_subset(n_views=8, n_candidates=64, seed=seed).angles
        assert torch.allclose(torch.diff(angles), torch.full((7,), 22.5, dtype=torch.float64))


def test_angle_subsets_differ_across_seeds():
    for pattern in ("equispaced", "random"):
        subsets = {tuple(angle_subset(n_views=20, seed=s, pattern=pattern).angles.tolist()) for s in range(8)}
        assert len(subsets) >= 6


# -- nested_masks -------------------------------------------------------------------------------------------
def test_nested_masks_sweep():
    masks = nested_masks(cartesian_mask, [0.1, 0.2, 0.2, 0.5], shape=(32, 48), seed=3, pattern="equispaced")
    assert [int(m.mask[0].sum()) for m in masks] == [5, 10, 10, 24]
    assert all(not bool((a.mask & ~b.mask).any()) for a, b in pairwise(masks))
    views = nested_masks(angle_subset, [0.05, 0.1], n_candidates=1000, pattern="random", seed=1)
    assert [v.angles.numel() for v in views] == [50, 100]


def test_nested_masks_refuses_unsorted_ratios_and_unnested_makers():
    with pytest.raises(ValueError, match="non-decreasing"):
        nested_masks(uniform_mask, [0.5, 0.2], shape=(8, 8))
    with pytest.raises(ValueError, match="empty"):
        nested_masks(uniform_mask, [], shape=(8, 8))

    def independent(ratio, shape, seed=0):  # a fresh draw per ratio, as the paper's DAGAN and MRI-VN masks
        return uniform_mask(shape, ratio, seed=seed + int(ratio * 100))

    with pytest.raises(ValueError, match="did not give nested masks"):
        nested_masks(independent, [0.2, 0.4], shape=(16, 16))


# -- validation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ratio", [0, 0.0, -0.1, 1.5, float("nan"), True, "0.5"])
@pytest.mark.parametrize("make", [cartesian_mask, variable_density_mask, radial_mask, uniform_mask])
def test_bad_ratio(make, ratio):
    with pytest.raises(ValueError, match=r"ratio must be .* in \(0, 1\].*got " + repr(ratio)):
        make((16, 16), ratio)


@pytest.mark.parametrize("shape", [(16,), (16, 16, 1), (0, 16), (16, -2), (16.0, 16), "ab", None, (True, 4)])
@pytest.mark.parametrize("make", [cartesian_mask, variable_density_mask, radial_mask, uniform_mask])
def test_bad_shape(make, shape):
    with pytest.raises(ValueError, match="shape must be"):
        make(shape, 0.5)


def test_bad_options():
    for cf in (1.0, -0.1, 2):
        with pytest.raises(ValueError, match=r"center_fraction must be in \[0, 1\), got " + repr(cf)):
            cartesian_mask((16, 16), 0.5, center_fraction=cf)
    with pytest.raises(ValueError, match="pattern must be one of 'random', 'equispaced', 'gaussian', got 'poisson'"):
        cartesian_mask((16, 16), 0.5, pattern="poisson")
    with pytest.raises(ValueError, match="axis must be"):
        cartesian_mask((16, 16), 0.5, axis=2)
    with pytest.raises(ValueError, match="center_radius must be in"):
        variable_density_mask((16, 16), 0.5, center_radius=1.0)
    with pytest.raises(ValueError, match="decay must be"):
        variable_density_mask((16, 16), 0.5, decay=-1)
    with pytest.raises(ValueError, match="seed must be"):
        uniform_mask((16, 16), 0.5, seed=-1)


def test_bad_angle_arguments():
    with pytest.raises(ValueError, match="n_views must be an int in .1, n_candidates=180., got 181"):
        angle_subset(n_views=181)
    with pytest.raises(ValueError, match="n_views must be an int in .1, n_candidates=180., got 0"):
        angle_subset(n_views=0)
    with pytest.raises(ValueError, match="exactly one of ratio"):
        angle_subset()
    with pytest.raises(ValueError, match="exactly one of ratio"):
        angle_subset(0.5, n_views=10)
    with pytest.raises(ValueError, match="n_candidates must be"):
        angle_subset(0.5, n_candidates=0)
    with pytest.raises(ValueError, match="pattern must be one of 'equispaced', 'random', got 'golden'"):
        angle_subset(0.5, pattern="golden")
    with pytest.raises(ValueError, match=r"ratio must be .*got 1.2"):
        angle_subset(1.2)


def test_sampling_mask_is_frozen():
    m = uniform_mask((8, 8), 0.5)
    assert isinstance(m, SamplingMask)
    with pytest.raises(AttributeError):
        m.ratio = 1.0
