"""Fixtures of the Ell 50 repository: the trained network, its test images and the CT operator family."""

import pytest
import torch

from .. import ct, zoo
from .model import load
from .train import test_images


@pytest.fixture(scope="session")
def ell50() -> torch.nn.Module:
    """The network of the training seed STABILITY_ZOO_SEED (default: the shipped one)."""
    return load(zoo.seed_from_env())


@pytest.fixture(scope="session")
def ellipses() -> torch.Tensor:
    """4 held-out ellipse images, 128 × 128 (seed 0; training drew seeds 1000 and up, validation seed 1)."""
    return test_images()


@pytest.fixture(scope="session")
def views():
    """Parallel-beam CT at 128 × 128 on nested subsets of 800 angles; ratio 50/800 = the paper's 50 views."""
    return ct.family()
