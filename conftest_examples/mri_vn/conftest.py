"""Fixtures of the MRI-VN analogue's repository: the trained VN, held-out brain slices, the 15-coil MRI family."""

import pytest

from .. import zoo
from .model import load
from .train import family


@pytest.fixture(scope="session")
def mri_vn():
    """The VN of the training seed STABILITY_ZOO_SEED (default: the shipped one)."""
    return load(zoo.seed_from_env())


@pytest.fixture(scope="session")
def brains():
    """2 of the 4 held-out MNI152 axial test slices (z = 90, 110), 128 × 128, in [0, 1]: the 15-coil TV baseline
    (its own worst case and its reconstructions of every detail) is the dearest part of the demo, and two images
    halve it."""
    return zoo.brain_slices("test")[1:3]


@pytest.fixture(scope="session")
def multicoil():
    return family()
