"""A user's own operator is called only in the dtype of the data: a float32-only projector, end to end.

The projector (tests/strict_projector.py) raises on anything but float32 real tensors and records every such
call, so a cast anywhere in the library (norm estimate, dot-product test, the CS baseline's steps, the search,
the checks) fails here even where the library would catch the error.
"""

import pytest
import torch
from projects import planted_conftest
from strict_projector import VIOLATIONS, projector, views

from pytest_stability import ModelError, Reconstructor, TVReconstruction, as_operator, random_ellipses
from pytest_stability.operators import FunctionOperator, OperatorError, SingleCoilMRI, adjointness_error, fft2c

pytest_plugins = ["pytester"]

H = 16


@pytest.fixture(autouse=True)
def no_violations():
    VIOLATIONS.clear()
    yield
    assert not VIOLATIONS, f"the float32-only projector was called in another dtype: {VIOLATIONS}"


def _ct(ratio=0.5, **kwargs):
    return as_operator(projector(views(H, ratio), H), (H, H), **kwargs)


def _complex_only(x):
    if not x.is_complex():
        raise TypeError("takes complex images")
    return fft2c(x)


def _refuses_everything(x):
    raise RuntimeError("no CPU support")


@pytest.mark.parametrize(("make", "is_complex", "dtype"), [
    (_ct, False, torch.float32),                                                       # real in, real out
    (lambda: as_operator((SingleCoilMRI(torch.ones(H, H)).forward, abs), (H, H)), True, torch.float32),  # complex out
    (lambda: as_operator((_complex_only, abs), (H, H)), True, torch.complex64),        # takes complex images only
], ids=["real-projector", "real-to-k-space", "complex-only"])
def test_the_domain_of_a_pair_is_found_from_the_operator(make, is_complex, dtype):
    op = make()
    assert op.domain_is_complex is is_complex and op.dtype == dtype and op.device == torch.device("cpu")


def test_the_first_data_teach_the_layout_without_a_probe():
    op = _ct()
    y = op(torch.ones(2, 1, H, H))
    assert op.measurement_trailing == (y.shape[-1],) and not op.domain_is_complex and op.dtype == torch.float32
    assert op.sampling_ratio == pytest.approx(0.5)


def test_a_given_domain_is_kept_and_a_real_one_is_never_probed_with_complex_images():
    assert _ct(domain_is_complex=False).domain_is_complex is False
    with pytest.raises(ValueError, match="(?s)takes no zeros.*float64: RuntimeError.*call it once on your images"):
        _ = as_operator((_refuses_everything, abs), (H, H), domain_is_complex=False).measurement_trailing
    with pytest.raises(TypeError, match="domain_is_complex must be True .* got 'real'"):
        as_operator((abs, abs), (H, H), domain_is_complex="real")


def test_norm_and_the_dot_product_test_run_in_the_operators_own_dtype():
    op = _ct()
    dense = torch.as_tensor(views(H, 0.5).toarray(), dtype=torch.float64)
    assert op.norm() == pytest.approx(float(torch.linalg.matrix_norm(dense, ord=2)), rel=1e-4)
    assert adjointness_error(op) < 1e-4  # float32: 5e-5 measured


def test_the_tv_baseline_reconstructs_with_a_float32_projector():
    op = _ct()
    x = random_ellipses(1, H, seed=0)
    out = TVReconstruction(op, max_iter=50)(op(x))
    assert out.dtype == torch.float32 and out.shape == x.shape


def test_a_wrong_domain_is_reported_with_the_fix():
    op = _ct(domain_is_complex=True)
    baseline = Reconstructor(TVReconstruction(op, max_iter=5), op, inputs="y", name="TV")
    with pytest.raises(ModelError) as caught:
        baseline(op(random_ellipses(1, H, seed=0)))
    message = str(caught.value)
    assert "forward callable raised RuntimeError" in message and "complex64 tensor" in message
    assert "domain_is_complex=False" in message and "complex_as_channels" not in message  # no misleading hint
    VIOLATIONS.clear()  # provoked on purpose


def test_data_in_another_precision_reach_the_operator_as_they_are_and_the_error_says_why():
    with pytest.raises(OperatorError, match=r"called with a float64 tensor .* model\.float\(\)"):
        _ct()(torch.ones(1, 1, H, H, dtype=torch.float64))
    VIOLATIONS.clear()  # provoked on purpose


def test_a_function_operator_returns_the_users_errors_with_their_cause():
    op = FunctionOperator(_refuses_everything, abs, (H, H), domain_is_complex=False)
    with pytest.raises(OperatorError) as caught:
        op(torch.ones(1, 1, H, H))
    assert isinstance(caught.value.__cause__, RuntimeError) and "no CPU support" in str(caught.value)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_only_projector_learns_its_device_from_the_first_images_and_the_baseline_runs_there():
    matrix = torch.as_tensor(views(H, 0.5).toarray(), device="cuda")

    def cuda_only(function):
        def call(t):
            if not t.is_cuda or t.dtype != torch.float32:
                raise RuntimeError(f"takes float32 CUDA tensors, got {t.dtype} on {t.device}")
            return function(t)
        return call

    op = as_operator((cuda_only(lambda x: x.flatten(2) @ matrix.T),
                      cuda_only(lambda y: (y @ matrix).reshape(*y.shape[:2], H, H))), (H, H))
    x = random_ellipses(1, H, seed=0).cuda()
    y = op(x)  # the first call teaches layout, domain, dtype and device
    assert op.device.type == "cuda" and op.dtype == torch.float32 and not op.domain_is_complex
    assert op.norm() > 0 and adjointness_error(op) < 1e-4
    assert TVReconstruction(op, max_iter=20)(y).device.type == "cuda"


# -- the plugin ----------------------------------------------------------------------------------------------
CONFTEST = planted_conftest(H) + '''

from strict_projector import projector, views

from pytest_stability import as_operator


class Landweber(torch.nn.Module):
    """Stands in for a network that uses the operator: a few gradient steps on ½‖A x − y‖² from A* y."""

    def forward(self, y, A):
        tau = 1.0 / A.norm() ** 2
        x = tau * A.adjoint(y)
        for _ in range(5):
            x = x + tau * A.adjoint(y - A(x))
        return x


@pytest.fixture(scope="session")
def ct_family():
    return lambda ratio: as_operator(projector(views(H, ratio), H), (H, H))
'''

TESTS = '''
from conftest import Landweber
from strict_projector import VIOLATIONS

from pytest_stability import Case, stable


@stable(eps=0.02, steps=4, details="lesion", ratio_sweep=(0.25, 0.5, 1.0))
def test_landweber(ct_family, images):
    return Case(Landweber(), ct_family, ratio=0.5, images=images, inputs="y,operator")


def test_zz_the_projector_only_saw_float32():
    assert not VIOLATIONS
'''


def test_the_three_checks_run_through_the_plugin_with_a_float32_only_projector(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ct=TESTS)
    result = pytester.runpytest("--stability", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["3 stable, 0 unstable", "Landweber  samples *PSNR*stable",
                                 "Landweber  structure lesion *ρ*ρ_g*stable",
                                 "Landweber  worst_case eps=0.02 *κ*κ_g*stable"])
