"""Typed records: each check's numbers are a dataclass, and the JSON record is its flat, unchanged form.

A record read from JSON and written again is the same JSON (so the schema of docs/reports.md holds), every field a
real run writes is a declared field of its check's numbers (nothing falls into ``extra``), and every declared field
is documented.
"""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
from projects import planted_conftest
from test_docs import code_spans, page

from pytest_stability.kinds import CHECKS, REGISTRY, record
from pytest_stability.records import Numbers, Record
from pytest_stability.report.summary import summary_row

pytest_plugins = ["pytester"]

ALL_CHECKS = '''
from conftest import Gain, case
from pytest_stability import stable


@stable(eps=0.02, steps=3, details="lesion", ratio_sweep=(0.25, 0.4), fuzz=3, fuzz_kinds="spike", max_ratio=0.5,
        baseline=None)
def test_every_check(images):
    return case(Gain(1.0), images, "zero filling")
'''


def test_records_of_a_real_run_are_typed_and_round_trip(pytester):
    """Every check's record of a run (and a replayed worst case) reads into its kind's numbers with nothing left
    over, and writes back to the same JSON; the summary reads it by attribute."""
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_all=ALL_CHECKS)
    pytester.runpytest("--stability", "--stability-json=first.json", "--stability-seed=0")
    pytester.runpytest("--stability", "--stability-json=second.json", "--stability-seed=0", "-k", "worst_case")
    first = json.loads((pytester.path / "first.json").read_text())["results"]
    second = json.loads((pytester.path / "second.json").read_text())["results"]
    assert sorted(r["check"] for r in first) == sorted(["worst_case", "structure", "samples", "fuzz"])
    assert second[0].get("replayed") is True and "replayed" not in first[0]
    for data in first + second:
        rec = record(data)
        assert type(rec.numbers) is REGISTRY[data["check"]].numbers_type
        assert rec.extra == {}, f"{data['check']} fields its numbers do not declare: {sorted(rec.extra)}"
        assert rec.to_json() == data
        assert rec.nodeid == data["nodeid"] and rec.margin == data.get("margin")
        assert summary_row(rec)[0] == "zero filling"
    # issue 17: every worst-case record (a replayed one too) has its persistence curve and certified bound with its
    # pair; a structure record its bounds of (x, x + d); a fuzz record its failure rate with a 95 % interval
    for data in first + second:
        if data["check"] == "worst_case":
            assert [c["noise"] for c in data["persistence_curve"]] == [0.25, 0.5, 1.0]
            for c in data["persistence_curve"]:
                assert c["ci"][0] <= c["rate"] <= c["ci"][1] and c["ci"][1] - c["ci"][0] <= 0.1
                assert 36 <= c["draws"] <= 381
            assert data["persistence"] == data["persistence_curve"][0]["rate"]
            assert data["lipschitz_lower_bound"] > 0 and data["lipschitz_pair"]["kind"] in ("clean vs perturbed",
                                                                                           "images")
            assert data["tradeoff_pair"]["images"] == [0, 1]
        if data["check"] == "structure":
            assert data["lipschitz_lower_bound"] > 0 and data["tradeoff_pair"]["kind"] == "clean vs detail"
        if data["check"] == "fuzz":
            lo, hi = data["failure_rate_ci"]
            assert lo <= data["failure_rate"] <= hi and data["failure_rate_draws"] >= 1


def test_the_persistence_curve_can_be_switched_off_and_its_levels_are_checked(pytester):
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_all=ALL_CHECKS)
    pytester.runpytest("--stability", "--stability-json=off.json", "--stability-seed=0", "-k", "worst_case",
                       "--stability-persistence-levels=none")
    (data,) = json.loads((pytester.path / "off.json").read_text())["results"]
    assert data["persistence_curve"] is None and data["persistence"] is None
    assert data["lipschitz_lower_bound"] > 0  # the certificates cost no model call and stay
    bad = pytester.runpytest("--stability", "-k", "worst_case", "--stability-persistence-levels=0.5,0.25")
    bad.stdout.fnmatch_lines(["*persistence_levels: values must be strictly increasing*"])


def test_unknown_fields_and_checks_are_kept():
    data = {"nodeid": "t.py::a", "check": "worst_case", "passed": True, "ratio": 1.5, "from_a_newer_writer": [1]}
    rec = record(data)
    assert rec.numbers.ratio == 1.5 and rec.extra == {"from_a_newer_writer": [1]}
    assert rec.to_json()["from_a_newer_writer"] == [1]
    foreign = record({"nodeid": "t.py::b", "check": "not_a_check", "kappa": 2.0})
    assert type(foreign.numbers) is Numbers and foreign.extra == {"kappa": 2.0} and foreign.margin is None
    assert foreign.to_json()["kappa"] == 2.0


def test_optional_fields_are_written_only_when_set():
    assert "tensors_file" not in Record(nodeid="t.py::a", check="structure").to_json()
    assert Record(tensors_file="items/a.pt").to_json()["tensors_file"] == "items/a.pt"
    numbers = REGISTRY["worst_case"].numbers_type
    assert "replayed" not in numbers().to_json() and numbers(replayed=True).to_json()["replayed"] is True
    assert numbers().to_json()["baseline_reused"] is None  # a plain field is written when None


@pytest.mark.parametrize("check", CHECKS)
def test_every_numbers_field_is_documented(check):
    text = page("fuzzing.md") if check == "fuzz" else page("reports.md")
    common = {f.name for f in fields(Record)} - {"numbers", "extra"}
    spans = code_spans(text)
    missing = sorted({f.name for f in fields(REGISTRY[check].numbers_type)} - spans - common)
    assert not missing, f"{check} numbers missing from the docs: {missing}"
