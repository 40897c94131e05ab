"""Fixtures of the AUTOMAP example: the trained network, the held-out brain slices and the operator family."""

import pytest

from .. import zoo
from .model import SIZE, family, load


@pytest.fixture(scope="session")
def automap():
    """The network of the training seed STABILITY_ZOO_SEED (default: the shipped one)."""
    return load(zoo.seed_from_env())


@pytest.fixture(scope="session")
def brains():
    """The 4 held-out MNI152 axial test slices at 64 × 64 (2 × 2 averaged), in [0, 1]."""
    return zoo.brain_slices("test", SIZE)


@pytest.fixture(scope="session")
def mri():
    """Single-coil MRI at 64 × 64 on nested variable-density masks (the network is trained at 60 %)."""
    return family()
