"""The model of this example repository: TV reconstruction itself, made differentiable for the search."""

from pytest_stability import TVReconstruction


def tv_model(family, ratio):
    """TV as a model: 100 Chambolle–Pock iterations from the naive start, differentiable end to end."""
    return TVReconstruction(family(ratio), differentiable=True, max_iter=100)
