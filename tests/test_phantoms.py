"""The analytic phantoms: ranges, determinism, and agreement with scikit-image's Shepp–Logan."""

import pytest
import torch

from pytest_stability.phantoms import random_ellipses, render_ellipses, shepp_logan


def test_shepp_logan_range_and_shape():
    x = shepp_logan(128)
    assert x.shape == (1, 1, 128, 128) and x.dtype == torch.float32
    assert float(x.max()) == 1.0 and float(x.min()) == 0.0


def test_shepp_logan_matches_scikit_image_orientation_and_values():
    data = pytest.importorskip("skimage.data")
    ref = torch.from_numpy(data.shepp_logan_phantom())  # 400 x 400, modified Shepp-Logan
    ours = shepp_logan(400, dtype=torch.float64)[0, 0]
    differing = ((ours - ref).abs() > 0.01).double().mean()
    assert float(differing) < 0.01  # only anti-aliased edge pixels differ


def test_random_ellipses_are_seeded_and_bounded():
    a = random_ellipses(4, 64, seed=3)
    assert a.shape == (4, 1, 64, 64)
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    torch.testing.assert_close(a, random_ellipses(4, 64, seed=3))
    assert not torch.equal(a, random_ellipses(4, 64, seed=4))
    assert not torch.equal(a[0], a[1])  # every image is drawn anew


def test_render_ellipses_area():
    params = torch.tensor([[[1.0, 0.5, 0.25, 0.0, 0.0, 30.0]]], dtype=torch.float64)
    area = float(render_ellipses(params, 512).mean()) * 4.0  # the image covers [-1, 1]^2
    assert area == pytest.approx(torch.pi * 0.5 * 0.25, rel=0.01)


def test_bad_parameters():
    with pytest.raises(ValueError, match="B, K, 6"):
        render_ellipses(torch.zeros(1, 6), 8)
    with pytest.raises(ValueError, match="n >= 1"):
        random_ellipses(0)
