"""Fixtures of the Med 50 repository: the trained network, its test images and the CT operator family."""

import pytest
import torch

from conftest_examples import zoo
from pytest_stability import radon_family

from .model import load

SIZE = 64


@pytest.fixture(scope="session")
def med50() -> torch.nn.Module:
    return load()


@pytest.fixture(scope="session")
def brains() -> torch.Tensor:
    """The 4 held-out MNI152 test slices (the network was trained on the other 125)."""
    return zoo.brain_slices("test", SIZE)


@pytest.fixture(scope="session")
def ct():
    """Parallel-beam CT at 64 × 64 on nested subsets of 180 angles over [0°, 180°); 10 views = ratio 10/180."""
    return radon_family(SIZE, n_candidates=180)
