"""The user documentation (docs/) against the code: every option, flag, ini key, fixture, public name and JSON
field the package has must be documented, with the defaults the code uses, and the pages must link correctly.

The names come from the code and from what pytest itself reports (``--help``, ``--fixtures``), and the JSON
fields from a real small run of the plugin, so a new option or field that is not documented fails here.
"""

import json
import posixpath
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pytest_stability
from pytest_stability.plugin import fixtures
from pytest_stability.plugin.options import OPTIONS

pytest_plugins = ["pytester"]

DOCS = Path(__file__).resolve().parent.parent / "docs"
MKDOCS = DOCS.parent / "mkdocs.yml"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def without_code_blocks(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def code_spans(text: str) -> set[str]:
    """Everything written in `backticks` in the prose and tables of a page (code blocks left out)."""
    return {" ".join(span.split()) for span in re.findall(r"`([^`]+)`", without_code_blocks(text))}


def pytest_output(*args: str, cwd: Path) -> str:
    """``python -m pytest ARGS`` in an empty folder: what pytest itself says about the plugin."""
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def help_text(tmp_path_factory) -> str:
    return pytest_output("--help", cwd=tmp_path_factory.mktemp("help"))


@pytest.fixture(scope="module")
def fixtures_text(tmp_path_factory) -> str:
    return pytest_output("--fixtures", cwd=tmp_path_factory.mktemp("fixtures"))


# -- options.md ------------------------------------------------------------------------------------
def _default(value) -> str:
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_every_option_has_a_row_with_marker_flag_ini_and_default(option):
    rows = [line for line in page("options.md").splitlines() if line.startswith(f"| `{option.name}` |")]
    assert len(rows) == 1, f"options.md needs one table row for {option.name!r}"
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert cells[:4] == [f"`{option.name}`", f"`{option.flag}`", f"`{option.ini}`", f"`{_default(option.default)}`"]


def test_the_details_flag_is_explained():
    text = page("options.md")
    assert "`--stability-detail`" in text and "`--stability-details`" in text and "`stability_details`" in text


def test_every_flag_pytest_lists_is_documented(help_text):
    flags = set(re.findall(r"--stability[a-z-]*", help_text))
    assert {"--stability", "--stability-only", "--stability-details", "--stability-json", "--stability-report",
            "--stability-seed", "--stability-device", "--stability-budget", "--stability-save",
            "--stability-compare", "--stability-compare-fail", "--stability-replay-only"} <= flags
    assert {o.flag for o in OPTIONS} <= flags
    text = page("options.md")
    missing = [f for f in sorted(flags) if not re.search(rf"`{re.escape(f)}(?![a-z-])", text)]
    assert not missing, f"flags pytest --help lists but options.md does not document: {missing}"


def test_every_ini_key_pytest_lists_is_documented(help_text):
    keys = set(re.findall(r"^\s+(stability_[a-z_]+) \(", help_text, flags=re.M))
    assert "stability_store" in keys and {o.ini for o in OPTIONS} <= keys
    missing = sorted(keys - code_spans(page("options.md")))
    assert not missing, f"ini keys pytest --help lists but options.md does not document: {missing}"


# -- fixtures.md -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", fixtures.__all__)
def test_every_fixture_has_a_row_with_its_scope(name, fixtures_text):
    scope = re.search(rf"^{name} \[(\w+) scope\]", fixtures_text, flags=re.M)
    assert scope is not None, f"pytest --fixtures does not list {name}"
    assert re.search(rf"^\| `{name}` \| {scope.group(1)} \|", page("fixtures.md"), flags=re.M), (
        f"fixtures.md needs a row '| `{name}` | {scope.group(1)} | ...'")


def test_every_case_field_is_documented():
    import dataclasses

    from pytest_stability import Case

    rows = {m for m in re.findall(r"^\| `(\w+)` \|", page("fixtures.md"), flags=re.M)}
    assert {f.name for f in dataclasses.fields(Case)} <= rows


# -- api.md ----------------------------------------------------------------------------------------
def test_every_public_name_is_on_the_api_page():
    text = page("api.md")
    spans = " ".join(code_spans(text) | set(re.findall(r"^#+ (.+)$", without_code_blocks(text), flags=re.M)))
    missing = [n for n in pytest_stability.__all__ if not re.search(rf"(?<!\w){re.escape(n)}(?!\w)", spans)]
    assert not missing, f"names in pytest_stability.__all__ missing from docs/api.md: {missing}"


def test_api_examples_are_valid_python():
    """The runnable examples (```python) compile; signatures are in ```py blocks."""
    blocks = re.findall(r"^```python\n(.*?)^```", page("api.md"), flags=re.S | re.M)
    assert len(blocks) >= 10
    for n, block in enumerate(blocks):
        compile(block, f"docs/api.md block {n}", "exec")


# -- reports.md: the fields of a real run ----------------------------------------------------------
CONFTEST = '''
import pytest

from pytest_stability import mri_family
from pytest_stability.phantoms import random_ellipses

FAMILY = mri_family((16, 16), pattern="cartesian", seed=0)


def zero_filled(z):
    return z


@pytest.fixture(scope="session")
def images():
    return random_ellipses(2, 16, seed=0)
'''

TESTS = '''
from conftest import FAMILY, zero_filled
from pytest_stability import Case, stable


# zero filling has κ = 1 exactly, so max_ratio=0.5 fails it: the second run replays the stored worst case
@stable(steps=2, max_ratio=0.5, baseline=None, details="lesion", ratio_sweep=(0.25, 0.5))
def test_zero_filled(images):
    return Case(zero_filled, FAMILY, ratio=0.25, images=images)
'''


def _section(text: str, check: str) -> str:
    start = text.index(f"**`{check}`**")
    end = min(i for i in (text.find("**`", start + 5), text.find("\n## ", start)) if i > 0)
    return text[start:end]


def test_reports_page_documents_every_field_and_file_of_a_real_run(pytester):
    """Two runs of a tiny project (the second replays), with the JSON report, the report folder and the store."""
    import torch

    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_tiny=TESTS)
    pytester.runpytest("--stability", "--stability-json=first.json", "--stability-report=report",
                       "--stability-save-tensors", "--stability-save").assert_outcomes(passed=2, failed=1)
    pytester.runpytest("--stability", "--stability-json=second.json", "-k", "worst_case").assert_outcomes(failed=1)
    text = page("reports.md")

    # the fields of every check's records, in the common table or in that check's section
    document = json.loads((pytester.path / "first.json").read_text())
    replayed = json.loads((pytester.path / "second.json").read_text())["results"]
    assert replayed[0]["replayed"] is True
    by_check: dict[str, set[str]] = {}
    for record in document["results"] + replayed:
        by_check.setdefault(record["check"], set()).update(record)
    assert set(by_check) == {"worst_case", "structure", "samples"}
    common = code_spans(text[text.index("Every record has:"):text.index("**`worst_case`**")])
    for check, fields in by_check.items():
        missing = sorted(fields - common - code_spans(_section(text, check)))
        assert not missing, f"{check} record fields missing from docs/reports.md: {missing}"

    # the document, its environment, and the store file
    assert set(document) == {"version", "environment", "results", "complete", "exitstatus"}
    assert document["complete"] is True and document["exitstatus"] in (0, 1)
    assert all(f"`{key}`" in text for key in document)
    missing = [key for key in document["environment"] if f'"{key}"' not in text]
    assert not missing, f"environment keys missing from the JSON example in docs/reports.md: {missing}"
    store = json.loads((pytester.path / ".stability" / "results-cpu.json").read_text())
    assert set(store) == {"version", "environment", "results"} and "`.stability/results-cpu.json`" in text

    # the tensors saved per item (reconstruction@0.250 is documented as reconstruction@<ratio>)
    files = sorted((pytester.path / "report" / "items").glob("*.pt"))
    assert len(files) == 3
    spans = code_spans(text)
    for path in files:
        keys = {re.sub(r"@[\d.]+$", "@<ratio>", k) for k in torch.load(path, weights_only=True)}
        missing = sorted(keys - spans)
        assert not missing, f"{path.name}: tensors missing from docs/reports.md: {missing}"


