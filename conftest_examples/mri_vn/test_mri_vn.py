"""Stability tests of the MRI-VN analogue (variational network, 8-coil MRI 15 %).

Verdicts measured 2026-11-25 (see README.md): stable to tiny worst-case perturbations (unlike the paper's
MRI-VN), details weakened and one of them lost (the paper: moderately unstable), and PSNR falls with more samples
than the network was trained for (the paper: stagnates).
"""

import pytest

from pytest_stability import Case, stable

from .train import RATIO

NAME = "MRI-VN analogue"


def case(model, images, family):
    return Case(model, family, ratio=RATIO, images=images, inputs="y,operator", name=NAME)


@stable(checks="worst_case", eps=0.02, steps=20)
def test_mri_vn_tiny_perturbations(mri_vn, brains, multicoil):
    # κ = 2.79 ≤ 2 × TV's κ_g = 1.62 (limit 3.25): the paper found MRI-VN unstable here (Fig. 4); README says why
    return case(mri_vn, brains, multicoil)


@stable(checks="structure", details=("spade", "heart", "club", "text", "lesion"))
def test_mri_vn_details(mri_vn, brains, multicoil):
    # kept, but weakened: ρ 0.54–0.65 where TV keeps 0.64–0.79
    return case(mri_vn, brains, multicoil)


@stable(checks="structure", details="diamond")
@pytest.mark.xfail(strict=True, reason="diamond lost: ρ = 0.47 < 0.5 while TV keeps ρ_g = 0.60 (measured "
                   "2026-11-25); the paper found MRI-VN moderately unstable to small structural changes (Fig. 5)")
def test_mri_vn_loses_diamond(mri_vn, brains, multicoil):
    return case(mri_vn, brains, multicoil)


# min_gain_db=1.0: from the trained 15 % to 50 % (3.2 × the samples) TV gains 9 dB; a reconstruction that gains
# less than 1 dB from that has stagnated, the paper's finding for MRI-VN (Fig. 5, bottom)
@stable(checks="samples", ratio_sweep=(0.15, 0.2, 0.3, 0.4, 0.5), min_gain_db=1.0)
@pytest.mark.xfail(strict=True, reason="PSNR 28.8 → 27.3 → 26.8 → 27.4 → 27.8 dB at 15–50 %: falls 1.5 dB after "
                   "the trained ratio and gains −1.0 dB < 1 dB while TV gains 9.2 dB (measured 2026-11-25); the "
                   "paper found MRI-VN's quality stagnates with more samples (Fig. 5, bottom)")
def test_mri_vn_more_samples(mri_vn, brains, multicoil):
    return case(mri_vn, brains, multicoil)
