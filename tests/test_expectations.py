"""Declared findings (expect=, mismatch=): how items end, what the summary and reports say; verdict margins; the
baseline's worst case reused across runs from pytest's cache."""

import json

import pytest
from projects import planted_conftest

from pytest_stability.expectations import ExpectationError, judge, parse_expect, parse_mismatch
from pytest_stability.plugin.options import OptionError, check_marker, resolve

pytest_plugins = ["pytester"]


# -- parsing and judging ---------------------------------------------------------------------------
def test_parse_expect_reads_finding_and_source():
    assert parse_expect("expect", {"worst_case": "Unstable: Figs. 1, 2", "structure": "stable"}) == {
        "worst_case": ("unstable", "Figs. 1, 2"), "structure": ("stable", "")}
    assert parse_expect("expect", "worst_case=unstable: Fig. 3; samples = stable") == {
        "worst_case": ("unstable", "Fig. 3"), "samples": ("stable", "")}


@pytest.mark.parametrize(("value", "message"), [
    ({"worst_case-eps=0.02": "unstable"}, "is not a check .* never per eps or per detail"),
    ({"structure": "blurry"}, "must start with 'stable' or 'unstable'"),
    ({"structure": ""}, r"expected a text"),
    ({}, "expected a dict from check to text"),
    ("worst_case unstable", "check=text pairs separated by ';'"),
])
def test_parse_expect_refuses_what_it_cannot_read(value, message):
    with pytest.raises(ExpectationError, match=message):
        parse_expect("expect", value)


def test_parse_mismatch_keeps_the_reason():
    assert parse_mismatch("mismatch", {"samples": " trained at one ratio "}) == {"samples": "trained at one ratio"}


EXPECT = {"worst_case": ("unstable", "Fig. 1")}


@pytest.mark.parametrize(("item", "check", "mismatch", "outcome"), [
    (True, True, None, "fail"),        # expected unstable, measured stable: fails
    (False, False, None, "xfail"),     # as expected: the unstable item is an expected failure
    (True, False, None, "pass"),       # a stable eps of an unstable check passes
    (True, True, "why", "pass"),       # a declared mismatch: ends as if expected
    (False, False, "why", "fail"),     # a declared mismatch that no longer holds
])
def test_judge_outcomes(item, check, mismatch, outcome):
    j = judge("worst_case", item, check, EXPECT, {"worst_case": mismatch} if mismatch else None)
    assert j.outcome == outcome
    assert j.fields["expected"] == "unstable" and j.fields["check_verdict"] == ("stable" if check else "unstable")
    if outcome == "fail":
        assert "mismatch" in j.message


def test_judge_without_expectation_is_the_items_own_verdict():
    assert judge("samples", False, False, None, None).outcome == "fail"
    assert judge("samples", True, True, EXPECT, None).outcome == "pass"  # no expectation for samples
    assert judge("samples", True, True, EXPECT, None).fields == {"check_verdict": "stable"}


def test_options_check_expect_against_the_checks_run():
    none = lambda _: None  # noqa: E731
    with pytest.raises(OptionError, match="expect names samples, which this test does not run"):
        resolve(check_marker((), {"checks": "worst_case", "expect": {"samples": "stable"}}), none, none)
    with pytest.raises(OptionError, match="mismatch names structure without an expectation"):
        resolve(check_marker((), {"expect": {"worst_case": "stable"}, "mismatch": {"structure": "x"}}), none, none)


# -- through the plugin ------------------------------------------------------------------------------
TESTS = '''
from conftest import Gain, case
from pytest_stability import stable

FAST = dict(checks="worst_case", eps=(0.01, 0.02), steps=8, max_ratio=3.0, baseline=None)


@stable(**FAST, expect={"worst_case": "unstable: planted gain 8"})
def test_known_instability(images):
    return case(Gain(8.0), images, "planted")


@stable(**FAST, expect={"worst_case": "unstable: a paper said so"})
def test_expected_unstable_but_stable(images):
    return case(Gain(1.0), images, "zero-filled")


@stable(**FAST, expect={"worst_case": "unstable: a paper said so"},
        mismatch={"worst_case": "our analogue is linear"})
def test_declared_mismatch(images):
    return case(Gain(1.0), images, "linear analogue")


@stable(**FAST, expect={"worst_case": "stable"}, mismatch={"worst_case": "stale reason"})
def test_stale_mismatch(images):
    return case(Gain(1.0), images, "stale")
'''


