"""Med 50's architecture, the same as Ell 50's: FBPConvNet (Jin et al., 2017), a residual U-Net on the filtered
back-projection of 50 views (see :mod:`conftest_examples.ell50.model`); only the training images differ."""

from __future__ import annotations

from pathlib import Path

from .. import zoo
from ..ell50.model import FBPConvNet

FOLDER = Path(__file__).parent


def load(seed: int = zoo.SHIPPED_SEED) -> FBPConvNet:
    """The trained network of one training seed (``weights-seed{seed}.pt``, written by
    ``python -m conftest_examples med50:SEED``), in eval mode."""
    return zoo.load_weights(FBPConvNet(), FOLDER / f"weights-seed{seed}.pt")
