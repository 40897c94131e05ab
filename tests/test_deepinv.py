"""deepinv: its physics as operators, our operators as its physics, and its networks under every check.

deepinv carries complex images and k-space as two real channels; these tests hold the conversion both ways
and the equivalence of the physics built for the plugin's own MRI operators (A x equal to 1e-5).
"""

import deepinv as dinv
import pytest
import torch
from deepinv.physics.functional.blur import gaussian_blur
from recipes import refuse_downloads, verdicts

from pytest_stability import MultiCoilMRI, ParallelBeamRadon, Reconstructor, SingleCoilMRI, as_operator, mri_family
from pytest_stability.operators import (
    DeepinvOperator,
    MatrixOperator,
    adjointness_error,
    deepinv_physics,
    from_two_channel,
    simulate_coil_maps,
    to_two_channel,
)

pytest_plugins = ["pytester"]

H = 16


def _mask(ratio=0.4, seed=0):
    return mri_family((H, H), seed=seed)(ratio).mask


def _images(b=2, dtype=torch.complex64):
    return torch.randn(b, 1, H, H, dtype=dtype, generator=torch.Generator().manual_seed(0))


# -- conventions --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "coil_axis", "two_channel"), [
    ((2, 1, H, H), False, (2, 2, H, H)), ((2, 4, H, H), True, (2, 2, 4, H, H)), ((2, 1, H, H), True, (2, 2, 1, H, H)),
])
def test_two_channel_conversion_round_trips(shape, coil_axis, two_channel):
    z = torch.randn(shape, dtype=torch.complex128)
    t = to_two_channel(z, coil_axis)
    assert t.shape == two_channel and t.dtype == torch.float64
    torch.testing.assert_close(t[:, 0], z.real.squeeze(1) if not coil_axis else z.real)
    torch.testing.assert_close(from_two_channel(t, coil_axis), z)
    assert to_two_channel(z.real, coil_axis)[:, 1].abs().max() == 0  # real data: zero imaginary channel


