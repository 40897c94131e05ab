"""The recipes of docs/recipes/: each page's files, extracted from the page and run as a user runs them.

A file is a ```python block whose first line names it, e.g. ``# tests/conftest.py``; the test of a page writes
them into a pytester folder and runs ``pytest --stability`` there, so a page can never go stale.
"""

import re
from pathlib import Path

import pytest
import torch

RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes"


def recipe_files(page: str) -> dict[str, str]:
    """{path: code} of the files on docs/recipes/``page``."""
    text = (RECIPES / page).read_text(encoding="utf-8")
    return dict(re.findall(r"^```python\n# ([\w/.-]+\.py)\n(.*?)^```", text, flags=re.S | re.M))


def run_recipe(pytester, page: str, *args: str):
    """Write the page's files into ``pytester``'s folder and run ``pytest --stability`` there (in-process)."""
    files = recipe_files(page)
    assert any(Path(name).name == "conftest.py" for name in files) and any(
        Path(name).name.startswith("test_") for name in files), f"{page} lacks a conftest.py or a test file: {files}"
    for name, code in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code, encoding="utf-8")
    return pytester.runpytest("--stability", "-p", "no:cacheprovider", *args)


def verdicts(text: str) -> dict[tuple[str, str], str]:
    """{(model, check): verdict} of the rows of a stability summary table in ``text``."""
    rows = re.findall(r"^(\S+) +(worst_case eps=[\d.]+|samples|structure \w+|fuzz) .* (stable|UNSTABLE)$", text,
                      flags=re.M)
    return {(model, check): verdict for model, check, verdict in rows}


def shown_verdicts(page: str) -> dict[tuple[str, str], str]:
    """The verdicts of the run the page shows (its stability table)."""
    return verdicts((RECIPES / page).read_text(encoding="utf-8"))


def refuse_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any download of pretrained weights (torch.hub, which deepinv's denoisers use) fail the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
