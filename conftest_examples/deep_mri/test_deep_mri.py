"""Stability tests of the Deep MRI analogue (cascade of CNNs with data consistency, single-coil MRI 33 %, 128 × 128).

The paper's findings for Deep MRI, declared before measuring (Antun et al., PNAS 2020): unstable to tiny worst-case
perturbations (Figs. 1, 2), stable to small structural changes (Fig. 5, tested at 25 %, below the 33 % it was
trained for), and the only network whose reconstructions improve with more samples (Fig. 5, bottom).
"""

from pytest_stability import Case, stable

from .train import RATIO

NAME = "Deep MRI analogue"


def case(model, images, family, ratio=RATIO):
    return Case(model, family, ratio=ratio, images=images, inputs="y,mask", name=NAME)


@stable(checks=("worst_case", "samples"), eps=(0.02, 0.03), ratio_sweep=(0.33, 0.4, 0.5, 0.6), min_gain_db=1.0,
        expect={"worst_case": "unstable: Figs. 1, 2",
                "samples": "stable: Fig. 5, bottom, the only network that improves with more samples"})
def test_deep_mri(deep_mri, brains, cartesian):
    return case(deep_mri, brains, cartesian)


@stable(checks="structure", expect={"structure": "stable: Fig. 5, details at 25 %"})
def test_deep_mri_details_at_25_percent(deep_mri, brains, cartesian):
    return case(deep_mri, brains, cartesian, ratio=0.25)
