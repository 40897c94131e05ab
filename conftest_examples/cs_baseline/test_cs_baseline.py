"""Stability tests of the CS baseline itself, on the Deep MRI analogue's single-coil MRI setting.

What we expect of it, declared before measuring: stable on every check, the paper's point that compressed sensing
with its stable baselines does not suffer these instabilities.
"""

from pytest_stability import Case, stable

from ..deep_mri.train import RATIO
from .model import tv_model

STABLE = "stable: a compressed-sensing reconstruction, stable by the theory the paper builds on"


@stable(eps=(0.02, 0.03), ratio_sweep=(0.33, 0.4, 0.5, 0.6), min_gain_db=1.0,
        expect={"worst_case": STABLE, "structure": STABLE, "samples": STABLE})
def test_tv_single_coil_mri(cartesian, brains):
    return Case(tv_model(cartesian, RATIO), cartesian, ratio=RATIO, images=brains, inputs="y", name="TV, MRI 33 %")
