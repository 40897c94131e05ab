"""The user's model and the process's random state are exactly as before after every check (bitwise).

The model has BatchNorm (its running statistics would move in train mode), Dropout, a registered buffer its
forward pass writes (a call counter), a frozen parameter, a parameter with a ``.grad`` from the user's own
training step, and a forward pass that draws from torch's, numpy's and Python's global generators. The checks
run it in eval mode with gradients off; afterwards everything must be as it was, also when the model raises
half-way through a check.
"""

import random
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from pytest_stability import PerturbationSearch, fuzz, mri_family, sample_sweep, structural, worst_case
from pytest_stability.checks.worst_case import judge_perturbation
from pytest_stability.models import ModelError
from pytest_stability.phantoms import random_ellipses

H = 16
FAMILY = mri_family((H, H), pattern="variable-density", seed=0)


class Busy(torch.nn.Module):
    """A small CNN with every kind of state a check could disturb."""

    def __init__(self, fail_after: int | None = None):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.drop = torch.nn.Dropout(0.5)
        self.out = torch.nn.Conv2d(4, 1, 3, padding=1)
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.register_buffer("scale", torch.tensor(0.1))
        self.out.bias.requires_grad_(False)
        self.conv.weight.grad = torch.full_like(self.conv.weight, 0.25)  # the user's own half-finished step
        self.fail_after, self.seen = fail_after, 0  # a plain attribute: not state the checks restore

    def forward(self, z):
        self.calls += 1
        self.seen += 1
        if self.fail_after is not None and self.seen > self.fail_after:
            raise RuntimeError("the model gave up")
        z = z.real
        jitter = 1e-9 * (torch.randn(()) + float(np.random.rand()) + random.random())  # global generators
        return z + self.scale * self.out(self.drop(torch.relu(self.bn(self.conv(z))))) + jitter


def _trained() -> Busy:
    torch.manual_seed(0)
    model = Busy()
    model.train()
    with torch.no_grad():  # move BatchNorm's running statistics away from their defaults, as training does
        model.bn(model.conv(torch.randn(8, 1, H, H)))
    model.drop.eval()  # a mixed mode: one submodule in eval, the rest in train
    return model


def snapshot(model: torch.nn.Module) -> dict:
    """Everything that must come back bitwise."""
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "training": {name: m.training for name, m in model.named_modules()},
        "requires_grad": {name: p.requires_grad for name, p in model.named_parameters()},
        "grad": {name: None if p.grad is None else p.grad.clone() for name, p in model.named_parameters()},
        "torch_rng": torch.random.get_rng_state().clone(),
        "numpy_rng": np.random.get_state(),
        "python_rng": random.getstate(),
        "grad_enabled": torch.is_grad_enabled(),
        "deterministic": torch.are_deterministic_algorithms_enabled(),
    }


def assert_same(before: dict, model: torch.nn.Module) -> None:
    after = snapshot(model)
    for name, value in before["state"].items():
        assert torch.equal(value, after["state"][name]), f"{name} changed"
        assert value.dtype == after["state"][name].dtype
    assert after["training"] == before["training"]
    assert after["requires_grad"] == before["requires_grad"]
    for name, grad in before["grad"].items():
        assert (grad is None) == (after["grad"][name] is None), f"{name}.grad appeared or vanished"
        assert grad is None or torch.equal(grad, after["grad"][name]), f"{name}.grad changed"
    assert torch.equal(after["torch_rng"], before["torch_rng"])
    numpy_before, numpy_after = before["numpy_rng"], after["numpy_rng"]
    assert numpy_before[0] == numpy_after[0] and np.array_equal(numpy_before[1], numpy_after[1])
    assert numpy_before[2:] == numpy_after[2:]
    assert after["python_rng"] == before["python_rng"]
    assert after["grad_enabled"] == before["grad_enabled"]
    assert after["deterministic"] == before["deterministic"]


@pytest.fixture(scope="module")
def images():
    return random_ellipses(2, H, seed=0)