@pytest.fixture
def project(pytester):
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_declared=TESTS)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    return pytester


def test_items_end_by_their_checks_expectation(project):
    result = project.runpytest("--stability", "--stability-report=report", "-rxX")
    # known instability: 2 xfailed; expected unstable but stable: 2 failed; declared mismatch: 2 passed;
    # a declared mismatch that no longer holds: 2 failed
    result.assert_outcomes(passed=2, failed=4, xfailed=2)
    result.stdout.fnmatch_lines([
        "*expected the worst_case check to be unstable (a paper said so), measured stable: if this is a finding, "
        "declare it with its reason, mismatch={'worst_case': '...'}*",
        "*the worst_case check is stable, as expected, but a mismatch is declared for it ('stale reason')*",
        "*XFAIL*test_known_instability*unstable, as expected: κ = *",
    ])
    out = result.stdout.str()
    assert "expected findings: 2 of 4 checks as declared (2 checks differ from it;" in out
    lines = [line for line in out.splitlines() if line.startswith(("planted", "linear analogue", "zero-filled"))]
    assert any("worst_case" in line and "unstable" in line and line.rstrip().endswith("yes") for line in lines)
    assert any(line.rstrip().endswith("no, declared: our analogue is linear") for line in lines)
    assert any(line.rstrip().endswith("NO") for line in lines)
    records = {r["nodeid"].split("::")[-1]: r for r in
               json.loads((project.path / "report" / "results.json").read_text())["results"]}
    known = records["test_known_instability[worst_case-eps=0.02]"]
    assert known["expected"] == "unstable" and known["expected_note"] == "planted gain 8"
    assert known["check_verdict"] == "unstable" and known["matches"] is True and known["passed"] is False
    assert known["image_shape"] == [16, 16]
    assert known["margin"] == pytest.approx((3.0 - known["ratio"]) / 3.0)
    assert records["test_declared_mismatch[worst_case-eps=0.01]"]["mismatch_reason"] == "our analogue is linear"
    html = (project.path / "report" / "index.html").read_text()
    assert "Expected findings: 2 of 4 checks as declared" in html and "our analogue is linear" in html


def test_a_stable_item_of_an_unstable_check_passes_and_the_check_is_judged_whole(pytester):
    # gain 2.5 along one direction: κ ≈ 2.5, stable under max_ratio 3 but not under 2; one search for both eps
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_whole='''
        from conftest import Gain, case
        from pytest_stability import stable

        @stable(checks="worst_case", eps=(0.01, 0.02), steps=8, max_ratio=2.0, baseline=None,
                expect={"worst_case": "stable"})
        def test_gain(images):
            return case(Gain(2.5), images, "gain")
    ''')
    result = pytester.runpytest("--stability")
    result.assert_outcomes(failed=2)  # both eps fail: the check is unstable, not as expected
    result.stdout.fnmatch_lines(["*expected the worst_case check to be stable, measured unstable*"])


def test_verdict_margins_in_records_and_summary(project):
    result = project.runpytest("--stability", "--stability-json=out.json", "-k", "known or declared")
    records = json.loads((project.path / "out.json").read_text())["results"]
    for r in records:
        assert r["margin"] == pytest.approx((3.0 - r["ratio"]) / 3.0)
    result.stdout.fnmatch_lines(["model * check * metric * limit * margin * baseline * verdict",
                                 "planted * worst_case eps=0.0* * κ * > 3 (max_ratio) * -* % * "
                                 "UNSTABLE xfail (expected)"])


