"""A cascade trained to be stable: the Deep MRI analogue's network, trained not to amplify small changes of y.

The architecture is exactly the Deep MRI analogue's (:class:`conftest_examples.deep_mri.model.DeepCascade`:
five cascades of five 3×3 convolutions with 32 filters, each followed by hard data consistency, for 128 × 128
single-coil MRI at 33 %), and it starts from that network's weights. Only the training differs: a penalty on the
network's gain ‖f(y + e) − f(y)‖ / ‖e‖ along the direction e it amplifies most (see ``train.py``). The model is
``model(y, mask)`` like the Deep MRI analogue.
"""

from __future__ import annotations

from pathlib import Path

from .. import zoo
from ..deep_mri.model import DeepCascade

FOLDER = Path(__file__).parent


def load(seed: int = zoo.SHIPPED_SEED) -> DeepCascade:
    """The trained network of one training seed (``weights-seed{seed}.pt``), in eval mode."""
    return zoo.load_weights(DeepCascade(), FOLDER / f"weights-seed{seed}.pt")
