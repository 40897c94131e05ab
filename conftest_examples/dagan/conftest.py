"""Fixtures of the DAGAN example: the trained generator, the held-out brain slices and the operator family."""

import pytest

from .. import zoo
from .model import SIZE, family, load


@pytest.fixture(scope="session")
def dagan():
    return load()


@pytest.fixture(scope="session")
def brains():
    """The 4 held-out MNI152 slices at 64 × 64, in [0, 1]."""
    return zoo.brain_slices("test", SIZE)


@pytest.fixture(scope="session")
def mri():
    """Single-coil MRI at 64 × 64 on nested Cartesian line masks (the network is trained at 20 %)."""
    return family()
