"""Fixtures of the Med 50 repository: the trained network, its test images and the CT operator family."""

import pytest
import torch

from .. import ct, zoo
from .model import load


@pytest.fixture(scope="session")
def med50() -> torch.nn.Module:
    """The network of the training seed STABILITY_ZOO_SEED (default: the shipped one)."""
    return load(zoo.seed_from_env())


@pytest.fixture(scope="session")
def heads() -> torch.Tensor:
    """CT images of the 4 held-out MNI152 axial test slices (tissue classes, skull and scalp), 128 × 128."""
    return zoo.ct_slices("test")


@pytest.fixture(scope="session")
def views():
    """Parallel-beam CT at 128 × 128 on nested subsets of 800 angles; ratio 50/800 = the paper's 50 views."""
    return ct.family()
