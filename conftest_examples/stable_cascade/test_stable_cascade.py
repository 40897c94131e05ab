"""Stability tests of the cascade trained to be stable (the Deep MRI analogue's network, single-coil MRI 33 %).

The same three checks as the Deep MRI analogue, with the same settings: the pass shows that the checks separate
a network trained against amplification from the same architecture trained on the loss alone.
"""

from pytest_stability import Case, stable

from ..deep_mri.train import RATIO

NAME = "stable cascade"


def case(model, images, family, ratio=RATIO):
    return Case(model, family, ratio=ratio, images=images, inputs="y,mask", name=NAME)


@stable(checks="worst_case", eps=0.02, steps=20)
def test_stable_cascade_tiny_perturbations(stable_cascade, brains, cartesian):
    return case(stable_cascade, brains, cartesian)


@stable(checks="structure")
def test_stable_cascade_keeps_details_at_25_percent(stable_cascade, brains, cartesian):
    return case(stable_cascade, brains, cartesian, ratio=0.25)


@stable(checks="samples", ratio_sweep=(0.2, 0.25, 0.33, 0.4, 0.5))
def test_stable_cascade_more_samples(stable_cascade, brains, cartesian):
    return case(stable_cascade, brains, cartesian)
