"""Reconstructor: every way a model takes its input, and clear errors when it returns something else."""

import numpy as np
import pytest
import torch

from pytest_stability.families import mri_family
from pytest_stability.masks import cartesian_mask
from pytest_stability.models import ModelError, Reconstructor, as_reconstructor
from pytest_stability.operators import MultiCoilMRI, ParallelBeamRadon, SingleCoilMRI, fft2c, ifft2c
from pytest_stability.phantoms import random_ellipses

H = 16


@pytest.fixture(scope="module")
def op():
    return SingleCoilMRI(cartesian_mask((H, H), 0.5, seed=0))


@pytest.fixture(scope="module")
def x():
    return random_ellipses(2, H, seed=0)


def test_naive_input_is_the_zero_filled_image(op, x):
    seen = []
    f = Reconstructor(lambda z: seen.append(z) or z.real, op)
    f(op(x))
    torch.testing.assert_close(seen[0], op.adjoint(op(x)))


def test_naive_input_for_ct_is_filtered_back_projection(x):
    ct = ParallelBeamRadon(H, 20)
    seen = []
    Reconstructor(lambda z: seen.append(z) or z, ct)(ct(x))
    torch.testing.assert_close(seen[0], ct.fbp(ct(x)))


def test_measurements_mask_and_operator_inputs(op, x):
    y = op(x)
    got = {}
    Reconstructor(lambda k: got.setdefault("y", k).real, op, inputs="y")(y)
    Reconstructor(lambda k, m: got.setdefault("mask", m) * 0 + ifft2c(k).real, op, inputs="y,mask")(y)
    Reconstructor(lambda k, a: got.setdefault("op", a).adjoint(k).real, op, inputs="y,operator")(y)
    torch.testing.assert_close(got["y"], y)
    assert got["mask"].shape == (1, 1, H, H) and torch.equal(got["mask"][0, 0].bool(), op.mask)
    assert got["op"] is op


def test_fastmri_signature(x):
    op = MultiCoilMRI(cartesian_mask((H, H), 0.5, seed=0, center_fraction=0.25), n_coils=3)
    got = {}

    def varnet(masked_kspace, mask, num_low_frequencies):
        got.update(k=masked_kspace, mask=mask, low=num_low_frequencies)
        coils = ifft2c(torch.view_as_complex(masked_kspace))
        return coils.abs().pow(2).sum(dim=1).sqrt()  # (B, H, W) root-sum-of-squares, as fastMRI's VarNet

    out = Reconstructor(varnet, op, inputs="fastmri")(op(x))
    assert got["k"].shape == (2, 3, H, H, 2) and got["mask"].shape == (1, 1, 1, H, 1)
    assert got["low"] == op.low_frequencies == 4  # the ACS lines the mask function drew, round(0.25 · 16)
    assert out.shape == (2, 1, H, H)
    # a bare mask tensor reports no ACS lines: the contiguous sampled run through the centre column counts
    bare = MultiCoilMRI(op.mask, n_coils=3)
    Reconstructor(varnet, bare, inputs="fastmri")(bare(x))
    columns = op.mask[0].tolist()
    run = [c for c in range(H) if all(columns[min(c, H // 2):max(c, H // 2) + 1])]
    assert bare.low_frequencies is None and got["low"] == len(run) >= 4


def test_fastmri_inputs_need_a_cartesian_mask(x):
    op = SingleCoilMRI(torch.rand(H, H, generator=torch.Generator().manual_seed(0)) < 0.5)
    with pytest.raises(ValueError, match="Cartesian mask"):
        Reconstructor(lambda *a: a[0], op, inputs="fastmri")(op(x))


def test_custom_input_callable(op, x):
    f = Reconstructor(lambda a, b: a + b, op, inputs=lambda y, A: (A.adjoint(y).real, 1.0))
    torch.testing.assert_close(f(op(x)), op.adjoint(op(x)).real + 1.0)


def test_complex_as_channels_round_trip(op, x):
    seen = []
    f = Reconstructor(lambda z: seen.append(z) or z, op, complex_as_channels=True)
    out = f(op(x))
    assert seen[0].shape == (2, 2, H, H) and not seen[0].is_complex()
    assert out.is_complex() and out.shape == (2, 1, H, H)
    torch.testing.assert_close(out, op.adjoint(op(x)))


def test_numpy_models_get_arrays(op, x):
    f = Reconstructor(lambda z: np.abs(z), op, numpy=True)
    out = f(op(x))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, H, H)


def test_with_operator_retargets_models_bound_to_an_operator(x):
    from pytest_stability.baselines import TVReconstruction

    family = mri_family((H, H))
    f = Reconstructor(TVReconstruction(family(0.2)), family(0.2), inputs="y")
    g = f.with_operator(family(0.5))
    assert g.model.operator is family(0.5) and g.operator is family(0.5)
    assert g.model.lam_rel == f.model.lam_rel


def test_device_and_dtype_follow_the_model(op):
    model = torch.nn.Conv2d(2, 2, 1).double()
    f = Reconstructor(model, op, complex_as_channels=True)
    assert f.dtype == torch.float64 and f.device.type == "cpu"
    with pytest.raises(TypeError, match="float16"):
        Reconstructor(torch.nn.Conv2d(2, 2, 1).half(), op)


@pytest.mark.parametrize(("model", "match"), [
    (lambda z: {"image": z}, "returned a dict"),
    (lambda z: z[:, :, :4], "returned shape"),
    (lambda z: z[:1], "returned shape"),
    (lambda z: 1 / 0, "raised ZeroDivisionError: division by zero"),
])
def test_model_errors_name_the_model_and_the_problem(op, x, model, match):
    with pytest.raises(ModelError, match=match):
        Reconstructor(model, op, name="mine")(op(x))


def test_complex_as_channels_needs_an_even_channel_count(op, x):
    with pytest.raises(ModelError, match="2C"):
        Reconstructor(lambda z: z[:, :1], op, complex_as_channels=True)(op(x))


def test_bad_construction(op):
    with pytest.raises(ValueError, match="inputs="):
        Reconstructor(lambda z: z, op, inputs="kspace")
    with pytest.raises(TypeError, match="callable"):
        Reconstructor("not a model", op)
    with pytest.raises(ValueError, match="no operator"):
        as_reconstructor(lambda z: z)
    with pytest.raises(ValueError, match="sampling mask"):
        Reconstructor(lambda k, m: k, ParallelBeamRadon(H, 4), inputs="y,mask")(torch.zeros(1, 1, 4, H))


def test_fft_helpers_are_inverse_and_unitary():
    z = torch.randn(2, 1, 6, 5, dtype=torch.complex128)
    torch.testing.assert_close(ifft2c(fft2c(z)), z)
    torch.testing.assert_close(fft2c(z).norm(), z.norm())
