"""The parallel-beam Radon operator and FBP: adjointness, autograd, geometry against scikit-image, FBP quality."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from pytest_stability.operators.adapters import adjointness_error
from pytest_stability.operators.radon import FBP_FILTERS, ParallelBeamRadon, _projector, fourier_filter
from pytest_stability.phantoms import shepp_logan

# angles off the equispaced grid, beyond 180° (180° repeats 0°'s rays) and negative, and the 45° ties
ODD_ANGLES = [0.0, 12.5, 45.0, 60.0, 90.0, 101.0, 135.0, 170.0, 180.0, 200.5, -30.0]


def _psnr(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    """PSNR over the whole image with data range max|truth| = 1 (the phantom's maximum)."""
    return float(10 * torch.log10(1.0 / torch.mean((estimate - truth) ** 2)))


@pytest.fixture(autouse=True)
def one_thread():
    """Run on one thread: MKL's sparse products wait on OpenMP barriers when the cores are shared with
    other workers (xdist), which costs ~10 ms per product of any size on a loaded 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def phantom_180():
    x = shepp_logan(256)
    op = ParallelBeamRadon(256, 180)
    return op, x, op(x)


@pytest.mark.parametrize(("dtype", "tol"), [(torch.complex64, 1e-5), (torch.complex128, 1e-12)])
@pytest.mark.parametrize("make", [
    lambda: ParallelBeamRadon(64, 50),
    lambda: ParallelBeamRadon((30, 41), ODD_ANGLES, n_detectors=37),
    lambda: ParallelBeamRadon((33, 20), 7, n_detectors=50),
], ids=["64-50views", "non-square-odd-angles", "wide-detector"])
def test_dot_product_adjoint_test(make, dtype, tol):
    op = make()
    for seed in range(2):
        assert adjointness_error(op, dtype=dtype, channels=2, seed=seed) < tol


def test_adjoint_is_the_exact_transpose_of_the_matrix():
    op = ParallelBeamRadon((9, 8), ODD_ANGLES, n_detectors=11)
    n, m = 9 * 8, op.num_measurements
    dense = op(torch.eye(n, dtype=torch.float64).view(n, 1, 9, 8)).reshape(n, m).T
    dense_adjoint = op.adjoint(torch.eye(m, dtype=torch.float64).view(m, 1, *op.measurement_trailing)).reshape(m, n)
    assert torch.equal(dense_adjoint, dense)
    assert op.norm() == pytest.approx(float(torch.linalg.matrix_norm(dense, ord=2)), rel=1e-4)


def test_gradcheck_forward_adjoint_and_fbp():
    op = ParallelBeamRadon(8, 5)
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 1, 5, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(op.forward, (x,))
    assert torch.autograd.gradcheck(op.adjoint, (y,))
    assert torch.autograd.gradgradcheck(op.forward, (x,))
    assert torch.autograd.gradcheck(lambda t: op.fbp(t, "hann"), (y,))


# Loading torch's forward-mode decompositions scripts them with the deprecated torch.jit.script (torch's own warning).
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torch_func_jvp_vjp_and_vmap_go_through_the_operator():
    op = ParallelBeamRadon((12, 10), [0.0, 30.0, 100.0, 200.0])
    x, v = torch.randn(2, 1, 12, 10, dtype=torch.float64), torch.randn(2, 1, 12, 10, dtype=torch.float64)
    value, tangent = torch.func.jvp(op.forward, (x,), (v,))
    torch.testing.assert_close(value, op(x))
    torch.testing.assert_close(tangent, op(v))
    y = torch.randn(2, 1, 4, 12, dtype=torch.float64)
    torch.testing.assert_close(torch.func.jvp(op.adjoint, (y,), (y,))[1], op.adjoint(y))
    _, vjp = torch.func.vjp(op.forward, x)
    torch.testing.assert_close(vjp(y)[0], op.adjoint(y))
    tangents = torch.randn(5, 2, 1, 12, 10, dtype=torch.float64)       # batched Jacobian-vector products
    batched = torch.func.vmap(lambda t: torch.func.jvp(op.forward, (x,), (t,))[1])(tangents)
    torch.testing.assert_close(batched, torch.stack([op(t) for t in tangents]))
    ys = torch.randn(5, 2, 1, 4, 12, dtype=torch.float64)
    torch.testing.assert_close(torch.func.vmap(op.fbp)(ys), torch.stack([op.fbp(t) for t in ys]))


def test_batches_and_channels_are_independent_and_complex_is_real_and_imaginary():
    op = ParallelBeamRadon((16, 12), ODD_ANGLES)
    x = torch.randn(3, 2, 16, 12, dtype=torch.float64)
    y = op(x)
    assert y.shape == (3, 2, len(ODD_ANGLES), 16)
    for b in range(3):
        for c in range(2):
            torch.testing.assert_close(y[b:b + 1, c:c + 1], op(x[b:b + 1, c:c + 1]), rtol=0, atol=1e-12)
            torch.testing.assert_close(op.adjoint(y)[b, c], op.adjoint(y[b:b + 1, c:c + 1])[0, 0], rtol=0, atol=1e-12)
    z = torch.complex(x, torch.flip(x, dims=(0,)))
    torch.testing.assert_close(op(z), torch.complex(op(z.real), op(z.imag)))
    assert op(x.float()).dtype == torch.float32


def test_a_point_lands_on_the_bin_of_its_projection_and_projections_keep_mass():
    h, w, r, c = 21, 17, 4, 13                       # off-centre pixel; centre is (h // 2, w // 2) = (10, 8)
    x = torch.zeros(1, 1, h, w, dtype=torch.float64)
    x[0, 0, r, c] = 1.0
    angles = torch.tensor([0.0, 30.0, 90.0, 150.0, 180.0, 210.0, 270.0, 300.0], dtype=torch.float64)
    op = ParallelBeamRadon((h, w), angles, n_detectors=31)
    y = op(x)[0, 0]
    theta = torch.deg2rad(angles)
    t = (c - w // 2) * torch.cos(theta) - (r - h // 2) * torch.sin(theta)   # skimage's t = u cos θ − v sin θ
    assert y.argmax(dim=1).tolist() == (31 // 2 + torch.round(t)).long().tolist()   # bins 20, 22, 21, 14, ...
    axis_aligned = torch.tensor([0, 2, 4, 6])
    torch.testing.assert_close(y[axis_aligned].sum(1), torch.ones(4, dtype=torch.float64), rtol=0, atol=1e-12)
    v, u = torch.arange(64).view(-1, 1) - 32, torch.arange(64).view(1, -1) - 32
    disc = (u**2 + v**2 <= 20**2).double().view(1, 1, 64, 64)
    mass = ParallelBeamRadon(64, 37)(disc).sum(-1)
    torch.testing.assert_close(mass, disc.sum().expand_as(mass), rtol=2e-3, atol=0)   # every view sees it all


def test_symmetric_angles_reuse_one_matrix_and_agree_with_single_views():
    op = ParallelBeamRadon(24, ODD_ANGLES, n_detectors=25)
    x = torch.rand(1, 1, 24, 24, dtype=torch.float64)
    y = op(x)
    for i, angle in enumerate(ODD_ANGLES):
        torch.testing.assert_close(y[:, :, i:i + 1], ParallelBeamRadon(24, [angle], n_detectors=25)(x))
    reversed_ = ParallelBeamRadon(24, [a + 180.0 for a in ODD_ANGLES], n_detectors=25)(x)
    torch.testing.assert_close(reversed_, y.flip(-1))   # θ + 180° reverses the (odd, centred) detector
    full, paper = ParallelBeamRadon(64, 180), ParallelBeamRadon(64, 50)   # 0:1:179 and 0:3.6:176.4
    assert len(full._canonical_angles) == 46 and len(paper._canonical_angles) == 13   # θ₀ in [0°, 45°]
    cpu = torch.device("cpu")
    assert ParallelBeamRadon(64, 180)._projector.matrices(cpu, torch.float32)[0] is \
        full._projector.matrices(cpu, torch.float32)[0]


def test_operators_keep_their_matrices_when_more_geometries_than_the_cache_alternate():
    ops = [ParallelBeamRadon(size, 7) for size in range(16, 28, 2)]      # 6 geometries, LRU of 4
    for op in ops:
        op.adjoint(op(torch.rand(1, 1, *op.image_shape)))
    built = _projector.cache_info().misses
    for op in ops:
        op.adjoint(op(torch.rand(1, 1, *op.image_shape)))
    assert _projector.cache_info().misses == built


def test_sinogram_and_fbp_agree_with_scikit_image(phantom_180):
    skimage_transform = pytest.importorskip("skimage.transform")
    op, x, y = phantom_180
    image = x[0, 0].double().numpy()
    reference = skimage_transform.radon(image, op.angles.numpy(), circle=True).T   # (n_angles, n_det)
    ours = y[0, 0].double().numpy()
    assert ours.shape == reference.shape
    assert np.linalg.norm(ours - reference) / np.linalg.norm(reference) < 0.01      # measured 0.30 %
    odd = ParallelBeamRadon(256, ODD_ANGLES)
    reference_odd = skimage_transform.radon(image, np.array(ODD_ANGLES), circle=True).T
    ours_odd = odd(x.double())[0, 0].numpy()
    assert np.linalg.norm(ours_odd - reference_odd) / np.linalg.norm(reference_odd) < 0.01
    fbp_reference = skimage_transform.iradon(reference.T, op.angles.numpy(), circle=True)
    fbp = op.fbp(y)[0, 0].double().numpy()
    assert np.linalg.norm(fbp - fbp_reference) / np.linalg.norm(fbp_reference) < 0.08  # measured 5.3 %
    assert _psnr(torch.from_numpy(fbp), x[0, 0].double()) > \
        _psnr(torch.from_numpy(fbp_reference), x[0, 0].double()) - 0.5               # 28.4 dB vs 28.1 dB


def test_fbp_of_shepp_logan_from_180_views_reaches_28_db(phantom_180):
    op, x, y = phantom_180
    reconstruction = op.naive(y)
    assert reconstruction.shape == x.shape and reconstruction.dtype == torch.float32
    assert _psnr(reconstruction, x) >= 28.0          # measured 28.41 dB (scikit-image's iradon: 28.10 dB)
    outside = ~op._circle
    assert bool((reconstruction[0, 0][outside] == 0).all())
    assert _psnr(op.fbp(y, "hann"), x) < _psnr(reconstruction, x)   # smoother window, blurrier edges


def test_ramp_filter_is_the_discretised_spatial_ramp_and_windows_have_known_values():
    size = 64
    kernel = torch.fft.ifft(fourier_filter(size, "ramp")).real
    odd = torch.arange(1, 8, 2, dtype=torch.float64)
    torch.testing.assert_close(kernel[0], torch.tensor(0.5, dtype=torch.float64))
    torch.testing.assert_close(kernel[1:8:2], -2.0 / (math.pi * odd) ** 2)
    torch.testing.assert_close(kernel[2:8:2], torch.zeros(3, dtype=torch.float64), atol=1e-15, rtol=0)
    ramp = fourier_filter(size, "ramp")
    nyquist = {"ramp": 1.0, "shepp-logan": 2 / math.pi, "cosine": 0.0, "hamming": 0.08, "hann": 0.0}
    for name in FBP_FILTERS:
        response = fourier_filter(size, name)
        assert response[size // 2] / ramp[size // 2] == pytest.approx(nyquist[name], abs=1e-12)


def test_angles_from_an_int_a_sequence_or_an_angle_subset():
    op = ParallelBeamRadon(32, 50)
    torch.testing.assert_close(op.angles, torch.arange(50, dtype=torch.float64) * 3.6)
    assert op.measurement_trailing == (50, 32) and op.num_measurements == 50 * 32
    subset = SimpleNamespace(angles=torch.tensor([0.0, 36.0, 72.0], dtype=torch.float64))
    assert ParallelBeamRadon(32, subset).n_angles == 3
    masks = pytest.importorskip("pytest_stability.masks")
    chosen = masks.angle_subset(n_views=20, n_candidates=180, seed=1)
    op = ParallelBeamRadon(32, chosen)
    torch.testing.assert_close(op.angles, chosen.angles)
    assert not op.domain_is_complex and op.sampling_ratio == pytest.approx(20 * 32 / 32**2)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"angles": []}, ValueError, "empty"),
    ({"angles": 0}, ValueError, "at least 1"),
    ({"angles": torch.tensor([])}, ValueError, "empty"),
    ({"angles": [0.0, float("nan")]}, ValueError, "finite"),
    ({"angles": torch.tensor([1.0, float("inf")])}, ValueError, "finite"),
    ({"angles": [[0.0, 1.0]]}, ValueError, "1-d"),
    ({"angles": ["a", "b"]}, TypeError, "degrees"),
    ({"angles": True}, TypeError, "bool"),
    ({"angles": 10, "n_detectors": 0}, ValueError, "n_detectors"),
])
def test_bad_geometry_is_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        ParallelBeamRadon(16, **kwargs)


def test_bad_data_is_refused():
    op = ParallelBeamRadon(16, 10)
    with pytest.raises(ValueError, match="trailing dimensions"):
        op(torch.zeros(1, 1, 16, 15))
    with pytest.raises(ValueError, match="4 dimensions"):
        op(torch.zeros(16, 16))
    with pytest.raises(ValueError, match="trailing dimensions"):
        op.adjoint(torch.zeros(1, 1, 16, 10))
    with pytest.raises(ValueError, match="not an FBP filter"):
        op.fbp(torch.zeros(1, 1, 10, 16), "hanning")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    op = ParallelBeamRadon(64, 50)
    x = torch.rand(2, 1, 64, 64, dtype=torch.float64)
    y = op(x)
    torch.testing.assert_close(op(x.cuda()).cpu(), y)
    torch.testing.assert_close(op.adjoint(y.cuda()).cpu(), op.adjoint(y))
    torch.testing.assert_close(op.fbp(y.cuda()).cpu(), op.fbp(y))


def test_fbp_weights_each_view_by_its_angular_width():
    """Equispaced views keep scikit-image's π / (2 n) scaling; irregular sets get their quadrature weights."""
    even = ParallelBeamRadon(16, 8)
    torch.testing.assert_close(even._view_weights, torch.full((8,), math.pi / 16, dtype=torch.float64))
    uneven = ParallelBeamRadon(16, [0.0, 10.0, 90.0])  # widths: (10 + 90) / 2, (10 + 80) / 2, (80 + 90) / 2
    expected = torch.deg2rad(torch.tensor([50.0, 45.0, 85.0], dtype=torch.float64)) / 2
    torch.testing.assert_close(uneven._view_weights, expected)
    assert float(uneven._view_weights.sum()) == pytest.approx(math.pi / 2)


def test_fbp_quality_rises_with_nested_views():
    from pytest_stability.families import radon_family

    x = shepp_logan(64, dtype=torch.float64)
    family = radon_family(64, n_candidates=180)
    quality = [_psnr(family(v / 180).fbp(family(v / 180)(x)), x) for v in (20, 30, 45, 60, 90, 180)]
    assert quality == sorted(quality)
