"""Stability tests of the Med 50 analogue (FBPConvNet trained on head CT images, the paper's 50 views, 128 × 128).

The paper's findings for Med 50, declared before measuring (Antun et al., PNAS 2020): unstable, moderately, to tiny
worst-case perturbations (Fig. 4), and its quality falls when views are added, less steeply than Ell 50's (Fig. 5,
bottom). The paper reported no structural test for Med 50, so the test runs the two checks the paper reported, as
every test of the zoo does. Test images are the CT images of the held-out brain slices, the network's own image
class.
"""

from pytest_stability import Case, stable

from ..ct import RATIO

VIEWS = (50, 100, 200, 400)  # of the 800-angle grid, each set the one before plus more; trained on 50


@stable(checks=("worst_case", "samples"), eps=(0.02, 0.03), ratio_sweep=tuple(v / 800 for v in VIEWS),
        min_gain_db=1.0,
        expect={"worst_case": "unstable: moderately, Fig. 4", "samples": "unstable: falls, Fig. 5, bottom"},
        # declared after measuring seed 0 (seeds 1 and 2 not yet trained), see README.md
        mismatch={"worst_case": "seed 0 amplifies 2.2 at both eps against TV's limits 3.3 and 3.2 (at eps 0.03 "
                                "its output falls 34.5 to 30.0 dB, TV's of the same data is at 29.3 dB): at "
                                "128 x 128, 50 views are a quarter of "
                                "the ~200 that angular sampling needs, at the paper's 512 x 512 one sixteenth",
                  "samples": "seed 0 gains 2.1 dB from 50 to 400 views (32.3 to 34.4 dB): the same milder "
                             "undersampling"})
def test_med50(med50, heads, views):
    return Case(med50, views, ratio=RATIO, images=heads, inputs="naive", name="Med 50 analogue")
