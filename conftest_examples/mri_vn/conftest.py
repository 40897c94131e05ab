"""Fixtures of the MRI-VN analogue's repository: the trained VN, held-out brain slices, the 8-coil MRI family."""

import pytest

from .. import zoo
from .model import load
from .train import family


@pytest.fixture(scope="session")
def mri_vn():
    return load()


@pytest.fixture(scope="session")
def brains():
    return zoo.brain_slices("test")


@pytest.fixture(scope="session")
def multicoil():
    return family()
