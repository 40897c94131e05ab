"""docs/recipes/deepinv.md runs as written: deepinv's MoDL on deepinv's MRI physics, the three checks to the
verdicts the page shows."""

import deepinv  # noqa: F401 - imported here, outside the in-process run (see tests/conftest.py)
from recipes import refuse_downloads, run_recipe, shown_verdicts, verdicts

pytest_plugins = ["pytester"]


def test_the_deepinv_recipe_runs_to_the_verdicts_it_shows(pytester, monkeypatch):
    refuse_downloads(monkeypatch)  # the page builds its network with pretrained=None
    result = run_recipe(pytester, "deepinv.md")
    assert not result.parseoutcomes().get("errors"), result.stdout.str()
    found = verdicts(result.stdout.str())
    assert set(found) == {("MoDL", "worst_case eps=0.02"), ("MoDL", "samples"), ("MoDL", "structure text")}
    assert found == shown_verdicts("deepinv.md"), result.stdout.str()
