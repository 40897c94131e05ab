"""The fuzz check: it finds a planted instability within its example budget, passes stable models, stores and
replays what it finds, and runs as a pytest item (also under xdist) and inside ``@given`` tests."""

import json
import re
from pathlib import Path

import pytest
import torch
from hypothesis import find, settings

from pytest_stability import TVReconstruction, fuzz, mri_family, random_ellipses
from pytest_stability.checks import FuzzJudge
from pytest_stability.metrics import l2_norm
from pytest_stability.strategies import gaussian_noise

pytest_plugins = ["pytester"]

H = 32
FAMILY = mri_family((H, H), pattern="variable-density", seed=0)
A = FAMILY(0.25)
X = random_ellipses(2, H, seed=0)
K0 = tuple(torch.nonzero(A.mask)[85].tolist())  # one of the 256 sampled k-space locations
FAST = dict(max_ratio=3.0, baseline=None)
DOCS = Path(__file__).resolve().parent.parent / "docs"


class SpikeGain(torch.nn.Module):
    """Zero filling that amplifies the measured k-space at K0 fifty times: unstable to one spike location only."""

    def forward(self, y):
        gain = torch.ones_like(y.real)
        gain[..., K0[0], K0[1]] = 50.0
        return A.adjoint(y * gain).real


