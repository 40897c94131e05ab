"""Fixtures of the Deep MRI analogue's repository: the trained cascade, held-out brain slices, the MRI family."""

import pytest

from .. import zoo
from .model import load
from .train import family


@pytest.fixture(scope="session")
def deep_mri():
    """The cascade of the training seed STABILITY_ZOO_SEED (default: the shipped one)."""
    return load(zoo.seed_from_env())


@pytest.fixture(scope="session")
def brains():
    """The 4 held-out MNI152 axial test slices, 128 × 128, in [0, 1]."""
    return zoo.brain_slices("test")


@pytest.fixture(scope="session")
def cartesian():
    return family()
