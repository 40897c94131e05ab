"""Stability tests of the Med 50 analogue (FBPConvNet trained on brain slices, CT with 10 of 180 views, 64 × 64).

The paper's Med 50 saw 50 of 1000 views at 512 × 512 (5 % of its angle grid); the analogue keeps that sampling
regime, not the view count: 10 of 180 views (5.6 %) at 64 × 64, where 50 of 180 views are not sparse (see
README.md). Test images are the 4 held-out brain slices: the network's own image class, as the paper tested
Med 50 on held-out Mayo CT images.
"""

import pytest

from pytest_stability import Case, stable

from .train import RATIO

VIEWS = (8, 10, 14, 20, 30)  # of the 180-angle grid; the network was trained on 10


def case(model, images, family):
    return Case(model, family, ratio=RATIO, images=images, inputs="naive", name="Med 50 analogue")


@stable(checks="worst_case", eps=0.01, steps=20)
def test_med50_tiny_perturbations(med50, brains, ct):
    return case(med50, brains, ct)


@stable(checks="structure", details=("spade", "heart", "diamond", "club", "lesion"))
def test_med50_keeps_details(med50, brains, ct):
    return case(med50, brains, ct)


@stable(checks="structure", details="text")
@pytest.mark.xfail(strict=True, reason="text lost on image 3: ρ = 0.49 < min_recovery 0.5 (0.60–0.61 on the other "
                   "images) while TV keeps ρ_g = 0.65 (measured 2026-11-25; a narrow margin); the paper reported "
                   "no structural test for Med 50 and found Ell 50 losing such details (Fig. 5, top)")
def test_med50_loses_text(med50, brains, ct):
    return case(med50, brains, ct)


@stable(checks="samples", ratio_sweep=tuple(v / 180 for v in VIEWS))
@pytest.mark.xfail(strict=True, reason="mean PSNR 25.6 → 31.4 → 30.9 → 30.3 → 30.4 dB at 8/10/14/20/30 views: drops "
                   "0.55 dB from the trained 10 views to 14 and 0.57 dB from 14 to 20 (> tol 0.5 dB) while TV rises "
                   "28.2 → 29.9 → 32.2 dB (measured 2026-11-25); the paper found Med 50 worse with more views, less "
                   "steeply than Ell 50 (Fig. 5, bottom)")
def test_med50_more_views(med50, brains, ct):
    return case(med50, brains, ct)
