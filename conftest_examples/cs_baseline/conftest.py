"""The compressed-sensing baseline run as a model under test: it must pass every check.

The model is TV reconstruction itself (``TVReconstruction``), differentiable so the worst-case search can
attack it through its iterations. Images are analytic phantoms (nothing is downloaded).
"""

import pytest
import torch

from pytest_stability import mri_family, radon_family
from pytest_stability.phantoms import random_ellipses, shepp_logan

SIZE = 64


@pytest.fixture(scope="session")
def phantoms():
    return torch.cat([shepp_logan(SIZE), random_ellipses(1, SIZE, seed=3)])


@pytest.fixture(scope="session")
def mri():
    return mri_family((SIZE, SIZE), pattern="variable-density", seed=0)


@pytest.fixture(scope="session")
def multicoil():
    return mri_family((SIZE, SIZE), pattern="cartesian", seed=0, n_coils=8)


@pytest.fixture(scope="session")
def ct():
    return radon_family(SIZE, n_candidates=180)

