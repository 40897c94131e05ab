"""Batches that do not fit: a configured cap (max_batch) and out-of-memory errors split them, with a warning.

No GPU is needed: the models below raise the errors CUDA and the CPU allocator raise (``torch.OutOfMemoryError``,
"DefaultCPUAllocator: can't allocate memory") when a call carries more inputs than they "fit".
"""

import textwrap
import warnings

import pytest
import torch

from pytest_stability import PerturbationSearch, Reconstructor, StabilityWarning, mri_family, structural, worst_case
from pytest_stability.memory import is_out_of_memory, split_batch
from pytest_stability.models import ModelError
from pytest_stability.phantoms import random_ellipses

H = 16
FAMILY = mri_family((H, H), pattern="variable-density", seed=0)


class _BackwardLimit(torch.autograd.Function):
    """Identity whose backward pass runs out of memory for batches above ``fits`` (activations kept for it)."""

    @staticmethod
    def forward(ctx, z, fits):
        ctx.fits = fits
        return z.clone()

    @staticmethod
    def backward(ctx, grad):
        if grad.shape[0] > ctx.fits:
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {grad.shape[0]} GiB (emulated)")
        return grad, None


class Limited(torch.nn.Module):
    """A smooth non-linear reconstruction that runs out of memory above ``fits`` inputs per call."""

    def __init__(self, fits: int | None = None, *, backward_fits: int | None = None, cpu: bool = False):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(0.5))
        self.fits, self.backward_fits, self.cpu = fits, backward_fits, cpu
        self.largest = 0

    def forward(self, z):
        self.largest = max(self.largest, z.shape[0])
        if self.fits is not None and z.shape[0] > self.fits:
            if self.cpu:
                raise RuntimeError(f"[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
                                   f"you tried to allocate {z.shape[0] << 30} bytes.")
            raise torch.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {z.shape[0]} GiB (emulated)")
        z = z.real
        if self.backward_fits is not None:
            z = _BackwardLimit.apply(z, self.backward_fits)
        return z + self.w * torch.tanh(3 * z)


@pytest.fixture(scope="module")
def images():
    return random_ellipses(6, H, seed=1)


@pytest.mark.parametrize("cpu", [False, True], ids=["cuda-oom", "cpu-allocator"])
def test_a_forward_pass_that_runs_out_of_memory_is_split_and_gives_the_same_images(images, cpu):
    op = FAMILY(0.4)
    y = op.forward(images)
    whole = Reconstructor(Limited(), op)(y)
    model = Limited(fits=2, cpu=cpu)
    f = Reconstructor(model, op)
    with pytest.warns(StabilityWarning, match=r"ran out of memory on 6 inputs at once; ran in chunks of 2") as w:
        out = f(y)
        again = f(y)  # the size that fitted is remembered: no second failed attempt, no second warning
    assert len(w) == 1 and "max_batch=2 (marker, or --stability-max-batch)" in str(w[0].message)
    torch.testing.assert_close(out, whole, rtol=0, atol=0)
    torch.testing.assert_close(again, whole, rtol=0, atol=0)
    assert model.largest == 6  # tried once at full size, then chunks of 3, then 2


def test_a_search_whose_backward_pass_runs_out_of_memory_is_split_by_images(images):
    """Chunks of images are searched as if each were the whole batch: the result equals those searches joined."""
    search = PerturbationSearch(eps=(0.01, 0.02), steps=6, power_iterations=3)
    op = FAMILY(0.4)
    with pytest.warns(StabilityWarning, match="worst-case search of model 'Limited' ran out of memory on 12 inputs"):
        split = search.run(Limited(backward_fits=6), images, op)
    halves = [search.run(Limited(), images[s], op) for s in (slice(0, 3), slice(3, 6))]
    assert split.ratio.shape == (2, 6) and split.perturbations.shape == (2, 6, 1, H, H)
    # float32 sums over a batch of 12 or of 6 round differently: equal to 1e-4, not bitwise
    torch.testing.assert_close(split.ratio, torch.cat([h.ratio for h in halves], dim=1), rtol=1e-4, atol=0)
    torch.testing.assert_close(split.sigma1, torch.cat([h.sigma1 for h in halves]), rtol=1e-4, atol=0)
    assert "searched in 2 chunks of images (memory)" in split.notes


def test_max_batch_caps_every_call_of_every_check(images):
    """A configured cap (for a CPU with little memory): the model never sees more inputs per call, no warning."""
    model = Limited(fits=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", StabilityWarning)
        results = worst_case(model, images, FAMILY(0.4), eps=(0.01, 0.02), steps=4, baseline_steps=3, max_batch=4,
                             noise_draws=2, persistence_levels=(0.25,))
        structural(model, images, FAMILY(0.4), details=("lesion",), max_batch=4)
    assert model.largest <= 4
    assert len(results) == 2 and all(r.numbers["ratio"] > 0 for r in results)


def test_one_image_that_does_not_fit_is_a_clear_memory_error(images):
    with pytest.raises(MemoryError, match="runs out of memory even for one image at a time.*--stability-device"):
        Reconstructor(Limited(fits=0), FAMILY(0.4))(FAMILY(0.4).forward(images))


def test_other_errors_are_not_mistaken_for_memory():
    class Broken(torch.nn.Module):
        def forward(self, z):
            raise RuntimeError("shapes cannot be multiplied (16x16 and 8x8)")

    with pytest.raises(ModelError, match="shapes cannot be multiplied"):
        Reconstructor(Broken(), FAMILY(0.4))(torch.zeros(2, 1, H, H, dtype=torch.complex64))
    assert not is_out_of_memory(RuntimeError("index out of range"))
    assert is_out_of_memory(ModelError("wrapped")) is False
    wrapped = ModelError("model raised")
    wrapped.__cause__ = torch.OutOfMemoryError("CUDA out of memory")
    assert is_out_of_memory(wrapped)
    assert split_batch(lambda s: list(range(10))[s], 10, lambda parts: sum(parts, []), what="x", limit=3) == list(
        range(10))


def test_the_max_batch_option_reaches_the_model_through_the_plugin(pytester):
    pytester.makepyfile(textwrap.dedent(f"""
        import torch
        from pytest_stability import Case, mri_family, stable
        from pytest_stability.phantoms import random_ellipses

        class AtMostTwo(torch.nn.Module):
            def forward(self, z):
                assert z.shape[0] <= 2, f"called with {{z.shape[0]}} inputs"
                return z.real

        @stable(eps=(0.01, 0.02), steps=3, details=("lesion",), max_batch=2, max_ratio=1.5, baseline=None)
        def test_capped():
            return Case(AtMostTwo(), mri_family(({H}, {H}), seed=0), ratio=0.4, images=random_ellipses(3, {H}, seed=0))
    """))
    result = pytester.runpytest_subprocess("--stability", "-p", "no:cacheprovider", "-p", "no:xdist", "-q")
    result.assert_outcomes(passed=3)
