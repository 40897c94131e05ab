"""The compressed-sensing baseline run as a model under test, on the zoo's own setting: it must pass every check.

The model is TV reconstruction itself (``TVReconstruction``), differentiable so the worst-case search can attack it
through its iterations, on the Deep MRI analogue's single-coil MRI (128 × 128, Cartesian lines) with the held-out
brain slices.
"""

import pytest

from .. import zoo
from ..deep_mri.train import family


@pytest.fixture(scope="session")
def brains():
    return zoo.brain_slices("test")


@pytest.fixture(scope="session")
def cartesian():
    return family()
