"""docs/recipes/fastmri.md runs as written: fastMRI's VarNet, file format and mask functions, the three checks to
the verdicts the page shows."""

import pytest

pytest.importorskip("h5py")
fastmri = pytest.importorskip("fastmri")  # imported here, outside the in-process run (see tests/conftest.py)

from recipes import run_recipe, shown_verdicts, verdicts  # noqa: E402

pytest_plugins = ["pytester"]


def test_the_fastmri_recipe_runs_to_the_verdicts_it_shows(pytester):
    result = run_recipe(pytester, "fastmri.md")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 3 and not outcomes.get("errors"), result.stdout
    found = verdicts(result.stdout.str())
    assert set(found) == {("E2E-VarNet", "worst_case eps=0.02"), ("E2E-VarNet", "samples"),
                          ("E2E-VarNet", "structure lesion")}
    assert found == shown_verdicts("fastmri.md"), result.stdout.str()
