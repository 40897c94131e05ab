"""Stability tests of the Ell 50 analogue (FBPConvNet trained on ellipses, CT with 10 of 180 views, 64 × 64).

The paper's Ell 50 saw 50 of 1000 views at 512 × 512 (5 % of its angle grid); the analogue keeps that sampling
regime, not the view count: 10 of 180 views (5.6 %) at 64 × 64, where 50 of 180 views are not sparse (see
README.md). Test images are 4 held-out random ellipse images, as in the paper, which added its details to an
ellipse image and swept the number of views on ellipse sinograms: on its own image class a lost detail is
the network's doing, not an unfamiliar background's.
"""

import pytest

from pytest_stability import Case, stable

from .train import RATIO

VIEWS = (8, 10, 14, 20, 30)  # of the 180-angle grid; the network was trained on 10


def case(model, images, family):
    return Case(model, family, ratio=RATIO, images=images, inputs="naive", name="Ell 50 analogue")


@stable(checks="worst_case", eps=0.01, steps=20)
def test_ell50_tiny_perturbations(ell50, ellipses, ct):
    return case(ell50, ellipses, ct)


@stable(checks="structure")
def test_ell50_keeps_details(ell50, ellipses, ct):
    return case(ell50, ellipses, ct)


@stable(checks="samples", ratio_sweep=tuple(v / 180 for v in VIEWS))
@pytest.mark.xfail(strict=True, reason="mean PSNR 26.4 → 31.0 → 30.2 → 30.5 → 30.9 dB at 8/10/14/20/30 views: drops "
                   "0.85 dB > tol 0.5 dB from the trained 10 views to 14 while TV rises 31.2 → 32.9 dB (measured "
                   "2026-11-25); the paper found Ell 50 worse with more views, the steepest decay of its "
                   "networks (Fig. 5, bottom)")
def test_ell50_more_views(ell50, ellipses, ct):
    return case(ell50, ellipses, ct)
