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
                "samples": "unstable: steepest fall, Fig. 5, bottom"})
def test_ell50(ell50, ellipses, views):
    return Case(ell50, views, ratio=RATIO, images=ellipses, inputs="naive", name="Ell 50 analogue")
