"""Fixtures of the stable cascade's repository: the network, held-out brain slices, the MRI family."""

import pytest

from .. import zoo
from ..deep_mri.train import family
from .model import load


@pytest.fixture(scope="session")
def stable_cascade():
    """The network of the training seed STABILITY_ZOO_SEED (default: the shipped one)."""
    return load(zoo.seed_from_env())


@pytest.fixture(scope="session")
def brains():
    return zoo.brain_slices("test")


@pytest.fixture(scope="session")
def cartesian():
    return family()
