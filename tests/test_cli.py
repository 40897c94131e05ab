"""The ``pytest-stability`` command: show, compare and report on saved results, outside pytest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from projects import planted_conftest

pytest_plugins = ["pytester"]

TESTS = '''
from conftest import Gain, case
from pytest_stability import stable


@stable(checks="worst_case", eps=0.02, steps=4, max_ratio=3.0, baseline=None)
def test_zero_filled(images):
    return case(Gain(1.0), images, "zero filled")


@stable(checks="worst_case", eps=0.02, steps=4, max_ratio=3.0, baseline=None)
def test_planted(images):
    return case(Gain(8.0), images, "planted gain 8")
'''

COMMAND = Path(sys.executable).with_name("pytest-stability")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run of two items (one stable, one not) saved as a JSON report, a report folder and a store."""
    folder = tmp_path_factory.mktemp("cli")
    (folder / "conftest.py").write_text(planted_conftest(16))
    (folder / "test_models.py").write_text(TESTS)
    subprocess.run([sys.executable, "-m", "pytest", "--stability", "-p", "no:cacheprovider", "-q",
                    "--stability-json=run.json", "--stability-report=report", "--stability-save-tensors",
                    "--stability-save=store.json"],
                   cwd=folder, capture_output=True, check=False)
    assert (folder / "run.json").is_file() and (folder / "store.json").is_file()
    return folder


def _command(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMMAND), *args], cwd=folder, capture_output=True, text=True, check=False)


def test_show_prints_the_summary_failures_first(run):
    for source in ("run.json", "store.json"):
        shown = _command(run, "show", source)
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0].startswith("1 stable, 1 unstable"), shown.stdout
        rows = [line for line in lines if "worst_case eps=0.02" in line]
        assert len(rows) == 2 and rows[0].startswith("planted gain 8") and "UNSTABLE" in rows[0], shown.stdout
    detailed = _command(run, "show", "run.json", "--details")
    assert "test_planted[worst_case-eps=0.02]: UNSTABLE — κ = " in detailed.stdout


def test_report_renders_the_html_of_saved_results(run):
    made = _command(run, "report", "run.json", "report")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == f"stability report: {Path('report') / 'index.html'}"
    page = (run / "report" / "index.html").read_text()
    assert "1 stable, 1 unstable" in page and "planted gain 8" in page and "<img" in page  # tensors found
    elsewhere = _command(run, "report", "run.json", "elsewhere")
    page = (run / "elsewhere" / "index.html").read_text()
    assert elsewhere.returncode == 0 and "planted gain 8" in page and "not found" in page


def test_compare_exits_1_only_when_a_result_got_worse(run):
    same = _command(run, "compare", "store.json", "run.json")
    assert same.returncode == 0 and "no result got less stable" in same.stdout
    worse = json.loads((run / "run.json").read_text())
    for record in worse["results"]:
        record["ratio"] *= 2
    (run / "worse.json").write_text(json.dumps(worse))
    compared = _command(run, "compare", "run.json", "worse.json")
    assert compared.returncode == 1 and "2 results got less stable" in compared.stdout, compared.stdout
    lenient = _command(run, "compare", "run.json", "worse.json", "--fail", "ratio:150%")
    assert lenient.returncode == 0, lenient.stdout  # twice the ratio is within 150 % worse
    bad = _command(run, "compare", "run.json", "worse.json", "--fail", "ratio:lots")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --fail: 'lots' in 'ratio:lots' is not a number")


@pytest.mark.parametrize("args", [("show", "missing.json"), ("show", "test_models.py"),
                                  ("report", "missing.json", "out"), ("compare", "run.json", "missing.json")])
def test_a_file_that_cannot_be_read_exits_2_with_an_error(run, args):
    failed = _command(run, *args)
    assert failed.returncode == 2 and failed.stderr.startswith("error: "), failed.stderr
    assert "Traceback" not in failed.stderr


@pytest.mark.parametrize("command", ["show", "compare", "report"])
def test_every_command_has_help(run, command):
    helped = _command(run, command, "--help")
    assert helped.returncode == 0 and f"usage: pytest-stability {command}" in helped.stdout


def test_python_dash_m_is_the_same_command(run):
    shown = _command(run, "show", "run.json")
    module = subprocess.run([sys.executable, "-m", "pytest_stability", "show", "run.json"], cwd=run,
                            capture_output=True, text=True, check=False)
    assert module.returncode == 0 and module.stdout == shown.stdout
