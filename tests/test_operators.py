"""The MRI operators and the adapters: adjointness, A A* = I, autograd, devices and bad input."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from pytest_stability.operators import (
    DeepinvOperator,
    FunctionOperator,
    LinearOperator,
    MatrixOperator,
    MultiCoilMRI,
    SingleCoilMRI,
    adjointness_error,
    as_operator,
    fft2c,
    ifft2c,
    simulate_coil_maps,
)

SHAPE = (12, 10)


def _mask(shape=SHAPE, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=gen) < 0.4


class DuckPhysics:
    """What deepinv's MRI physics looks like from outside: (B, 2, H, W) real/imaginary channels."""

    def __init__(self, mask):
        self.mask = mask.float()

    def A(self, x):  # noqa: N802 - deepinv's name
        k = fft2c(torch.complex(x[:, 0], x[:, 1])) * self.mask
        return torch.stack([k.real, k.imag], dim=1)

    def A_adjoint(self, y):  # noqa: N802 - deepinv's name
        x = ifft2c(torch.complex(y[:, 0], y[:, 1]) * self.mask)
        return torch.stack([x.real, x.imag], dim=1)


def _function_operator():
    mri = SingleCoilMRI(_mask())
    return FunctionOperator(mri.forward, mri.adjoint, SHAPE)


OPERATORS = {
    "single-coil": lambda: SingleCoilMRI(_mask()),
    "multi-coil": lambda: MultiCoilMRI(_mask(), n_coils=4),
    "dense-matrix": lambda: MatrixOperator(np.random.default_rng(0).standard_normal((40, SHAPE[0] * SHAPE[1])), SHAPE),
    "sparse-complex-matrix": lambda: MatrixOperator(
        sp.random(50, SHAPE[0] * SHAPE[1], density=0.1, random_state=0, dtype=np.complex128), SHAPE),
    "function-pair": _function_operator,
    "deepinv-physics": lambda: DeepinvOperator(DuckPhysics(_mask()), SHAPE, complex_as_channels=True),
}


@pytest.mark.parametrize("name", OPERATORS)
@pytest.mark.parametrize(("dtype", "tol"), [(torch.complex64, 1e-5), (torch.complex128, 1e-12)])
def test_dot_product_adjoint_test(name, dtype, tol):
    op = OPERATORS[name]()
    for seed in range(3):
        assert adjointness_error(op, dtype=dtype, seed=seed) < tol


@pytest.mark.parametrize("name", ["single-coil", "multi-coil", "sparse-complex-matrix", "dense-matrix"])
def test_gradcheck_forward_and_adjoint(name):
    op = OPERATORS[name]()
    x = torch.randn(2, 1, *SHAPE, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: op.forward(t), (x,))
    y = torch.randn(op.forward(x).shape, dtype=torch.complex128, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: op.adjoint(t), (y,))


def test_single_coil_is_a_coisometry_on_the_measurement_space():
    op = SingleCoilMRI(_mask())
    y = op.project(torch.randn(3, 2, *SHAPE, dtype=torch.complex128))
    torch.testing.assert_close(op.forward(op.adjoint(y)), y, rtol=0, atol=1e-13)
    assert LinearOperator.norm(op) == pytest.approx(1.0, abs=1e-9)  # the generic power iteration agrees


def test_single_coil_sampling_ratio_counts_the_mask():
    mask = _mask()
    op = SingleCoilMRI(mask)
    assert op.num_measurements == int(mask.sum())
    assert op.sampling_ratio == pytest.approx(float(mask.float().mean()))


def test_single_coil_keeps_real_images_real_in_precision():
    op = SingleCoilMRI(_mask())
    assert op.forward(torch.zeros(1, 1, *SHAPE)).dtype == torch.complex64
    assert op.forward(torch.zeros(1, 1, *SHAPE, dtype=torch.float64)).dtype == torch.complex128


