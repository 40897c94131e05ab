"""Fixtures of the AUTOMAP example: the trained network, the held-out brain slices and the operator family."""

import pytest

from .. import zoo
from .model import SIZE, family, load


@pytest.fixture(scope="session")
def automap():
    return load()


@pytest.fixture(scope="session")
def brains():
    """The 4 held-out MNI152 slices at 32 × 32, in [0, 1]."""
    return zoo.brain_slices("test", SIZE)


@pytest.fixture(scope="session")
def mri():
    """Single-coil MRI at 32 × 32 on nested variable-density masks (the network is trained at 60 %)."""
    return family()