# -- the pages as a site ---------------------------------------------------------------------------
def _slug(heading: str) -> str:
    """GitHub's heading anchor (MkDocs gives the same for ASCII headings)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _pages() -> set[str]:
    """Every page, by its path below docs/ (recipes/deepinv.md)."""
    return {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}


def test_links_between_pages_point_to_pages_and_headings_that_exist():
    pages = _pages()
    broken = []
    for name in sorted(pages):
        for target in re.findall(r"\]\(([^)\s]+)\)", without_code_blocks(page(name))):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            file = posixpath.normpath(posixpath.join(posixpath.dirname(name), file)) if file else name
            if file.endswith((".png", ".svg")):  # a picture beside the pages
                if not (DOCS / file).is_file():
                    broken.append(f"{name}: {target} (no such picture)")
            elif file not in pages:
                broken.append(f"{name}: {target} (no such page)")
            elif anchor and file in pages:
                headings = re.findall(r"^#+ (.+)$", without_code_blocks(page(file)), flags=re.M)
                if anchor not in {_slug(h) for h in headings}:
                    broken.append(f"{name}: {target} (no such heading)")
    assert not broken, broken


def test_mkdocs_nav_lists_every_page():
    nav = re.findall(r"^\s+- [^:]+: (\S+\.md)\s*$", MKDOCS.read_text(encoding="utf-8"), flags=re.M)
    assert len(nav) == len(set(nav))
    assert set(nav) == _pages()
    assert "docs_dir: docs" in MKDOCS.read_text(encoding="utf-8")
