"""Stability tests of the Ell 50 analogue (FBPConvNet trained on ellipses, CT with the paper's 50 views, 128 × 128).

The paper's findings for Ell 50, declared before measuring (Antun et al., PNAS 2020): it fails completely on small
structural changes (Fig. 5, top) and its quality falls most steeply of all when views are added (Fig. 5, bottom).
The paper ran no worst-case search on Ell 50, so the test runs the two checks the paper reported, as every test of
the zoo does. Test images are held-out ellipse images, the network's own image class, as the paper added its details
to an ellipse image.
"""

from pytest_stability import Case, stable

from ..ct import RATIO

VIEWS = (50, 100, 200, 400)  # of the 800-angle grid, each set the one before plus more; trained on 50


@stable(checks=("structure", "samples"), ratio_sweep=tuple(v / 800 for v in VIEWS), min_gain_db=1.0,
        expect={"structure": "unstable: fails completely, Fig. 5",
                "samples": "unstable: steepest fall, Fig. 5, bottom"},
        # declared after measuring seed 0 (seeds 1 and 2 not yet trained), see README.md
        mismatch={"structure": "seed 0 keeps every detail (recovery 0.77-1.00): at 128 x 128, 50 views are a "
                               "quarter of the ~200 that angular sampling needs, at the paper's 512 x 512 one "
                               "sixteenth of ~800, so the analogue's FBP input has far milder streaks to undo",
                  "samples": "seed 0 gains 2.2 dB from 50 to 400 views (37.35 to 39.55 dB): the same milder "
                             "undersampling; a 64 x 64 analogue at 10 of 180 views did fall"})
def test_ell50(ell50, ellipses, views):
    return Case(ell50, views, ratio=RATIO, images=ellipses, inputs="naive", name="Ell 50 analogue")