class Threshold(torch.nn.Module):
    """Zero filling that breaks down once its input moves more than 0.5 % away from the clean one (for Gaussian
    noise of eps = 0.02: from level 10 of 16 on)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("clean", A.naive(A(X)).real)

    def forward(self, z):
        z = z.real
        moved = (l2_norm(z - self.clean) / l2_norm(self.clean) > 0.005).float().view(-1, 1, 1, 1)
        return z + 50 * moved * (z - self.clean)


def _level(description: str) -> int:
    return int(re.search(r"level (\d+)/16", description).group(1))


def zero_filled(z):
    return z.real


def test_finds_a_model_unstable_to_one_kspace_spike_within_its_budget():
    result = fuzz(SpikeGain(), X, A, inputs="y", examples=100, kinds="spike", seed=0, **FAST)
    n = result.numbers
    assert not result.passed and result.check == "fuzz"
    assert n["input_kind"] == "spike" and n["ratio"] > 3 and n["limit"] == 3
    assert n["found_after"] <= 100 and n["failures"] >= 1 and n["worst_ratio"] >= n["ratio"]
    # the judge isolates the one spike that matters from the shrunk draw
    assert n["single_spike"]["location"] == [K0[0] - H // 2, K0[1] - H // 2] and n["single_spike"]["others"] < 1
    assert "worst κ seen" in result.explanation and "alone, the spike at" in result.explanation
    assert result.tensors["perturbation"].shape == (1, 1, H, H)
    json.dumps(result.to_dict())
    # the same draws leave zero filling alone: κ ≤ 1 for every spike
    stable = fuzz(zero_filled, X, A, examples=100, kinds="spike", seed=0, **FAST)
    assert stable.passed and stable.numbers["evaluated"] >= 50 and stable.numbers["worst_ratio"] <= 1 + 1e-5
    assert stable.explanation.startswith("stable on all")


def test_stable_models_pass_every_kind_against_the_tv_baseline():
    result = fuzz(zero_filled, X, A, examples=6, seed=0)  # kinds="auto": every kind MRI supports, and details
    n = result.numbers
    assert result.passed, result.explanation
    assert n["baseline"] == "TV (CS baseline)" and n["evaluated"] == 6
    if n["input_kind"] != "detail":
        assert n["limit"] == pytest.approx(2.0 * n["baseline_ratio"], rel=1e-6)
    assert set(n["kinds"]) == {"gaussian", "coloured", "bias", "shift", "rotation", "spike", "phase", "detail"}
    tv = fuzz(TVReconstruction(A), X, A, inputs="y", examples=4, kinds=("gaussian", "shift", "spike"), seed=1, **FAST)
    assert tv.passed and tv.numbers["worst_ratio"] < 3


def test_a_model_that_erases_details_fails_on_the_first_one():
    fixed = A.naive(A(X)).real

    def blind(z):
        return fixed.expand(z.shape[0], -1, -1, -1)

    result = fuzz(blind, X, A, examples=20, kinds="detail", baseline=None, seed=0)
    n = result.numbers
    assert not result.passed and n["input_kind"] == "detail" and n["found_after"] == 1
    assert n["recovery"] == pytest.approx(0.0, abs=1e-6) and "detail lost: ρ = 0.00 < min_recovery 0.50" in (
        result.explanation)


@pytest.mark.skipif(settings.default.derandomize, reason="a derandomized (CI) profile uses no database")
def test_failures_are_stored_and_replayed_first(tmp_path):
    runs = [fuzz(Threshold(), X, A, examples=50, kinds="gaussian", database=tmp_path, database_key="threshold",
                 **FAST) for _ in range(2)]
    assert not runs[0].passed and not runs[1].passed and runs[0].numbers["database"]
    assert runs[1].numbers["found_after"] == 1 and runs[1].numbers["input"] == runs[0].numbers["input"]
    # shrunk to about the smallest failing budget: level 10 for most noise draws, 9 for some (3 of 25 unseeded runs)
    assert 9 <= _level(runs[0].numbers["input"]) <= 11


def test_shrinking_and_time_budgets():
    unshrunk = fuzz(Threshold(), X, A, examples=50, kinds="gaussian", seed=0, max_shrinks=0, **FAST)
    assert unshrunk.numbers["found_after"] == unshrunk.numbers["evaluated"]
    shrunk = fuzz(Threshold(), X, A, examples=50, kinds="gaussian", seed=0, **FAST)
    assert _level(shrunk.numbers["input"]) in (10, 11) and _level(shrunk.numbers["input"]) <= _level(
        unshrunk.numbers["input"])
    assert shrunk.numbers["evaluated"] > unshrunk.numbers["evaluated"]
    out_of_time = fuzz(zero_filled, X, A, examples=50, time_limit=1e-9, seed=0, **FAST)
    assert out_of_time.numbers["stopped"] == "time limit" and out_of_time.numbers["evaluated"] == 0
    assert "stopped at the time limit" in out_of_time.explanation


def test_the_failure_rate_over_all_draws_and_up_to_the_first_failure():
    """With rate=True every drawn input is judged (no stop, no shrinking, no targeting) and the rate is failures over
    draws with its Wilson interval; without it the rate is over the inputs judged up to the first failure."""
    all_draws = fuzz(Threshold(), X, A, examples=60, kinds="gaussian", seed=0, rate=True, **FAST)
    n = all_draws.numbers
    assert not all_draws.passed and n["fuzz_rate"] is True
    assert n["failure_rate_draws"] == n["evaluated"] >= 50  # hypothesis may draw a few duplicates
    assert 0 < n["failures"] < n["evaluated"]
    assert n["failure_rate"] == pytest.approx(n["failures"] / n["evaluated"])
    lo, hi = n["failure_rate_ci"]
    assert lo < n["failure_rate"] < hi and hi - lo < 0.3
    assert f"failure rate {100 * n['failure_rate']:.0f} %" in all_draws.explanation
    first = fuzz(Threshold(), X, A, examples=60, kinds="gaussian", seed=0, max_shrinks=0, **FAST).numbers
    assert first["fuzz_rate"] is False and first["failure_rate_draws"] == first["found_after"]
    assert first["failure_rate"] == pytest.approx(1 / first["found_after"])
    passing = fuzz(zero_filled, X, A, examples=40, kinds="gaussian", seed=0, **FAST).numbers
    assert passing["failure_rate"] == 0.0 and passing["failure_rate_ci"][1] < 0.1  # 0 of ≥ 35 draws
    with pytest.raises(ValueError, match="cannot be combined with replay_only"):
        fuzz(zero_filled, X, A, rate=True, replay_only=True, **FAST)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"examples": 0}, "examples must be a whole number >= 1"),
    ({"kinds": ("gaussian", "colored")}, "unknown perturbation kind 'colored' (did you mean 'coloured'?)"),
    ({"baseline": None}, "no verdict criterion for perturbations"),
    ({"max_shrinks": -1}, "max_shrinks must be a whole number >= 0"),
    ({"min_recovery": 2.0}, "min_recovery must lie in [-1, 1]"),
])
def test_bad_arguments_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(ValueError) as info:
        fuzz(zero_filled, X, A, **kwargs)
    assert message in str(info.value)


def test_the_judge_refuses_what_it_cannot_judge():
    judge = FuzzJudge(zero_filled, X, A, baseline=None, max_ratio=2.0)
    with pytest.raises(TypeError, match="takes a pytest_stability.strategies.Perturbation"):
        judge(torch.zeros_like(X))
    details_only = FuzzJudge(zero_filled, X, A, baseline=None)
    p = find(gaussian_noise(X), lambda p: True, settings=settings(database=None))
    with pytest.raises(ValueError, match="no verdict criterion for the gaussian perturbation"):
        details_only(p)
    small = find(gaussian_noise(X[:1]), lambda p: True, settings=settings(database=None))
    with pytest.raises(ValueError, match="build the strategy from the judge's images"):
        judge(small)


# -- the plugin ----------------------------------------------------------------------------------------
CONFTEST = f'''
import pytest
import torch

from pytest_stability import mri_family
from pytest_stability.phantoms import random_ellipses

FAMILY = mri_family(({H}, {H}), pattern="variable-density", seed=0)
OP = FAMILY(0.25)
K0 = {K0}


class SpikeGain(torch.nn.Module):
    def forward(self, y):
        gain = torch.ones_like(y.real)
        gain[..., K0[0], K0[1]] = 50.0
        return OP.adjoint(y * gain).real


@pytest.fixture(scope="session")
def images():
    return random_ellipses(2, {H}, seed=0)
'''

TESTS = '''
from conftest import FAMILY, SpikeGain
from pytest_stability import Case, stable

FUZZ = dict(checks="fuzz", fuzz=100, fuzz_kinds="spike", max_ratio=3.0, baseline=None)


@stable(**FUZZ)
def test_planted(images):
    return Case(SpikeGain(), FAMILY, ratio=0.25, images=images, inputs="y", name="planted")


@stable(**FUZZ)
def test_zero_filled(images):
    return Case(lambda z: z.real, FAMILY, ratio=0.25, images=images, name="zero-filled")
'''


@pytest.fixture
def project(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fuzzed=TESTS)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    return pytester


def _records(path):
    return {r["nodeid"].split("::")[-1]: r for r in json.loads(path.read_text())["results"]}


@pytest.mark.parametrize("workers", [None, "2"], ids=["no-xdist", "n2"])
def test_the_fuzz_item_fails_the_planted_model_and_passes_zero_filling(project, workers):
    args = ["--stability", "--stability-seed=0", "--stability-json=out.json"]
    if workers is None:
        result = project.runpytest(*args)
    else:
        result = project.runpytest_subprocess(*args, "-p", "xdist", "-n", workers)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*UNSTABLE fuzz [[]planted]: κ = * > limit 3 (max_ratio 3) on * k-space spike*",
        "*settings: fuzz=100, fuzz_kinds=('spike',), fuzz_rate=False, eps=0.02, max_ratio=3.0, baseline_factor=2.0, "
        "baseline=None, min_recovery=0.5, recovery_margin=0.3, seed=0*",
        "*rerun: pytest --stability 'test_fuzzed.py::test_planted[[]fuzz]' --stability-seed 0*",
        "1 stable, 1 unstable",
        "planted * fuzz * inputs * κ * (spike) * 3 * κ_g - * UNSTABLE",
    ])
    records = _records(project.path / "out.json")
    assert set(records) == {"test_planted[fuzz]", "test_zero_filled[fuzz]"}
    planted = records["test_planted[fuzz]"]
    assert planted["check"] == "fuzz" and planted["passed"] is False and planted["fuzz_seed"] == 0
    assert planted["single_spike"]["location"] == [K0[0] - H // 2, K0[1] - H // 2]
    assert records["test_zero_filled[fuzz]"]["passed"] is True


# A model unstable to a spike anywhere in the upper half of k-space: unlike the one planted location, which an
# unseeded run of 100 inputs finds in about 4 runs of 5, every unseeded run finds it, so the database test is
# deterministic in its outcome.
WIDE = '''
import torch
from conftest import FAMILY, OP
from pytest_stability import Case, stable


class HalfGain(torch.nn.Module):
    def forward(self, y):
        gain = torch.ones_like(y.real)
        gain[..., : y.shape[-2] // 2, :] = 50.0
        return OP.adjoint(y * gain).real


@stable(checks="fuzz", fuzz=100, fuzz_kinds="spike", max_ratio=3.0, baseline=None)
def test_wide(images):
    return Case(HalfGain(), FAMILY, ratio=0.25, images=images, inputs="y", name="wide")
'''


def test_found_failures_are_replayed_first_from_the_cache(project):
    if settings.default.derandomize:
        pytest.skip("a derandomized (CI) profile uses no database")
    project.makepyfile(test_wide=WIDE)
    project.runpytest("--stability", "--stability-seed=0", "-k", "zero").assert_outcomes(passed=1)
    first = project.runpytest("--stability", "--stability-json=first.json", "test_wide.py")
    first.assert_outcomes(failed=1)
    first.stdout.fnmatch_lines(["*rerun: pytest --stability 'test_wide.py::test_wide[[]fuzz]' (hypothesis's "
                                "database replays the failing input first*"])
    again = project.runpytest("--stability", "--stability-json=again.json", "--stability-replay-only", "-rs",
                              "-k", "wide or zero")
    again.assert_outcomes(failed=1, skipped=1)
    again.stdout.fnmatch_lines(["*no stored failing input for this fuzz item*"])
    replayed = _records(project.path / "again.json")["test_wide[fuzz]"]
    assert replayed["found_after"] == 1 and replayed["evaluated"] == 1
    assert replayed["input"] == _records(project.path / "first.json")["test_wide[fuzz]"]["input"]


def test_the_fuzz_rate_option_judges_every_draw(project):
    result = project.runpytest("--stability", "--stability-seed=0", "--stability-json=rate.json",
                               "--stability-fuzz-rate", "true")
    result.assert_outcomes(passed=1, failed=1)
    records = _records(project.path / "rate.json")
    planted, zero = records["test_planted[fuzz]"], records["test_zero_filled[fuzz]"]
    for r in (planted, zero):
        assert r["fuzz_rate"] is True and r["failure_rate_draws"] == r["evaluated"] >= 90
    assert planted["failures"] > 1
    assert planted["failure_rate"] == pytest.approx(planted["failures"] / planted["evaluated"])
    assert zero["failure_rate"] == 0 and zero["failure_rate_ci"][1] < 0.05
    result.stdout.fnmatch_lines(["*settings: fuzz=100, fuzz_kinds=('spike',), fuzz_rate=True,*"])


def test_fuzz_options_on_the_command_line_and_their_errors(pytester):
    pytester.makepyfile(test_ids='''
        from pytest_stability import stable

        @stable(eps=0.01)
        def test_unet():
            pass

        @stable(checks="fuzz", fuzz=5, fuzz_kinds=("colored",))
        def test_bad_kind():
            pass

        @stable(checks="fuzz")
        def test_no_examples():
            pass

        @stable(fuzz=-1)
        def test_negative():
            pass

        @stable(checks="fuzz", fuzz=5, baseline=None)
        def test_no_criterion():
            pass
    ''')
    plain = pytester.runpytest("--collect-only", "-q", "-k", "unet")
    plain.stdout.fnmatch_lines(["*test_unet[[]worst_case-eps=0.01]", "*test_unet[[]structure-spade]"])
    assert "fuzz]" not in plain.stdout.str()  # fuzz=0 by default: no fuzz item
    fuzzed = pytester.runpytest("--collect-only", "-q", "-k", "unet", "--stability-fuzz=50")
    fuzzed.stdout.fnmatch_lines(["*test_unet[[]structure-lesion]", "*test_unet[[]fuzz]"])
    errors = pytester.runpytest("--collect-only", "-q", "--continue-on-collection-errors")
    errors.stdout.fnmatch_lines([
        "*fuzz_kinds: 'colored' is not one of gaussian, coloured, *, detail (did you mean 'coloured'?)*",
        "*checks (from @stable) includes 'fuzz', which needs fuzz: the number of inputs to draw*",
        "*test_negative: fuzz: expected a whole number >= 0 (0: off), got -1*",
        "*the fuzz check has no verdict criterion for perturbations*",
    ])


def test_the_judge_fixture_inside_a_given_test(pytester):
    pytester.makepyfile(test_given=f'''
        import pytest
        from hypothesis import given

        from pytest_stability import mri_family, random_ellipses
        from pytest_stability.strategies import kspace_spikes, model_settings

        A = mri_family(({H}, {H}), pattern="variable-density", seed=0)(0.25)
        X = random_ellipses(2, {H}, seed=0)


        @pytest.fixture(scope="module")
        def judge(make_fuzz_judge):
            return make_fuzz_judge(lambda z: 3 * z.real, A, X, max_ratio=1.5, baseline=None)


        @model_settings(max_examples=10, database=None)
        @given(e=kspace_spikes(X, A))
        def test_spikes(judge, e):
            judge(e)
    ''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UnstableInput: UNSTABLE [[]<lambda>]: κ = * > limit 1.5 (max_ratio 1.5) on 1 "
                                 "k-space spike at (0, 0)*worst κ seen = *"])


def _recipes() -> list[tuple[str, str]]:
    """The runnable recipes of docs/fuzzing.md: ```python blocks whose first line is a `# test_*.py` file name."""
    blocks = re.findall(r"^```python\n# (test_\w+\.py)\n(.*?)^```", (DOCS / "fuzzing.md").read_text(encoding="utf-8"),
                        flags=re.S | re.M)
    assert len(blocks) >= 3
    return blocks


def test_the_recipes_in_the_docs_run_and_pass(pytester):
    recipes = _recipes()
    for name, code in recipes:
        pytester.makepyfile(**{name[:-3]: code})
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(recipes))
