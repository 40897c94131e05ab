"""Stability tests of the CS baseline itself: single-coil MRI, multi-coil MRI and CT."""

from pytest_stability import Case, stable

from .model import tv_model


@stable(eps=(0.01, 0.04), steps=20, details=("heart", "text", "lesion"), ratio_sweep=(0.15, 0.25, 0.4))
def test_tv_single_coil_mri(mri, phantoms):
    return Case(tv_model(mri, 0.25), mri, ratio=0.25, images=phantoms, inputs="y", name="TV, MRI 25 %")


@stable(eps=0.02, steps=20, details=("spade", "lesion"), ratio_sweep=(0.1, 0.15, 0.3))
def test_tv_multi_coil_mri(multicoil, phantoms):
    return Case(tv_model(multicoil, 0.15), multicoil, ratio=0.15, images=phantoms, inputs="y",
                name="TV, 8-coil MRI 15 %")


@stable(eps=0.02, steps=20, details=("club", "lesion"), ratio_sweep=(50 / 180, 90 / 180, 1.0))
def test_tv_ct(ct, phantoms):
    return Case(tv_model(ct, 50 / 180), ct, ratio=50 / 180, images=phantoms, inputs="y", name="TV, CT 50 views")