def test_simulated_coil_maps_are_normalised_and_smooth():
    maps = simulate_coil_maps(15, (64, 64), dtype=torch.complex128)
    assert maps.shape == (15, 64, 64)
    torch.testing.assert_close((maps.abs() ** 2).sum(0), torch.ones(64, 64, dtype=torch.float64))
    # smooth: nearly all of each map's energy sits in the central 16×16 of its 64×64 spectrum
    spectrum = fft2c(maps).abs() ** 2
    central = spectrum[:, 24:40, 24:40].sum(dim=(1, 2)) / spectrum.sum(dim=(1, 2))
    assert float(central.min()) > 0.95


def test_multi_coil_fully_sampled_adjoint_inverts():
    op = MultiCoilMRI(torch.ones(SHAPE, dtype=torch.bool), n_coils=6)
    x = torch.randn(2, 1, *SHAPE, dtype=torch.complex128)
    torch.testing.assert_close(op.adjoint(op.forward(x)), x)
    assert LinearOperator.norm(op) == pytest.approx(1.0, abs=1e-6)


def test_multi_coil_with_user_maps_uses_them_as_given():
    maps = 2.0 * simulate_coil_maps(3, SHAPE)
    op = MultiCoilMRI(_mask(), maps)
    assert op.n_coils == 3 and op.forward(torch.ones(1, 1, *SHAPE)).shape == (1, 3, *SHAPE)
    assert op.norm() == pytest.approx(2.0, rel=0.05)


def test_operators_follow_the_data_to_its_dtype_and_cache_constants():
    op = SingleCoilMRI(_mask())
    op.forward(torch.zeros(1, 1, *SHAPE))
    per_dtype = len(op._constants)  # the signed mask and the centring checkerboard (see operators.mri.centring)
    op.forward(torch.zeros(2, 1, *SHAPE))
    assert len(op._constants) == per_dtype  # reused across calls
    op.forward(torch.zeros(1, 1, *SHAPE, dtype=torch.float64))
    assert len(op._constants) == 2 * per_dtype and {key[2] for key in op._constants} == {torch.float32, torch.float64}


def test_centred_dft_without_shifts_matches_the_shifted_one():
    """Even sizes fold fftshift/ifftshift into sign flips (operators.mri.centring); odd sizes keep the shifts."""
    gen = torch.Generator().manual_seed(0)
    for shape in [(8, 8), (6, 10), (10, 4), (7, 8), (9, 9)]:
        mask = torch.rand(shape, generator=gen) < 0.4
        x = torch.randn(3, 1, *shape, dtype=torch.complex128, generator=gen)
        maps = torch.randn(3, 4, *shape, dtype=torch.complex128, generator=gen)
        y = torch.randn(3, 4, *shape, dtype=torch.complex128, generator=gen)
        single, multi = SingleCoilMRI(mask), MultiCoilMRI(mask, maps)
        torch.testing.assert_close(single(x), fft2c(x) * mask)
        torch.testing.assert_close(single.adjoint(y[:, :1]), ifft2c(y[:, :1] * mask))
        torch.testing.assert_close(multi(x), fft2c(x * maps) * mask)
        torch.testing.assert_close(multi.adjoint(y), (maps.conj() * ifft2c(y * mask)).sum(1, keepdim=True))
        torch.testing.assert_close(multi.for_images([2, 0])(x[[2, 0]]), fft2c(x[[2, 0]] * maps[[2, 0]]) * mask)
        torch.testing.assert_close(multi.coil_maps, maps.to(torch.complex128))  # the maps as given


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", OPERATORS)
def test_operators_run_on_cuda(name):
    op = OPERATORS[name]()
    x = torch.randn(2, 1, *SHAPE, dtype=torch.complex64, device="cuda")
    y = op.forward(x)
    assert y.device.type == "cuda" and op.adjoint(y).device.type == "cuda"


def test_as_operator_dispatches():
    mri = SingleCoilMRI(_mask())
    assert as_operator(mri) is mri
    assert isinstance(as_operator((mri.forward, mri.adjoint), SHAPE), FunctionOperator)
    assert as_operator(np.eye(SHAPE[0] * SHAPE[1]), SHAPE).num_measurements == SHAPE[0] * SHAPE[1]
    assert isinstance(as_operator(sp.eye(SHAPE[0] * SHAPE[1]), SHAPE), MatrixOperator)
    assert isinstance(as_operator(DuckPhysics(_mask()), SHAPE, complex_as_channels=True), DeepinvOperator)
    assert as_operator(DuckPhysics(_mask()), SHAPE).complex_as_channels  # the convention is probed


