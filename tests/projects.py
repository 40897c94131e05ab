"""The small model repository the plugin tests build with pytester: a conftest with a planted instability.

``Gain(g)`` is zero filling plus a gain g along one direction u of range(A*), so its worst-case ratio is g
exactly (1: stable zero filling); ``images`` are random ellipses; ``case`` wraps a model for the MRI family.
"""


def planted_conftest(size: int) -> str:
    """The conftest.py text for ``size`` × ``size`` images."""
    return CONFTEST.replace("H = SIZE", f"H = {int(size)}")


CONFTEST = '''
import os

import pytest
import torch

from pytest_stability import Case, mri_family
from pytest_stability.phantoms import random_ellipses

H = SIZE
FAMILY = mri_family((H, H), pattern="variable-density", seed=0)


class Gain(torch.nn.Module):
    """Zero-filling with a planted gain along one direction of range(A*): worst-case ratio = gain."""

    def __init__(self, gain):
        super().__init__()
        op = FAMILY(0.4)
        gen = torch.Generator().manual_seed(0)
        u = op.adjoint(op.project(torch.randn(1, 1, H, H, dtype=torch.complex64, generator=gen))).real
        self.register_buffer("u", u / u.norm())
        self.gain = gain

    def forward(self, z):
        z = z.real
        return z + (self.gain - 1) * (self.u * z).sum(dim=(1, 2, 3), keepdim=True) * self.u


@pytest.fixture(scope="session")
def images():
    return random_ellipses(2, H, seed=0)


@pytest.fixture(scope="session")
def tunable():
    return Gain(float(os.environ.get("STABILITY_TEST_GAIN", "1.0")))


def case(model, images, name):
    return Case(model, FAMILY, ratio=0.4, images=images, name=name)
'''
