"""The hypothesis strategies: every perturbation keeps its norm budget, shrinks towards the simplest draw, and is
the physical change it names (a Fourier shift is a shift, a k-space fault lives on the sampled k-space)."""

import math
from random import Random

import pytest
import torch
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from pytest_stability import ParallelBeamRadon, mri_family, random_ellipses, shepp_logan
from pytest_stability import strategies as S
from pytest_stability.metrics import l2_norm

H = 32
EPS = 0.02
SETTINGS = settings(max_examples=15, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
X = random_ellipses(2, H, seed=0)
MRI = mri_family((H, H), pattern="cartesian", seed=0)(0.3)
COILS = mri_family((H, H), pattern="cartesian", seed=0, n_coils=4)(0.3)

# kind -> (strategy with the budget EPS, operator of its measurement domain or None)
BUDGETED = {
    "gaussian": (lambda: S.gaussian_noise(X, eps=EPS), None),
    "coloured": (lambda: S.coloured_noise(X, eps=EPS), None),
    "bias": (lambda: S.intensity_bias(X, max_bias=0.5, eps=EPS), None),
    "shift": (lambda: S.shifts(X, MRI, max_shift=2.0, eps=EPS, where=("image", "kspace")), MRI),
    "rotation": (lambda: S.rotations(X, MRI, max_angle=5.0, eps=EPS, where=("image", "kspace")), MRI),
    "spike": (lambda: S.kspace_spikes(X, COILS, eps=EPS), COILS),
    "phase": (lambda: S.phase_errors(X, MRI, max_phase=1.0, eps=EPS), MRI),
    "coil": (lambda: S.coil_errors(X, COILS, max_error=0.5, eps=EPS), COILS),
    "perturbations": (lambda: S.perturbations(X, COILS, eps=EPS), COILS),
}


@pytest.mark.parametrize("kind", BUDGETED)
def test_every_perturbation_keeps_its_budget(kind):
    make, operator = BUDGETED[kind]
    y = None if operator is None else operator(X)

    @SETTINGS
    @given(p=make())
    def check(p):
        assert p.relative_norm.max() <= EPS * (1 + 1e-5), p
        assert p.relative_norm.min() > 0, p
        if p.domain == "image":
            assert p.tensor.shape == X.shape and p.tensor.dtype == X.dtype  # real images get real perturbations
            assert torch.allclose(p.norm / l2_norm(X), p.relative_norm)
        else:
            assert p.tensor.shape == y.shape
            assert torch.equal(operator.project(p.tensor), p.tensor)  # e lives on the sampled k-space
            assert torch.allclose(p.norm / l2_norm(y), p.relative_norm)
        assert p.describe() in repr(p) and "‖" in p.describe()

    check()


@pytest.mark.parametrize(("strategy", "simplest"), [
    (S.gaussian_noise(X), "Gaussian noise (seed 0, level 1/16), ‖r‖/‖x‖ ≤ 0.00125"),
    (S.coloured_noise(X), "coloured noise of width 0.5 px (seed 0, level 1/16)"),
    (S.shifts(X, max_shift=1.0), "shift by (0, 0.125) px (rows, columns) of the whole scan"),
    (S.rotations(X, max_angle=2.0), "rotation by 0.125° of the whole scan"),
    (S.kspace_spikes(X, MRI), "1 k-space spike at (0, 0) (row, column from the centre; seed 0)"),
    (S.intensity_bias(X), "intensity bias of up to ±0.625 %, order 1 (seed 0)"),
    (S.perturbations(X, MRI), "Gaussian noise (seed 0, level 1/16)"),
    (S.details(X, names=("lesion", "heart")), "detail 'lesion' of size 5 px at pixel"),
])
def test_draws_shrink_towards_the_smallest_simplest_perturbation(strategy, simplest):
    smallest = find(strategy, lambda p: True, settings=settings(database=None))
    assert smallest.describe().startswith(simplest), smallest.describe()


def test_shrinking_keeps_a_failing_property_and_minimises_the_rest():
    """The smallest shift hypothesis finds that moves the images by at least half a pixel along the columns."""
    big = find(S.shifts(X, max_shift=2.0), lambda p: abs(dict(p.params)["amount"][1]) >= 4,
               settings=settings(database=None))
    assert dict(big.params)["amount"] == (0, 4)


def test_fourier_shift_and_rotation_are_the_rigid_motions_they_name():
    x = shepp_logan(H).double()
    assert torch.allclose(S.fourier_shift(x, 2, -3), torch.roll(x, (2, -3), (-2, -1)), atol=1e-12)
    n = 64
    yy, xx = torch.meshgrid(torch.arange(n).double() - (n - 1) / 2, torch.arange(n).double() - (n - 1) / 2,
                            indexing="ij")
    blob = torch.exp(-(yy ** 2 + (xx - 10) ** 2) / 8)[None, None]  # a blob 10 px right of the centre
    for degrees in (10.0, -30.0):
        moved = S.fourier_rotate(blob, degrees)[0, 0]
        centre = ((moved * yy).sum() / moved.sum(), (moved * xx).sum() / moved.sum())
        theta = math.radians(degrees)
        assert torch.allclose(torch.stack(centre), torch.tensor([10 * math.sin(theta), 10 * math.cos(theta)]).double(),
                              atol=1e-6)
    assert torch.allclose(S.fourier_rotate(S.fourier_rotate(blob, 7.0), -7.0), blob, atol=1e-9)


def test_without_eps_motion_has_its_full_size_and_with_eps_it_is_reduced():
    # seeded, and 2000 tries: hypothesis's default 100 random ones sometimes missed an amount of exactly 8 (flaky in CI)
    search = {"settings": settings(database=None, max_examples=2000), "random": Random(0)}
    whole = find(S.shifts(X, max_shift=1.0), lambda p: dict(p.params)["amount"][0] == 8, **search)
    assert torch.allclose(whole.tensor, torch.roll(X, 1, -2) - X, atol=1e-5)  # a 1-pixel shift, no cap
    assert whole.relative_norm.min() > 0.1
    search["random"] = Random(0)
    capped = find(S.shifts(X, max_shift=1.0, eps=0.02), lambda p: dict(p.params)["amount"][0] == 8, **search)
    assert capped.relative_norm.max() <= 0.02 * (1 + 1e-5)
    assert "shift by (0.0" in capped.describe()  # the shift itself shrank below a tenth of a pixel


def test_kspace_motion_corrupts_only_the_lines_acquired_after_it():
    acquired = torch.nonzero(MRI.mask.any(dim=0)).flatten()

    @SETTINGS
    @given(p=S.shifts(X, MRI, where="kspace"))
    def check(p):
        onset = dict(p.params)["onset"] / S.SUBSTEPS
        after = acquired[acquired.numel() - max(1, round(onset * acquired.numel())):]
        before = torch.ones(H, dtype=torch.bool)
        before[after] = False
        assert p.domain == "measurement" and p.tensor[..., before].abs().max() == 0
        assert p.tensor.abs().amax(dim=(0, 1, 2))[after].max() > 0

    check()


def test_phase_errors_and_spikes_are_what_they_name():
    y = MRI(X)

    @SETTINGS
    @given(p=S.phase_errors(X, MRI, max_phase=0.5))
    def phases(p):
        ratio = (y + p.tensor)[y.abs() > 0] / y[y.abs() > 0]
        assert torch.allclose(ratio.abs(), torch.ones_like(ratio.abs()), atol=1e-5)  # a pure phase change
        assert ratio.angle().abs().max() <= 0.5 + 1e-5

    @SETTINGS
    @given(p=S.kspace_spikes(X, MRI, max_spikes=3))
    def spikes(p):
        count = int((p.tensor[0, 0].abs() > 0).sum())
        assert 1 <= count <= 3 and f"{count} k-space spike" in p.describe()

    phases()
    spikes()


def test_details_lie_inside_the_object():
    brain = shepp_logan(H)
    support = S.object_support(brain)
    assert support[H // 2, H // 2] and not support[0, 0]
    ventricles = brain[0, 0, 16, 10:21] == 0  # dark ventricles inside the head: inside the object (holes filled)
    assert bool(ventricles.any()) and bool(support[16, 10:21].all()) and not bool(support[16, :4].any())

    @SETTINGS
    @given(p=S.details(brain, names="lesion", sizes=(6, 8), contrasts=(0.3, 0.6)))
    def check(p):
        assert p.kind == "detail" and p.detail.name == "lesion"
        assert bool(support[p.detail.pattern > 0].all())
        params = dict(p.params)
        assert 6 <= params["size"] <= 8 and 0.3 <= params["contrast"] <= 0.6
        assert torch.allclose(p.tensor, p.detail.scaled(brain, params["contrast"]))

    check()


def test_nested_mask_pairs_are_nested_and_masks_reach_their_ratio():
    @SETTINGS
    @given(pair=S.nested_mask_pairs((H, H), ratios=(0.1, 0.6)), mask=S.sampling_masks((H, H), ratios=(0.2, 0.3)))
    def check(pair, mask):
        fewer, more = pair
        assert fewer.pattern == more.pattern and fewer.seed == more.seed and fewer.requested < more.requested
        assert bool((fewer.mask <= more.mask).all())
        assert 0.1 <= mask.requested <= 0.3 and abs(mask.ratio - mask.requested) < 0.1

    check()


@pytest.mark.parametrize(("call", "message"), [
    (lambda: S.perturbations(X, MRI, kinds=("colored",)), "unknown perturbation kind 'colored' (did you mean "
                                                           "'coloured'?)"),
    (lambda: S.fuzz_inputs(X, MRI, kinds=()), "kinds is empty"),
    (lambda: S.perturbations(X, ParallelBeamRadon(H, 20), kinds="spike"), "needs a SingleCoilMRI or MultiCoilMRI"),
    (lambda: S.coil_errors(X, MRI), "needs a MultiCoilMRI operator"),
    (lambda: S.kspace_spikes(X, None), "pass the operator A"),
    (lambda: S.gaussian_noise(X, eps=-0.1), "eps must be a positive relative budget"),
    (lambda: S.gaussian_noise(X, eps=None), "eps must be a positive relative budget"),
    (lambda: S.shifts(X, where="sinogram"), "where must be 'image', 'kspace' or both"),
    (lambda: S.shifts(X, max_shift=0.01), "at least 1/8 pixel"),
    (lambda: S.gaussian_noise(torch.zeros(1, 1, H, H)), "an image is all zeros"),
    (lambda: S.details(X, names="joker"), "unknown detail 'joker'"),
    (lambda: S.details(X, names="text", sizes=(8, 9)), "do not fit inside the object"),
    (lambda: S.sampling_masks((H, H), patterns="radiall"), "(did you mean 'radial'?)"),
    (lambda: S.nested_mask_pairs((H, H), ratios=(0.3, 0.3)), "lowest < highest"),
])
def test_bad_arguments_are_refused_with_a_reason(call, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert message in str(info.value)


def test_applicable_kinds_follow_the_operator():
    assert S.applicable_kinds(COILS) == S.PERTURBATION_KINDS
    assert "coil" not in S.applicable_kinds(MRI) and "spike" in S.applicable_kinds(MRI)
    assert S.applicable_kinds(ParallelBeamRadon(H, 20)) == ("gaussian", "coloured", "bias", "shift", "rotation")
    kinds = set()

    @SETTINGS
    @given(p=S.fuzz_inputs(X, ParallelBeamRadon(H, 20)))
    def check(p):
        kinds.add(p.kind)
        assert p.domain == "image"

    check()
    assert kinds <= {"gaussian", "coloured", "bias", "shift", "rotation", "detail"}


def test_model_settings_have_no_deadline_and_tolerate_slow_models():
    s = S.model_settings(max_examples=7)
    assert s.deadline is None and HealthCheck.too_slow in s.suppress_health_check and s.max_examples == 7
    assert S.model_settings(settings(derandomize=True)).derandomize  # a parent profile's choices are kept


@given(st.data())
@S.model_settings(max_examples=3, database=None)
def test_strategies_compose_with_data_draws(data):
    p = data.draw(S.perturbations(X, MRI, kinds=("shift", "rotation")))
    assert p.kind in ("shift", "rotation")
