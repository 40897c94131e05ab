"""Stability tests of the Deep MRI analogue (cascade of CNNs with data consistency, single-coil MRI 33 %).

Verdicts measured 2026-11-30 (see README.md), as the paper found for Deep MRI: unstable to tiny worst-case
perturbations, stable to small structural changes, better with more samples.
"""

import pytest

from pytest_stability import Case, stable

from .train import RATIO

NAME = "Deep MRI analogue"


def case(model, images, family, ratio=RATIO):
    return Case(model, family, ratio=ratio, images=images, inputs="y,mask", name=NAME)


@stable(checks="worst_case", eps=0.02, steps=20)
@pytest.mark.xfail(strict=True, reason="κ = 4.50 > 2 × TV's own worst case κ_g = 1.94 at eps 0.02 (4.66 vs 2.19 at "
                   "0.01; 20-step searches without the early stop, measured 2026-11-30); the paper found Deep MRI "
                   "unstable to tiny perturbations (Fig. 1)")
def test_deep_mri_tiny_perturbations(deep_mri, brains, cartesian):
    return case(deep_mri, brains, cartesian)


@stable(checks="structure")
def test_deep_mri_keeps_details_at_25_percent(deep_mri, brains, cartesian):
    # the paper tested Deep MRI's details at 25 %, below the 33 % it was trained for (Fig. 5, lower middle):
    # all six kept, ρ = 0.66–0.77 against TV's 0.66–0.73 (measured 2026-11-30)
    return case(deep_mri, brains, cartesian, ratio=0.25)


@stable(checks="samples", ratio_sweep=(0.2, 0.25, 0.33, 0.4, 0.5))
def test_deep_mri_more_samples(deep_mri, brains, cartesian):
    # PSNR 32.5 → 33.3 → 35.5 → 41.0 → 40.9 dB at ratios 0.20 … 0.50 (measured 2026-11-30): better with more samples,
    # as the paper's Deep MRI (Fig. 5, bottom); the last step (−0.06 dB) is within tol_db
    return case(deep_mri, brains, cartesian)
