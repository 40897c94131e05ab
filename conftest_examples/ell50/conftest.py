"""Fixtures of the Ell 50 repository: the trained network, its test images and the CT operator family."""

import pytest
import torch

from pytest_stability import radon_family
from pytest_stability.phantoms import random_ellipses

from .model import load

SIZE = 64


@pytest.fixture(scope="session")
def ell50() -> torch.nn.Module:
    return load()


@pytest.fixture(scope="session")
def ellipses() -> torch.Tensor:
    """4 held-out ellipse images (seed 0; training drew seeds 1000 and up)."""
    return random_ellipses(4, SIZE, seed=0)


@pytest.fixture(scope="session")
def ct():
    """Parallel-beam CT at 64 × 64 on nested subsets of 180 angles over [0°, 180°); 10 views = ratio 10/180."""
    return radon_family(SIZE, n_candidates=180)
