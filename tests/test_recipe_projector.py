"""docs/recipes/own-projector.md runs as written: a float32-only projector, the TV baseline and the three checks
to the verdicts the page shows."""

from recipes import run_recipe, shown_verdicts, verdicts

pytest_plugins = ["pytester"]


def test_the_projector_recipe_runs_to_the_verdicts_it_shows(pytester):
    result = run_recipe(pytester, "own-projector.md")
    result.assert_outcomes(passed=4)  # the dot-product test and the three checks
    found = verdicts(result.stdout.str())
    assert set(found) == {("Landweber", "worst_case eps=0.02"), ("Landweber", "samples"),
                          ("Landweber", "structure lesion")}
    assert found == shown_verdicts("own-projector.md"), result.stdout.str()
