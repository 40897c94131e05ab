"""The summary row says which side of its limit a metric is, the limit, and the rule that set it.

Records are built from hand-chosen numbers, so each rule (max_ratio or baseline_factor × κ_g; min_recovery or
ρ_g − recovery_margin or none; a PSNR step against −tol_db or the gain against min_gain_db) is shown by its case.
"""

from __future__ import annotations

import pytest

from pytest_stability.kinds import record
from pytest_stability.report.summary import summary_lines, summary_row


def _row(check: str, passed: bool = True, **numbers) -> tuple[str, ...]:
    return summary_row(record({"nodeid": f"t.py::t[{check}]", "id": check, "check": check, "model": "net",
                               "passed": passed, **numbers}))


@pytest.mark.parametrize(("numbers", "limit"), [
    ({"ratio": 4.1, "limit": 4.0, "max_ratio": None, "baseline_factor": 2.0}, "> 4 (2 × κ_g)"),
    ({"ratio": 2.4, "limit": 3.0, "max_ratio": 3.0, "baseline_factor": 2.0}, "≤ 3 (max_ratio)"),
    ({"ratio": "nan", "limit": 3.0, "max_ratio": 3.0, "baseline_factor": None}, "> 3 (max_ratio)"),
    ({"ratio": 9.0, "limit": "inf", "max_ratio": None, "baseline_factor": None}, "none"),
])
def test_worst_case_limit_and_rule(numbers, limit):
    row = _row("worst_case", eps=0.02, baseline_ratio=2.0, margin=0.0, **numbers)
    assert row[1] == "worst_case eps=0.02" and row[3] == limit


@pytest.mark.parametrize(("numbers", "limit"), [
    ({"recovery": 0.64, "limit": 0.69, "baseline_recovery": 0.99}, "< 0.69 (ρ_g − 0.30)"),  # the example
    ({"recovery": 0.72, "limit": 0.5, "baseline_recovery": 0.75}, "≥ 0.50 (min_recovery)"),
    ({"recovery": 0.1, "limit": "-inf", "baseline_recovery": 0.2}, "none (ρ_g too low)"),
    ({"recovery": 0.4, "limit": None, "baseline_recovery": None}, "< 0.50 (min_recovery)"),  # an old record
])
def test_structure_limit_and_rule(numbers, limit):
    row = _row("structure", detail="club", min_recovery=0.5, recovery_margin=0.3, **numbers)
    assert row[2].startswith("ρ ") and row[3] == limit


def test_samples_shows_the_failing_step_between_its_ratios():
    """The issue's example: PSNR rose overall (26.4 → 30.9 dB) but fell 0.85 dB between two middle ratios."""
    row = _row("samples", passed=False, psnr=[26.4, 28.0, 27.15, 30.9], ratios=[0.04, 0.056, 0.078, 0.1],
               worst_drop_db=0.85, worst_drop_ratios=[0.056, 0.078], tol_db=0.5, gain_db=4.5, min_gain_db=None,
               margin=-0.7)
    assert row[2] == "PSNR 26.4→30.9 dB, worst step -0.85 dB at 0.056→0.078" and row[3] == "< -0.50 dB (tol_db)"
    rising = _row("samples", psnr=[20.0, 21.0], worst_drop_db=-1.0, worst_drop_ratios=[0.2, 0.4], tol_db=0.5,
                  gain_db=1.0, min_gain_db=None, margin=3.0)
    assert rising[2].endswith("worst step +1.00 dB at 0.200→0.400") and rising[3] == "≥ -0.50 dB (tol_db)"


def test_samples_shows_the_gain_when_stagnation_decides():
    row = _row("samples", passed=False, psnr=[30.0, 30.2], worst_drop_db=-0.2, worst_drop_ratios=[0.2, 0.4],
               tol_db=0.5, gain_db=0.2, min_gain_db=1.0, margin=-0.8)
    assert row[2] == "PSNR 30.0→30.2 dB, gain +0.20 dB" and row[3] == "< 1.00 dB (min_gain_db)"


def test_fuzz_detail_and_perturbation_rows():
    detail = _row("fuzz", passed=False, evaluated=7, input_kind="detail", recovery=0.3, limit=0.5, min_recovery=0.5,
                  recovery_margin=0.3, baseline_recovery=0.9)
    assert detail[1:4] == ("fuzz 7 inputs", "ρ 0.30 (detail)", "< 0.50 (min_recovery)")
    spike = _row("fuzz", passed=False, evaluated=3, input_kind="spike", ratio=30.8, limit=3.0, max_ratio=3.0)
    assert spike[2:4] == ("κ 30.8 (spike)", "> 3 (max_ratio)")


def test_a_recorded_expected_failure_is_tagged_xfail():
    failed = {"nodeid": "t.py::t[worst_case]", "id": "worst_case", "check": "worst_case", "model": "net",
              "passed": False, "eps": 0.02, "ratio": 5.0, "limit": 3.0, "max_ratio": 3.0, "margin": -0.67,
              "check_verdict": "unstable"}
    expected = record({**failed, "expected": "unstable"})
    assert summary_row(expected)[-1] == "UNSTABLE xfail (expected)"
    declared = record({**failed, "expected": "stable", "mismatch_reason": "the paper's net is larger"})
    assert summary_row(declared)[-1] == "UNSTABLE xfail (expected)"
    surprise = record({**failed, "expected": "stable"})
    assert summary_row(surprise)[-1] == "UNSTABLE (NOT expected)"
    assert summary_row(record(failed))[-1] == "UNSTABLE"
    lines = summary_lines([expected, surprise, record(failed)])
    assert lines[0] == "0 stable, 3 unstable (1 of them expected: xfail)"


@pytest.mark.parametrize(("reasons", "verdict"), [
    (["ratio 2.337 → 2.843 (worse by 0.507 > 10 %)"], "REGRESSED (ratio > 10 %)"),
    (["psnr 27.1 → 26.2 dB (worse by 0.9 dB > 0.5 dB)", "verdict stable → unstable"],
     "REGRESSED (psnr > 0.5 dB; stable → unstable)"),
    (["less stable than the stored run (/tmp/a: b/results-cpu.json): recovery 0.71 → 0.55 (worse by 0.16 > 0.1)"],
     "REGRESSED (recovery > 0.1)"),
])
def test_a_regressed_row_names_the_comparison_rule_it_broke(reasons, verdict):
    assert _row("worst_case", passed=False, eps=0.02, ratio=2.8, limit=3.6, regression=reasons)[-1] == verdict
