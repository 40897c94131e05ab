"""Fixtures of the DAGAN example: the trained generator, the held-out brain slices and the operator family."""

import pytest

from .. import zoo
from .model import family, load


@pytest.fixture(scope="session")
def dagan():
    """The generator of the training seed STABILITY_ZOO_SEED (default: the shipped one)."""
    return load(zoo.seed_from_env())


@pytest.fixture(scope="session")
def brains():
    """The 4 held-out MNI152 axial test slices, 128 × 128, in [0, 1]."""
    return zoo.brain_slices("test")


@pytest.fixture(scope="session")
def mri():
    """Single-coil MRI at 128 × 128 on nested Gaussian line masks (the network is trained at 20 %)."""
    return family()
