"""Stability tests of the DAGAN analogue (GAN-trained U-Net on the zero-filled image, single-coil MRI 20 %, 128 × 128).

The paper's findings for DAGAN, declared before measuring (Antun et al., PNAS 2020): small structural changes are
blurred away (Fig. 5, upper middle) and the quality deteriorates when samples are added (Fig. 5, bottom). The paper
ran no worst-case search on DAGAN (its repository has no driver for it), so the test runs the two checks the paper
reported, as every test of the zoo does.
"""

from pytest_stability import Case, stable

from .model import RATIO, naive_magnitude


@stable(checks=("structure", "samples"), ratio_sweep=(0.2, 0.3, 0.4, 0.5), min_gain_db=1.0,
        expect={"structure": "unstable: blurs the details, Fig. 5", "samples": "unstable: falls, Fig. 5, bottom"},
        # declared after measuring seed 0 (seeds 1 and 2 not yet trained), see README.md
        mismatch={"structure": "seed 0 keeps every detail, each better than TV (recovery 0.70-0.94 against TV's "
                               "0.60-0.89): the details survive in the zero-filled image the residual generator "
                               "refines, and ours learned mostly from pixel terms (8000 of 12000 steps, not DAGAN's "
                               "recipe); untested"})
def test_dagan(dagan, mri, brains):
    return Case(dagan, mri, ratio=RATIO, images=brains, inputs=naive_magnitude, name="DAGAN analogue")