CHECKS = {
    "worst_case": lambda m, x: worst_case(m, x, FAMILY(0.4), eps=(0.01, 0.02), steps=4, baseline_steps=3,
                                          noise_draws=2, persistence_levels=(0.25,)),
    "worst_case_measurement": lambda m, x: worst_case(m, x, FAMILY(0.4), eps=0.02, domain="measurement", steps=3,
                                                      baseline=None, max_ratio=10.0),
    "structural": lambda m, x: structural(m, x, FAMILY(0.4), details=("spade", "lesion")),
    "sample_sweep": lambda m, x: sample_sweep(m, x, FAMILY, (0.3, 0.5)),
    "fuzz": lambda m, x: fuzz(m, x, FAMILY(0.4), examples=3, kinds=("gaussian", "spike", "detail"), seed=1,
                              database=None),
    "faithful_search": lambda m, x: PerturbationSearch(mode="faithful", schedule=(2, 2)).run(m, x, FAMILY(0.4)),
    "gradient_free_search": lambda m, x: PerturbationSearch(mode="gradient-free", steps=2, spsa_directions=2).run(
        m, x, FAMILY(0.4)),
    "replay": lambda m, x: judge_perturbation(m, x, torch.full_like(x, 1e-3), FAMILY(0.4), eps=0.01,
                                              max_ratio=5.0),
}


@pytest.mark.parametrize("check", CHECKS)
def test_every_check_leaves_the_model_and_the_random_state_as_they_were(check, images):
    model = _trained()
    np.random.seed(5)
    random.seed(5)
    torch.manual_seed(5)
    before = snapshot(model)
    CHECKS[check](model, images)
    assert_same(before, model)
    assert int(model.calls) == 0, "the call counter is a buffer the forward pass writes: restored"


@pytest.mark.parametrize("check", ["worst_case", "structural", "sample_sweep", "fuzz"])
def test_a_model_that_raises_half_way_is_restored_too(check, images):
    model = _trained()
    model.fail_after = 1
    before = snapshot(model)
    with pytest.raises(ModelError, match="the model gave up"):
        CHECKS[check](model, images)
    assert_same(before, model)


def test_deterministic_algorithms_setting_is_respected_and_left_alone(images):
    """With ``torch.use_deterministic_algorithms(True)`` the checks run (nothing they use lacks a deterministic
    kernel on CPU), give the same numbers as without, and leave the setting on."""
    model = _trained()
    plain = CHECKS["worst_case"](model, images)
    torch.use_deterministic_algorithms(True)
    try:
        strict = CHECKS["worst_case"](model, images)
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
    for a, b in zip(plain, strict, strict=True):
        assert a.numbers["ratio"] == pytest.approx(b.numbers["ratio"], rel=1e-6)


def test_the_plugin_leaves_the_users_model_as_it_was(pytester):
    """Through the plugin, with every check: a later ordinary test in the same session sees the model unchanged."""
    pytester.makeconftest(textwrap.dedent("""
        import pytest
        import torch
        from test_integrity_model import Busy, snapshot

        @pytest.fixture(scope="session")
        def busy():
            torch.manual_seed(0)
            model = Busy()
            model.train()
            return model, snapshot(model)
    """))
    pytester.makepyfile(test_integrity_model=Path(__file__).read_text())
    pytester.makepyfile(test_zz_after=textwrap.dedent(f"""
        from pytest_stability import Case, mri_family, stable
        from pytest_stability.phantoms import random_ellipses
        from test_integrity_model import assert_same

        FAMILY = mri_family(({H}, {H}), pattern="variable-density", seed=0)

        @stable(eps=(0.01, 0.02), steps=3, details=("spade",), ratio_sweep=(0.3, 0.5), fuzz=3, fuzz_kinds="gaussian")
        def test_a_busy_model(busy):
            return Case(busy[0], FAMILY, ratio=0.4, images=random_ellipses(2, {H}, seed=0))

        def test_zz_model_unchanged(busy):
            assert_same(busy[1], busy[0])
    """))
    result = pytester.runpytest_subprocess("--stability", "--stability-seed", "1", "-p", "no:cacheprovider",
                                           "-p", "no:xdist", "-rA", "test_zz_after.py")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 6 and "errors" not in outcomes, result.stdout.str()
    result.stdout.fnmatch_lines(["PASSED test_zz_after.py::test_zz_model_unchanged"])
