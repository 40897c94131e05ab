"""Coil sensitivities: ESPIRiT and low-resolution estimates against the true maps, and per-image maps that follow
their images through every check (indexed, repeated and split batches)."""

import pytest
import torch

from pytest_stability.checks import structural, worst_case
from pytest_stability.models import Reconstructor
from pytest_stability.operators import MultiCoilMRI, fft2c, for_images, ifft2c, simulate_coil_maps
from pytest_stability.phantoms import random_ellipses, shepp_logan
from pytest_stability.search import PerturbationMap, PerturbationSearch
from pytest_stability.search.controls import noise_control, persistence_curve
from pytest_stability.sensitivities import estimate_coil_maps

N = 64


def smooth_phase(n: int) -> torch.Tensor:
    """exp(iφ) with φ a smooth ramp and bowl of up to about 1.3 rad: the phase of a real MR image."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, n), torch.linspace(-1, 1, n), indexing="ij")
    return torch.polar(torch.ones(n, n), 0.8 * xx + 0.5 * yy ** 2)


@pytest.fixture(scope="module")
def scan():
    """Two complex slices, 8 true coil maps, and their fully sampled k-space (2, 8, N, N)."""
    x = torch.cat([shepp_logan(N), random_ellipses(1, N, seed=3)]) * smooth_phase(N)
    maps = simulate_coil_maps(8, (N, N))
    return x, maps, fft2c(x * maps)


def _correlation(estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """|⟨Ŝ(r), S(r)⟩| / (‖Ŝ(r)‖ ‖S(r)‖) per pixel: agreement up to the per-pixel phase maps leave free."""
    inner = (estimate.conj() * truth).sum(dim=-3).abs()
    return inner / (estimate.abs().pow(2).sum(-3).sqrt() * truth.abs().pow(2).sum(-3).sqrt()).clamp_min(1e-12)


@pytest.mark.parametrize(("method", "least"), [("espirit", 0.999), ("lowres", 0.99)])  # measured: 0.9998, 0.998
def test_estimated_maps_match_the_true_maps_inside_the_object(scan, method, least):
    x, maps, k = scan
    estimate = estimate_coil_maps(k, method=method, calibration=24)
    inside = x.abs()[:, 0] > 0.1 * x.abs().amax()
    assert estimate.shape == k.shape and estimate.dtype == torch.complex64
    assert float(_correlation(estimate, maps)[inside].min()) > least
    torch.testing.assert_close(estimate.abs().pow(2).sum(1)[inside], torch.ones(int(inside.sum())), atol=1e-4, rtol=0)
    # images combined with the estimate are those of the SENSE model, up to a small residual, and the maps carry
    # the smooth phase (the truth's reaches 0.7 rad inside the object; what is left is 0.14 rad)
    images = (estimate.conj() * ifft2c(k)).sum(1, keepdim=True)
    assert float((fft2c(images * estimate) - k).norm() / k.norm()) < 0.02
    spread = float(x[:, 0][inside].angle().abs().max()), float(images[:, 0][inside].angle().abs().max())
    assert spread[0] > 0.6 and spread[1] < 0.3, spread


def test_espirit_crops_the_background_and_one_image_gives_one_set_of_maps(scan):
    _, _, k = scan
    single = estimate_coil_maps(k[1], calibration=24)
    assert single.shape == k.shape[1:]
    torch.testing.assert_close(single, estimate_coil_maps(k, calibration=24)[1])
    assert float(estimate_coil_maps(k[:1]).abs().pow(2).sum(1).min()) == 0.0  # outside the object: cropped


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"kspace": torch.ones(8, N, N)}, "complex multi-coil k-space"),
    ({"kspace": torch.ones(N, N, dtype=torch.complex64)}, "complex multi-coil k-space"),
    ({"method": "sense"}, "method must be one of 'espirit', 'lowres'"),
    ({"calibration": 100}, "larger than the k-space grid"),
    ({"calibration": (24,)}, "calibration must be"),
    ({"kernel": 30}, "kernel must be an int"),
    ({"threshold": 0.0}, "threshold and crop"),
    ({"kspace": torch.zeros(8, N, N, dtype=torch.complex64)}, "calibration region of an image is all zero"),
])
def test_bad_estimator_input_is_refused(scan, kwargs, match):
    args = {"kspace": scan[2]} | kwargs
    with pytest.raises(ValueError, match=match):
        estimate_coil_maps(**args)


# -- per-image maps ---------------------------------------------------------------------------------------------
H = 16


@pytest.fixture(scope="module")
def per_image():
    """Fully sampled 3-coil MRI of two images, each under its own maps (image 1's are image 0's in another order
    and phase), so that A* A = I only when every image meets its own maps."""
    maps = simulate_coil_maps(3, (H, H))
    both = torch.stack([maps, 1j * maps.flip(0)])
    x = random_ellipses(2, H, seed=1) * smooth_phase(H)
    return MultiCoilMRI(torch.ones(H, H, dtype=torch.bool), both), x


def test_per_image_maps_measure_each_image_with_its_own(per_image):
    op, x = per_image
    y = op(x)
    for b in range(2):
        torch.testing.assert_close(y[b:b + 1], MultiCoilMRI(op.mask, op.coil_maps[b])(x[b:b + 1]))
    torch.testing.assert_close(op.adjoint(y), x, atol=1e-6, rtol=0)
    assert op.n_images == 2 and op.n_coils == 3 and MultiCoilMRI(op.mask, n_coils=3).n_images is None
    u = torch.randn(2, 3, H, H, dtype=torch.complex128)
    v = torch.randn(2, 1, H, H, dtype=torch.complex128)
    assert float((torch.vdot(op(v).flatten(), u.flatten()) - torch.vdot(v.flatten(), op.adjoint(u).flatten())).abs()) \
        < 1e-10 * float(op(v).norm() * u.norm())


def test_for_images_selects_repeats_and_composes(per_image):
    op, x = per_image
    repeated = op.for_images(torch.tensor([1, 0, 1]))
    torch.testing.assert_close(repeated(x[[1, 0, 1]]), op(x)[[1, 0, 1]])
    torch.testing.assert_close(repeated.for_images(slice(0, 1))(x[1:]), op(x)[1:])
    assert op.for_images(slice(None)) is op and for_images(op, [0, 1]) is op
    shared = MultiCoilMRI(op.mask, op.coil_maps[0])
    assert for_images(shared, [0, 0, 0]) is shared and shared.for_images(torch.tensor([1])) is shared
    assert repeated.norm() == pytest.approx(op.norm()) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="coil maps for 2 images .* batch of 3.*for_images"):
        op(x[[0, 1, 1]])
    with pytest.raises(ValueError, match="3 or 4 dimensions"):
        MultiCoilMRI(op.mask, op.coil_maps[None])


def test_the_norm_of_per_image_maps_is_the_largest_over_the_images():
    maps = simulate_coil_maps(3, (H, H))
    op = MultiCoilMRI(torch.rand(H, H, generator=torch.Generator().manual_seed(0)) < 0.5, torch.stack([maps, 2 * maps]))
    assert op.norm() == pytest.approx(MultiCoilMRI(op.mask, 2 * maps).norm(), rel=1e-3)


def test_every_check_evaluates_an_image_under_its_own_maps(per_image):
    """f = A* on fully sampled data is the identity only when an image meets its own maps: κ = 1, ρ = 1 exactly."""
    op, x = per_image
    f = Reconstructor(lambda z: z, op)
    pm = PerturbationMap(f, x, "image")
    index = torch.tensor([1, 0, 1, 1])
    z = 0.01 * torch.randn(4, 1, H, H, dtype=torch.complex64)
    torch.testing.assert_close(pm.evaluate(z, index), x[index] + z, atol=1e-6, rtol=0)
    sub = pm.subset(slice(1, 2))
    torch.testing.assert_close(sub.evaluate(z[:2], torch.tensor([0, 0])), x[[1, 1]] + z[:2], atol=1e-6, rtol=0)
    result = PerturbationSearch(eps=(0.01, 0.02), steps=3).search(pm)
    torch.testing.assert_close(result.ratio, torch.ones(2, 2), atol=1e-4, rtol=0)
    torch.testing.assert_close(noise_control(pm, result, draws=2), torch.ones(2, 2), atol=1e-4, rtol=0)
    curve = persistence_curve(pm, result, torch.tensor([0, 1]), levels=(0.25,), round_draws=2, max_draws=2)
    assert curve.kept.tolist() == curve.draws.tolist() == [[2], [2]]
    measured = PerturbationMap(f, x, "measurement")
    e = measured.project(0.01 * torch.randn(3, 3, H, H, dtype=torch.complex64))
    torch.testing.assert_close(measured.evaluate(e, torch.tensor([0, 1, 0])), x[[0, 1, 0]] + op.for_images(
        [0, 1, 0]).adjoint(e), atol=1e-6, rtol=0)
    checked = worst_case(f, x, eps=0.02, steps=3, domain="measurement", max_ratio=1.5, baseline=None)[0]
    assert checked.passed and checked.numbers["ratio"] == pytest.approx(1.0, abs=1e-4)
    for r in structural(f, x, details=("lesion", "heart"), baseline=None):
        torch.testing.assert_close(r.numbers["recoveries"], torch.ones(2), atol=1e-4, rtol=0)


def test_images_and_per_image_maps_must_be_the_same_images(per_image):
    op, x = per_image
    with pytest.raises(ValueError, match="one set per image, for 2 images, but there are 1 images.*slices="):
        worst_case(lambda z: z, x[:1], op, max_ratio=2.0, baseline=None)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_per_image_maps_and_espirit_on_cuda(per_image, scan):
    op, images = per_image
    index = torch.tensor([1, 0, 1], device="cuda")
    torch.testing.assert_close(op.for_images(index)(images[[1, 0, 1]].cuda()).cpu(), op(images)[[1, 0, 1]],
                               atol=1e-6, rtol=1e-5)
    x, maps, k = scan
    inside = x.abs()[:, 0] > 0.1 * x.abs().amax()
    assert float(_correlation(estimate_coil_maps(k.cuda()).cpu(), maps)[inside].min()) > 0.999