@pytest.mark.parametrize(("call", "match"), [
    (lambda: to_two_channel(torch.zeros(1, 3, H, H), coil_axis=False), r"one complex channel .* got shape \(1, 3"),
    (lambda: from_two_channel(torch.zeros(1, 3, H, H), coil_axis=False), r"two-channel .* shape \(1, 3, 16, 16\)"),
    (lambda: from_two_channel(torch.zeros(1, 2, H, H, dtype=torch.complex64), False), "complex64"),
])
def test_conversions_refuse_other_layouts(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# -- deepinv's physics as operators -------------------------------------------------------------------------
def test_deepinv_mri_wraps_as_an_operator_by_itself():
    mask = _mask()
    op = as_operator(dinv.physics.MRI(mask=mask.float(), img_size=(H, H)), (H, H))
    assert isinstance(op, DeepinvOperator) and op.complex_as_channels and op.domain_is_complex
    x = _images()
    torch.testing.assert_close(op(x), SingleCoilMRI(mask)(x), rtol=0, atol=1e-5)
    y = op(x)
    torch.testing.assert_close(op.adjoint(y), SingleCoilMRI(mask).adjoint(y), rtol=0, atol=1e-5)
    assert op.sampling_ratio == pytest.approx(SingleCoilMRI(mask).sampling_ratio)
    assert adjointness_error(op) < 1e-5  # in its own dtype: the complex64 of the first images
    torch.testing.assert_close(op.project(torch.ones_like(y)), mask.to(y.dtype).expand_as(y))


def test_deepinv_multicoil_mri_wraps_with_its_coil_axis():
    mask, maps = _mask(), simulate_coil_maps(4, (H, H))
    op = as_operator(dinv.physics.MultiCoilMRI(mask=mask.float(), coil_maps=maps, img_size=(H, H)), (H, H))
    x = _images()
    assert op.coil_axis and op(x).shape == (2, 4, H, H)
    torch.testing.assert_close(op(x), MultiCoilMRI(mask, maps)(x), rtol=0, atol=1e-5)
    assert adjointness_error(op) < 1e-5


class TwoChannels:
    """Not a deepinv class, but its convention: (B, 2, H, W) real/imaginary channels."""

    def A(self, x):  # noqa: N802 - deepinv's name
        return 2.0 * torch.stack([x[:, 0], x[:, 1]], dim=1)  # one channel has no x[:, 1]

    def A_adjoint(self, y):  # noqa: N802 - deepinv's name
        return y * 2.0


class Neither(TwoChannels):
    def A(self, x):  # noqa: N802 - deepinv's name
        raise RuntimeError("wants (B, 3, H, W)")


def test_the_convention_of_other_physics_is_probed():
    assert as_operator(TwoChannels(), (H, H)).complex_as_channels
    blur = as_operator(dinv.physics.BlurFFT(img_size=(1, H, H), filter=gaussian_blur(sigma=(1.0, 1.0))), (H, H))
    assert not blur.complex_as_channels and not blur.domain_is_complex and adjointness_error(blur) < 1e-12
    with pytest.raises(ValueError, match=r"(?s)Neither.A takes neither .*wants \(B, 3, H, W\).*complex_as_channels="):
        as_operator(Neither(), (H, H))


# -- our operators as deepinv physics -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
@pytest.mark.parametrize("coils", [None, 1, 4])
@pytest.mark.parametrize("ratio", [0.2, 0.5])
def test_the_physics_of_a_builtin_mri_operator_is_the_same_operator(ratio, coils, dtype):
    family = mri_family((H, H), pattern="cartesian", seed=0, n_coils=coils)
    op, x = family(ratio), _images(dtype=dtype)
    physics = deepinv_physics(op, x)
    assert isinstance(physics, dinv.physics.MultiCoilMRI if coils else dinv.physics.MRI)
    coil_axis = coils is not None
    torch.testing.assert_close(from_two_channel(physics.A(to_two_channel(x, False)), coil_axis), op(x),
                               rtol=0, atol=1e-5)
    y = op(x)
    torch.testing.assert_close(from_two_channel(physics.A_adjoint(to_two_channel(y, coil_axis)), False),
                               op.adjoint(y), rtol=0, atol=1e-5)


@pytest.mark.parametrize("make", [lambda: ParallelBeamRadon(H, 8), lambda: MatrixOperator(
    torch.randn(40, H * H, dtype=torch.complex128, generator=torch.Generator().manual_seed(0)), (H, H))],
    ids=["ct", "complex-matrix"])
def test_other_operators_become_a_linear_physics_of_their_a_and_adjoint(make):
    op = make()
    x = _images(dtype=torch.complex128 if op.domain_is_complex else torch.float64).real.contiguous()
    physics = deepinv_physics(op, x)
    assert type(physics) is dinv.physics.LinearPhysics
    x_dinv = to_two_channel(x, False) if op.domain_is_complex else x
    assert abs(float(physics.adjointness_test(x_dinv))) < 1e-10  # deepinv's own dot-product test


# -- inputs="deepinv" -----------------------------------------------------------------------------------------
class Records(torch.nn.Module):
    """A deepinv-style model that records what it was called with and returns A* y."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, y, physics):
        self.calls.append((tuple(y.shape), physics))
        return physics.A_adjoint(y)


@pytest.mark.parametrize("coils", [None, 3])
def test_inputs_deepinv_calls_the_model_with_a_real_physics_per_operator(coils):
    family, model = mri_family((H, H), seed=0, n_coils=coils), Records()
    x = _images(dtype=torch.float32)
    for ratio in (0.2, 0.5):  # as the samples check does: the model re-bound to each ratio's operator
        op = family(ratio)
        f = Reconstructor(model, family(0.2), inputs="deepinv").with_operator(op)
        out = f(op(x))
        shape, physics = model.calls[-1]
        assert shape == ((2, 2, coils, H, H) if coils else (2, 2, H, H))
        assert isinstance(physics, dinv.physics.Physics) and torch.equal(physics.mask[0, 0].bool(), op.mask)
        assert out.dtype == torch.complex64 and out.shape == (2, 1, H, H)
        torch.testing.assert_close(out, op.adjoint(op(x)), rtol=0, atol=1e-5)
    assert model.calls[0][1] is not model.calls[-1][1]
    f(op(x))
    assert model.calls[-1][1] is model.calls[-2][1]  # one physics per operator, device and precision


def test_inputs_deepinv_hands_a_wrapped_physics_itself_and_real_operators_stay_real():
    physics = dinv.physics.MRI(mask=_mask().float(), img_size=(H, H))
    model = Records()
    Reconstructor(model, as_operator(physics, (H, H)), inputs="deepinv")(torch.zeros(1, 1, H, H, dtype=torch.complex64))
    assert model.calls[-1][1] is physics
    ct = ParallelBeamRadon(H, 8)
    out = Reconstructor(model, ct, inputs="deepinv")(ct(torch.ones(1, 1, H, H)))
    assert model.calls[-1][0] == (1, 1, 8, H) and out.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_physics_is_built_on_the_device_of_the_data():
    op, model = mri_family((H, H), seed=0, n_coils=3)(0.4), Records()
    out = Reconstructor(model, op, inputs="deepinv", device="cuda")(op(_images(dtype=torch.float32).cuda()))
    physics = model.calls[-1][1]
    assert out.is_cuda and physics.mask.is_cuda and physics.coil_maps.is_cuda


# -- a deepinv network through the plugin --------------------------------------------------------------------
CONFTEST = '''
import functools

import deepinv as dinv
import pytest
import torch

from pytest_stability import as_operator, cartesian_mask, random_ellipses

H = 16


@functools.cache
def physics(ratio):
    mask = cartesian_mask((H, H), ratio, seed=0).mask.float()
    return as_operator(dinv.physics.MRI(mask=mask, img_size=(H, H)), (H, H))


@pytest.fixture(scope="session")
def modl():
    torch.manual_seed(0)
    denoiser = dinv.models.DnCNN(in_channels=2, out_channels=2, depth=3, nf=8, pretrained=None)
    return dinv.models.MoDL(denoiser=denoiser, num_iter=3)


@pytest.fixture(scope="session")
def images():
    return random_ellipses(2, H, seed=0)
'''

TESTS = '''
from conftest import physics

from pytest_stability import Case, stable


@stable(eps=0.02, steps=4, details="lesion", ratio_sweep=(0.25, 0.5))
def test_modl(modl, images):
    return Case(modl, physics, ratio=0.25, images=images, inputs="deepinv", name="MoDL")
'''


def test_the_download_guard_stops_deepinvs_pretrained_weights(monkeypatch):
    refuse_downloads(monkeypatch)
    with pytest.raises(AssertionError, match="a download was attempted"):
        dinv.models.DnCNN(in_channels=1, out_channels=1)  # pretrained="download" by default


def test_an_unrolled_deepinv_network_runs_every_check_through_the_plugin(pytester, monkeypatch):
    refuse_downloads(monkeypatch)  # the model is built with pretrained=None: nothing may fetch weights
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_modl=TESTS)
    result = pytester.runpytest("--stability", "-p", "no:cacheprovider")
    assert not result.parseoutcomes().get("errors"), result.stdout.str()
    assert set(verdicts(result.stdout.str())) == {("MoDL", "worst_case eps=0.02"), ("MoDL", "samples"),
                                                  ("MoDL", "structure lesion")}, result.stdout.str()
