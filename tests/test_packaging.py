"""The package's metadata: an SPDX license with its file, the command it installs, dependency ranges."""

from __future__ import annotations

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_license_is_an_spdx_expression_with_its_file():
    """PEP 639: license = "MIT" and license-files (the table form and a license classifier make setuptools
    print deprecation warnings on every install); the SPDX form needs setuptools >= 77."""
    project = PROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]
    assert "setuptools>=77" in PROJECT["build-system"]["requires"]


def test_the_command_and_the_plugin_are_installed_entry_points():
    assert PROJECT["project"]["scripts"] == {"pytest-stability": "pytest_stability.cli:main"}
    assert PROJECT["project"]["entry-points"]["pytest11"] == {"stability": "pytest_stability.plugin"}


def test_what_the_package_imports_is_declared_and_nothing_more():
    """Pillow draws the details and the pictures and reads image files; filelock keeps two xdist workers from
    searching one stored worst case at once (torch depends on it too); torchvision is not used (deepinv and
    fastmri, test extras, bring it)."""
    names = {r.split(">")[0].split("=")[0].strip().lower() for r in PROJECT["project"]["dependencies"]}
    assert names == {"pytest", "torch", "numpy", "scipy", "hypothesis", "pillow", "filelock"}
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "pytest_stability").rglob("*.py"))
    assert "import torchvision" not in sources and "from torchvision" not in sources
    assert "from PIL import" in sources and "from filelock import" in sources


def test_dependencies_are_ranges_not_pins():
    """Pins belong to .ci/run and tox.ini (constraints.txt); the package declares what it works with."""
    for requirement in PROJECT["project"]["dependencies"]:
        assert "==" not in requirement and ">=" in requirement, requirement