def test_deepinv_adapter_against_the_real_library():
    import deepinv as dinv  # in the test extra: this runs in CI (tests/test_deepinv.py has the rest)

    mask = _mask()
    physics = dinv.physics.MRI(mask=mask.float().unsqueeze(0), img_size=(2, *SHAPE), device="cpu")
    op = DeepinvOperator(physics, SHAPE, complex_as_channels=True)
    assert adjointness_error(op, dtype=torch.complex64) < 1e-5
    x = torch.randn(1, 1, *SHAPE, dtype=torch.complex64)
    # deepinv's MRI is the same centred orthonormal transform, so the two agree
    torch.testing.assert_close(op.forward(x), SingleCoilMRI(mask).forward(x), atol=1e-5, rtol=1e-5)


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "error", "match"), [
    (lambda: SingleCoilMRI(torch.zeros(SHAPE, dtype=torch.bool)), ValueError, "samples nothing"),
    (lambda: SingleCoilMRI(torch.full(SHAPE, 0.5)), ValueError, "only 0 and 1"),
    (lambda: SingleCoilMRI(torch.ones(10)), ValueError, "2D"),
    (lambda: MultiCoilMRI(_mask()), ValueError, "n_coils"),
    (lambda: MultiCoilMRI(_mask(), simulate_coil_maps(2, (4, 4))), ValueError, "trailing dimensions"),
    (lambda: MultiCoilMRI(_mask(), torch.full((2, *SHAPE), float("nan"), dtype=torch.complex64)), ValueError,
     "NaN"),
    (lambda: MultiCoilMRI(_mask(), simulate_coil_maps(2, SHAPE), n_coils=3), ValueError, "n_coils=3"),
    (lambda: MatrixOperator(np.ones((3, 10))), ValueError, "not a square image"),
    (lambda: MatrixOperator(np.ones((3, 12)), (3, 5)), ValueError, "15 pixels"),
    (lambda: as_operator("a string"), TypeError, "cannot use a str"),
    (lambda: as_operator((abs, abs)), ValueError, "image_shape"),
    (lambda: DeepinvOperator(object(), SHAPE), TypeError, "A_adjoint"),
])
def test_bad_construction_is_refused_clearly(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda op: op.forward(torch.zeros(1, 1, 8, 8)), ValueError, r"trailing dimensions \(12, 10\)"),
    (lambda op: op.forward(torch.zeros(*SHAPE)), ValueError, "4 dimensions"),
    (lambda op: op.forward(torch.zeros(1, 1, *SHAPE, dtype=torch.float16)), TypeError, "float16"),
    (lambda op: op.forward(np.zeros((1, 1, *SHAPE))), TypeError, "torch.Tensor"),
    (lambda op: op.forward(torch.zeros(1, 1, *SHAPE, dtype=torch.int64)), TypeError, "int64"),
    (lambda op: op.adjoint(torch.zeros(1, 1, 5, 5, dtype=torch.complex64)), ValueError, "measurements"),
])
def test_bad_data_is_refused_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call(SingleCoilMRI(_mask()))


def test_multi_coil_refuses_wrong_coil_count_and_multichannel_images():
    op = MultiCoilMRI(_mask(), n_coils=4)
    with pytest.raises(ValueError, match="3 coils"):
        op.adjoint(torch.zeros(1, 3, *SHAPE, dtype=torch.complex64))
    with pytest.raises(ValueError, match="single-channel"):
        op.forward(torch.zeros(1, 2, *SHAPE))


def test_function_operator_checks_what_the_callable_returns():
    op = FunctionOperator(lambda x: x.sum(), lambda y: y, SHAPE)
    with pytest.raises(ValueError, match="must return a tensor"):
        op.forward(torch.zeros(1, 1, *SHAPE))
