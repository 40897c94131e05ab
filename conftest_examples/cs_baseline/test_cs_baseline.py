"""Stability tests of the CS baseline itself, on the zoo's single-coil MRI and CT settings.

What we expect of it, declared before measuring: stable on every check, the paper's point that compressed sensing
with its stable baselines does not suffer these instabilities.
"""

from pytest_stability import Case, stable

from ..ct import RATIO as CT_RATIO
from ..deep_mri.train import RATIO as MRI_RATIO
from .model import tv_model

STABLE = "stable: a compressed-sensing reconstruction, stable by the theory the paper builds on"
EXPECT = {"worst_case": STABLE, "structure": STABLE, "samples": STABLE}


@stable(eps=(0.01, 0.02, 0.04), ratio_sweep=(0.33, 0.4, 0.5, 0.6), min_gain_db=1.0, expect=EXPECT)
def test_tv_single_coil_mri(cartesian, brains):
    return Case(tv_model(cartesian, MRI_RATIO), cartesian, ratio=MRI_RATIO, images=brains, inputs="y",
                name="TV, MRI 33 %")


@stable(eps=(0.01, 0.02, 0.04), ratio_sweep=tuple(v / 800 for v in (50, 100, 200, 400)), min_gain_db=1.0,
        expect=EXPECT)
def test_tv_ct(views, heads):
    return Case(tv_model(views, CT_RATIO), views, ratio=CT_RATIO, images=heads, inputs="y", name="TV, CT 50 views")
