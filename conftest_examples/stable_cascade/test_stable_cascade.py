"""Stability tests of the cascade trained to be stable (the Deep MRI analogue's network, single-coil MRI 33 %).

The Deep MRI analogue's tests with the same settings. Not a network of the paper: what we expect of it, declared
before measuring, is what it was trained for, stability on all three checks; the pass shows that the checks
separate a network trained against amplification from the same architecture trained on the loss alone.
"""

from pytest_stability import Case, stable

from ..deep_mri.train import RATIO

NAME = "stable cascade"
OURS = "stable: trained against amplification (not a paper network)"


def case(model, images, family, ratio=RATIO):
    return Case(model, family, ratio=ratio, images=images, inputs="y,mask", name=NAME)


@stable(checks=("worst_case", "samples"), eps=(0.02, 0.03), ratio_sweep=(0.33, 0.4, 0.5, 0.6), min_gain_db=1.0,
        expect={"worst_case": OURS, "samples": OURS})
def test_stable_cascade(stable_cascade, brains, cartesian):
    return case(stable_cascade, brains, cartesian)


@stable(checks="structure", expect={"structure": OURS})
def test_stable_cascade_details_at_25_percent(stable_cascade, brains, cartesian):
    return case(stable_cascade, brains, cartesian, ratio=0.25)
