"""Fixtures of the Deep MRI analogue's repository: the trained cascade, held-out brain slices, the MRI family."""

import pytest

from .. import zoo
from .model import load
from .train import family


@pytest.fixture(scope="session")
def deep_mri():
    return load()


@pytest.fixture(scope="session")
def brains():
    return zoo.brain_slices("test")


@pytest.fixture(scope="session")
def cartesian():
    return family()
