"""Stability tests of the MRI-VN analogue (variational network, 15-coil MRI at 15 %, 128 × 128).

The paper's findings for MRI-VN, declared before measuring (Antun et al., PNAS 2020): unstable to tiny worst-case
perturbations (Fig. 4), moderately unstable to small structural changes (Fig. 5), and its quality stagnates when
samples are added (Fig. 5, bottom). Stagnation is a failure of the more-samples check only with ``min_gain_db``:
from the trained ratio to 50 % (3.3 × the samples), a reconstruction that gains less than 1 dB has not used them;
the zoo sets ``min_gain_db=1.0`` on every network's sweep, which starts at the trained ratio.
"""

from pytest_stability import Case, stable

from .train import RATIO

NAME = "MRI-VN analogue"


@stable(eps=(0.02, 0.03), ratio_sweep=(0.15, 0.2, 0.3, 0.4, 0.5), min_gain_db=1.0,
        expect={"worst_case": "unstable: Fig. 4", "structure": "unstable: moderately, Fig. 5",
                "samples": "unstable: stagnates, Fig. 5, bottom"},
        # declared after measuring seed 0 (seeds 1 and 2 not yet trained), see README.md
        mismatch={"structure": "seed 0 keeps every detail by the default rule, each no better than TV (recovery "
                               "0.53-0.74 against TV's 0.53-0.87, up to 0.23 below it, inside the 0.30 margin) and "
                               "the text only 5 % above its limit: the paper's 'moderately unstable' is a difference "
                               "of degree that the rule does not count"})
def test_mri_vn(mri_vn, brains, multicoil):
    return Case(mri_vn, multicoil, ratio=RATIO, images=brains, inputs="y,operator", name=NAME)
