"""Check kinds: each check is one module and one registered object, and nothing outside kinds/ switches on a check.

A new check is its module plus one line in the registry: a toy kind registered here runs through the plugin,
the summary, the JSON report, the store comparison and the HTML report without any other change.
"""

from __future__ import annotations

import ast
import importlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from projects import planted_conftest

import pytest_stability
from pytest_stability.kinds import CHECKS, REGISTRY, CheckKind, CheckSpec, record
from pytest_stability.records import Numbers
from pytest_stability.report.compare import RULES, regressions

pytest_plugins = ["pytester"]
ROOT = Path(pytest_stability.__file__).parent


@pytest.mark.parametrize("check", CHECKS)
def test_each_check_is_one_module_holding_one_registered_kind(check):
    kind = REGISTRY[check]
    module = importlib.import_module(f"pytest_stability.kinds.{check}")
    assert module.KIND is kind and type(kind).__module__ == module.__name__ and kind.name == check
    assert [type(k) for k in REGISTRY.values()].count(type(kind)) == 1


def _switches(path: Path, root: Path = ROOT) -> list[str]:
    """Where the source compares with a check's name or keys a dict literal by one (a switch on the check)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        constants = []
        if isinstance(node, ast.Compare):
            constants = [c for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
        elif isinstance(node, ast.Dict):
            constants = [k for k in node.keys if isinstance(k, ast.Constant)]
        found += [f"{path.relative_to(root)}:{c.lineno}: {c.value!r}" for c in constants if c.value in CHECKS]
    return found


def test_the_plugin_and_the_report_never_switch_on_a_check():
    found = [s for folder in ("plugin", "report") for path in sorted((ROOT / folder).glob("*.py"))
             for s in _switches(path)]
    assert not found, "a check named outside its kind:\n" + "\n".join(found)


def test_the_switch_finder_sees_comparisons_and_dict_keys(tmp_path):
    source = tmp_path / "probe.py"
    source.write_text('if check == "samples":\n    pass\nrows = {"fuzz": 1}\n')
    assert _switches(source, tmp_path) == ["probe.py:1: 'samples'", "probe.py:3: 'fuzz'"]


def test_every_kinds_rule_has_a_default_tolerance():
    assert sorted(RULES) == sorted(k.rule for k in REGISTRY.values() if k.rule)


@dataclass
class ToyNumbers(Numbers):
    ratio: float | None = None
    limit: float | None = None
    margin: float | None = None


class Toy(CheckKind):
    """A check that is not the package's: κ of the zero-filled model against a fixed limit of 0.5."""

    name = "toy"
    rule = "ratio"
    numbers_type = ToyNumbers
    numbers = ("ratio", "limit")

    def specs(self, settings):
        return [CheckSpec(self.name, "toy-check")]

    def compute(self, ctx):
        from pytest_stability.checks import CheckResult

        return CheckResult(check=self.name, model=ctx.case.name, passed=False, explanation="κ 1 above the toy limit",
                           numbers={"ratio": 1.0, "limit": 0.5, "margin": -1.0})

    def settings_lines(self, ctx, numbers):
        return [f"  settings: toy limit {numbers.limit}"]

    def row(self, record):
        return "toy", f"κ {record.numbers.ratio}", str(record.numbers.limit), "-"

    def regressions(self, old, new, worse):
        return [w for w in (worse("ratio", old.numbers.ratio, new.numbers.ratio, True, ""),) if w]


def test_a_new_kind_is_its_object_and_its_registration(pytester, monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy", Toy())
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_toy='''
        from conftest import Gain, case
        from pytest_stability import stable

        @stable(checks="toy")
        def test_zero_filling(images):
            return case(Gain(1.0), images, "zero filling")
    ''')
    result = pytester.runpytest("--stability", "--stability-json=out.json", "--stability-report=report",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UNSTABLE toy-check [[]zero filling[]]: κ 1 above the toy limit*",
                                 "*settings: toy limit 0.5*", "*rerun: pytest --stability *--stability-seed 0*",
                                 "*zero filling*toy*κ 1.0*0.5*-100 %*UNSTABLE*"])
    (data,) = json.loads((pytester.path / "out.json").read_text())["results"]
    assert data["check"] == "toy" and data["id"] == "toy-check" and data["image_shape"] == [16, 16]
    assert record(data).numbers == ToyNumbers(ratio=1.0, limit=0.5, margin=-1.0) and not record(data).extra
    page = (pytester.path / "report" / "index.html").read_text()
    assert "<th>ratio</th><td>1</td>" in page and "<th>limit</th><td>0.5</td>" in page
    assert regressions(record({**data, "ratio": 0.5, "passed": True}), record(data), {"ratio": (0.1, True)}) == [
        "ratio 0.5 → 1 (worse by 0.5 > 10 %)", "verdict stable → unstable"]
