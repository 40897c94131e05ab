"""The same seed gives the same verdicts and numbers in two fresh processes, and every failure names its seed.

The two runs differ in everything that should not matter: Python's hash seed (set and dict orders of strings),
the order the tests run in, and whether the first run wrote a replay store (both run without the cache).
"""

import json
import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from projects import planted_conftest

TESTS = '''
import torch
from conftest import FAMILY, Gain, case
from pytest_stability import Case, stable

SETTINGS = dict(eps=(0.01, 0.02), steps=6, details=("spade", "lesion"), ratio_sweep=(0.3, 0.5), fuzz=6,
                fuzz_kinds=("gaussian", "spike", "detail"))


class Blur(torch.nn.Module):
    """Zero filling smoothed over 5 × 5 pixels: small details vanish (the structure check fails)."""

    def forward(self, z):
        return torch.nn.functional.avg_pool2d(z.real, 5, stride=1, padding=2, count_include_pad=False)


class Fading(torch.nn.Module):
    """Zero filling scaled down as more is sampled: PSNR falls with the sampling ratio (the samples check fails)."""

    def forward(self, y, operator):
        return operator.adjoint(y).real * (1.6 - 2 * operator.mask.float().mean())


@stable(**SETTINGS)
def test_zero_filled(images):
    return case(Gain(1.0), images, "zero-filled")


@stable(**SETTINGS)
def test_planted(images):
    return case(Gain(8.0), images, "planted")


@stable(checks=("structure",), details=("spade",))
def test_blur(images):
    return case(Blur(), images, "blur")


@stable(checks=("samples",), ratio_sweep=(0.3, 0.5))
def test_fading(images):
    return Case(Fading(), FAMILY, ratio=0.4, images=images, inputs="y,operator", name="fading")
'''


def _run(folder, name: str, hash_seed: str, *order: str) -> tuple[dict, dict]:
    """Records by node id and failure messages by test name, from one fresh ``pytest`` process."""
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    json_path, xml_path = folder / f"{name}.json", folder / f"{name}.xml"
    subprocess.run([sys.executable, "-m", "pytest", "--stability", "--stability-seed", "3", "-p", "no:cacheprovider",
                    "-p", "no:xdist", "-p", "no:randomly", "-q", f"--stability-json={json_path}",
                    f"--junitxml={xml_path}", *order], cwd=folder, env=env, check=False, capture_output=True, text=True,
                   timeout=600)
    records = {r["nodeid"]: r for r in json.loads(json_path.read_text())["results"]}
    failures = {case.get("name"): failure.get("message", "") + (failure.text or "")
                for case in ET.parse(xml_path).getroot().iter("testcase") for failure in case.iter("failure")}
    return records, failures


def _numbers_equal(a, b, path: str = "") -> None:
    """Every number equal to 1e-6 relative (and NaN where NaN); everything else equal."""
    if isinstance(a, dict):
        assert set(a) == set(b), f"{path}: keys differ"
        for key in a:
            _numbers_equal(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"{path}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _numbers_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12) or (math.isnan(a) and math.isnan(b)), \
            f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _without_provenance(record: dict) -> dict:
    """The record without where the baseline's worst case came from: the test that searched it first differs
    with the order (the numbers do not)."""
    record = {k: v for k, v in record.items() if k != "baseline_reused"}
    record["explanation"] = re.sub(r" \(the [^;]*?'s own worst case was reused from [^)]*\)$", "",
                                   record["explanation"])
    return record


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("determinism")
    (folder / "conftest.py").write_text(planted_conftest(16))
    (folder / "test_models.py").write_text(TESTS)
    first = _run(folder, "first", "1", "test_models.py")
    second = _run(folder, "second", "2", "test_models.py::test_fading", "test_models.py::test_blur",
                  "test_models.py::test_planted", "test_models.py::test_zero_filled")
    return first, second


def test_two_fresh_processes_give_the_same_verdicts_and_numbers(two_runs):
    (first, _), (second, _) = two_runs
    assert len(first) == 14 and set(first) == set(second)
    for nodeid, record in first.items():
        assert record["passed"] == second[nodeid]["passed"], nodeid
        _numbers_equal(_without_provenance(record), _without_provenance(second[nodeid]), nodeid)
    verdicts = {nodeid.split("::")[-1]: r["passed"] for nodeid, r in first.items()}
    # the runs judge something: the planted gain, the blur and the fading model each fail their check
    assert not verdicts["test_planted[worst_case-eps=0.02]"]
    assert not verdicts["test_blur[structure-spade]"] and not verdicts["test_fading[samples]"]
    assert verdicts["test_zero_filled[worst_case-eps=0.02]"]


def test_every_record_and_every_failure_message_names_the_seed(two_runs):
    (records, failures), _ = two_runs
    assert all(r["seed"] == 3 for r in records.values())
    checks = {r["check"] for r in records.values() if not r["passed"]}
    assert checks >= {"worst_case", "structure", "samples"}, checks
    assert failures and all("seed=3" in message for message in failures.values()), failures
