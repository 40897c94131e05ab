"""Stability tests of the DAGAN analogue (64 × 64 single-coil MRI, 20 % Cartesian lines)."""

import pytest

from pytest_stability import Case, stable

from .model import RATIO, naive_magnitude


def dagan_case(dagan, mri, brains):
    return Case(dagan, mri, ratio=RATIO, images=brains, inputs=naive_magnitude, name="DAGAN analogue")


@stable(checks="worst_case", eps=(0.01, 0.02), steps=20)
def test_dagan_tiny_perturbations(dagan, mri, brains):
    """The paper ran no worst-case search on DAGAN (its repository has no driver for it). Measured 2026-11-25:
    κ = 2.43 ≤ 2 × TV's own worst case κ_g = 2.13 at eps 0.01 (2.42 vs 1.99 at 0.02)."""
    return dagan_case(dagan, mri, brains)


@stable(checks="structure", details=("heart", "text", "lesion"))
def test_dagan_keeps_details(dagan, mri, brains):
    """Kept, though below TV: ρ = 0.55 / 0.61 / 0.53 against ρ_g = 0.70 / 0.63 / 0.70 (measured 2026-11-25)."""
    return dagan_case(dagan, mri, brains)


@stable(checks="structure", details=("spade", "diamond", "club"))
@pytest.mark.xfail(strict=True, reason="ρ = 0.47 / 0.44 / 0.49 (spade / diamond / club) < min_recovery 0.5 while "
                   "TV keeps ρ_g = 0.68 / 0.59 / 0.70, measured 2026-11-25; the paper found DAGAN blurs the "
                   "details substantially (Fig. 5, upper middle)")
def test_dagan_loses_small_details(dagan, mri, brains):
    return dagan_case(dagan, mri, brains)


@stable(checks="samples", ratio_sweep=(0.1, 0.15, 0.2, 0.3, 0.4, 0.5))
@pytest.mark.xfail(strict=True, reason="PSNR 24.6 → 25.9 → 27.7 → 28.1 → 24.7 → 23.9 dB at ratios 0.094 … 0.5: "
                   "drops 3.37 dB from 0.297 to 0.406 while TV rises 19.9 → 26.3 dB, measured 2026-11-25; the "
                   "paper found DAGAN's quality deteriorates with more samples (Fig. 5, bottom)")
def test_dagan_more_samples(dagan, mri, brains):
    return dagan_case(dagan, mri, brains)
