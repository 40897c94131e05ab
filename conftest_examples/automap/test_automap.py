"""Stability tests of the AUTOMAP analogue (32 × 32 single-coil MRI, 60 % variable-density points).

AUTOMAP's input size is fixed by its mask, so there is no more-samples test (the paper skipped it too).
Details: the four suits and the lesion at their default 7 px; the text is left out, at 32 × 32 its letters
would be about 3 px tall, below what the grid resolves.
"""

import pytest

from pytest_stability import Case, stable

from .model import RATIO


def automap_case(automap, mri, brains):
    return Case(automap, mri, ratio=RATIO, images=brains, inputs="y", name="AUTOMAP analogue")


@stable(checks="worst_case", domain="measurement", eps=(0.01, 0.03), steps=20)
def test_automap_tiny_measurement_perturbations(automap, mri, brains):
    """The paper perturbed AUTOMAP's measurements and found it unstable (Fig. 3); our analogue is not:
    κ = 2.79 ≤ 2 × TV's own worst case κ_g = 3.39 at eps 0.01 (2.88 vs 2.52 at 0.03), measured 2026-11-25."""
    return automap_case(automap, mri, brains)


@stable(checks="structure", details=("spade", "heart", "diamond", "club", "lesion"))
@pytest.mark.xfail(strict=True, reason="ρ = 0.64–0.69 on the worst image for all five details, more than "
                   "recovery_margin 0.3 below TV's ρ_g = 0.99–1.00 (box PSNR 24–28 dB vs TV's 38–40 dB), measured "
                   "2026-11-25; the paper's AUTOMAP kept its details (Fig. 3, first column), our analogue reconstructs "
                   "at 32.2 dB against TV's 42.0 dB and blurs them")
def test_automap_details(automap, mri, brains):
    return automap_case(automap, mri, brains)