BASELINE_TESTS = '''
from conftest import Gain, case
from pytest_stability import stable


@stable(checks="worst_case", eps=0.02, steps=6)
def test_a(images):
    return case(Gain(1.0), images, "a")


@stable(checks="worst_case", eps=0.02, steps=6)
def test_b(images):
    return case(Gain(1.5), images, "b")
'''


def by_model(path):
    return {r["model"]: r for r in json.loads(path.read_text())["results"]}


def test_the_baselines_worst_case_is_reused_within_and_across_runs(pytester):
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_cache=BASELINE_TESTS)
    pytester.runpytest("--stability", "--stability-json=first.json").assert_outcomes(passed=2)
    pytester.runpytest("--stability", "--stability-json=second.json").assert_outcomes(passed=2)
    first, second = (by_model(pytester.path / f) for f in ("first.json", "second.json"))
    assert {first["a"]["baseline_reused"], first["b"]["baseline_reused"]} == {None, "this run"}
    assert second["a"]["baseline_reused"] == second["b"]["baseline_reused"] == "pytest's cache"
    assert second["a"]["baseline_ratio"] == first["a"]["baseline_ratio"]
    assert "reused from pytest's cache" in second["a"]["explanation"]
    assert list((pytester.path / ".pytest_cache" / "d" / "stability-baseline").glob("*.pt"))


def test_two_workers_search_a_shared_baseline_once(pytester):
    """Both tests start at once on their own xdist worker; the second waits for the first's baseline file."""
    pytester.makeconftest(planted_conftest(32))
    pytester.makepyfile(test_cache=BASELINE_TESTS.replace("steps=6", "steps=30"))
    pytester.runpytest_subprocess("--stability", "--stability-json=out.json", "-p", "xdist", "-n", "2", "--dist",
                                  "loadgroup").assert_outcomes(passed=2)
    records = by_model(pytester.path / "out.json")
    assert {records["a"]["baseline_reused"], records["b"]["baseline_reused"]} == {None, "this run"}
    assert records["a"]["baseline_ratio"] == records["b"]["baseline_ratio"]


SOLVER_TESTS = '''
from conftest import FAMILY, Gain, case
from pytest_stability import Case, TVReconstruction, stable


@stable(checks="worst_case", eps=0.02, steps=4)
def test_tv(images):
    return Case(TVReconstruction(FAMILY(0.4), differentiable=True, max_iter=10), FAMILY, ratio=0.4, images=images,
                inputs="y", name="tv")


@stable(checks="worst_case", eps=0.02, steps=4)
def test_network(images):
    return case(Gain(1.0), images, "network")
'''


def test_a_built_in_solvers_own_search_is_reused_across_runs_and_a_networks_never(pytester):
    """In subprocesses: an in-process rerun re-imports the baselines, and its solver is of another class object."""
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_solver=SOLVER_TESTS)
    pytester.runpytest_subprocess("--stability", "--stability-json=first.json").assert_outcomes(passed=2)
    stored = list((pytester.path / ".pytest_cache" / "d" / "stability-search").glob("*.pt"))
    assert len(stored) == 1  # the TV solver's search; the network's is never stored
    pytester.runpytest_subprocess("--stability", "--stability-json=second.json").assert_outcomes(passed=2)
    first, second = (by_model(pytester.path / f) for f in ("first.json", "second.json"))
    assert first["tv"]["search_reused"] is None and second["tv"]["search_reused"] == "pytest's cache"
    assert second["network"]["search_reused"] is None
    for key in ("ratio", "limit", "psnr_perturbed", "relative_perturbation", "noise_ratio"):
        assert second["tv"][key] == first["tv"][key], key
    assert "this solver's own search was reused from pytest's cache" in second["tv"]["explanation"]
    stored[0].write_bytes(b"not a tensor file")  # a corrupt entry is searched again and replaced
    pytester.runpytest_subprocess("--stability", "--stability-json=third.json").assert_outcomes(passed=2)
    third = by_model(pytester.path / "third.json")
    assert third["tv"]["search_reused"] is None and third["tv"]["ratio"] == first["tv"]["ratio"]
