"""Metrics against known numbers and against scikit-image's implementations."""

import math

import numpy as np
import pytest
import torch

from pytest_stability.metrics import instability_ratio, l2_norm, nrmse, psnr, recovery, relative_change, ssim
from pytest_stability.phantoms import shepp_logan


def _noisy_pair(seed=0, size=48):
    gen = torch.Generator().manual_seed(seed)
    x = shepp_logan(size, dtype=torch.float64).repeat(3, 1, 1, 1) * torch.tensor([1.0, 0.5, 2.0]).view(3, 1, 1, 1)
    noise = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    return x + 0.05 * noise * torch.tensor([1.0, 2.0, 0.5]).view(3, 1, 1, 1), x


def test_psnr_known_value():
    x = torch.ones(1, 1, 4, 4)
    x_hat = x + 0.1  # mse = 0.01, peak 1 -> 20 dB
    assert float(psnr(x_hat, x)) == pytest.approx(20.0, abs=1e-5)
    assert float(psnr(x, x)) == math.inf


def test_psnr_peak_conventions():
    x = torch.full((1, 1, 4, 4), 0.5)
    x_hat = x.clone()
    x_hat[..., 0, 0] = 1.5  # one bright artefact
    truth = float(psnr(x_hat, x))
    recon = float(psnr(x_hat, x, peak="reconstruction"))
    assert recon - truth == pytest.approx(20 * math.log10(1.5 / 0.5), abs=1e-4)  # the artefact raises the score
    assert float(psnr(x_hat, x, data_range=2.0)) == pytest.approx(truth + 20 * math.log10(2.0 / 0.5), abs=1e-4)


def test_metrics_match_scikit_image():
    skm = pytest.importorskip("skimage.metrics")
    x_hat, x = _noisy_pair()
    ours_psnr, ours_ssim_g, ours_ssim_u, ours_nrmse = (psnr(x_hat, x), ssim(x_hat, x), ssim(x_hat, x, window="uniform"),
                                                       nrmse(x_hat, x))
    for b in range(3):
        a, t = x_hat[b, 0].numpy(), x[b, 0].numpy()
        dr = float(np.abs(t).max())
        assert float(ours_psnr[b]) == pytest.approx(skm.peak_signal_noise_ratio(t, a, data_range=dr), abs=1e-9)
        ref_g = skm.structural_similarity(a, t, data_range=dr, gaussian_weights=True, sigma=1.5,
                                          use_sample_covariance=False)
        assert float(ours_ssim_g[b]) == pytest.approx(ref_g, abs=1e-9)
        assert float(ours_ssim_u[b]) == pytest.approx(skm.structural_similarity(a, t, data_range=dr), abs=1e-9)
        assert float(ours_nrmse[b]) == pytest.approx(skm.normalized_root_mse(t, a), abs=1e-12)


def test_complex_images_are_compared_on_magnitude():
    x_hat, x = _noisy_pair()
    phase = torch.polar(torch.ones_like(x), torch.full_like(x, 0.7))
    torch.testing.assert_close(psnr(x_hat.abs() * phase, x.abs() * phase.conj()), psnr(x_hat.abs(), x.abs()))
    torch.testing.assert_close(ssim(x_hat.abs() * phase, x.abs()), ssim(x_hat.abs(), x.abs()))


def test_ssim_of_identical_images_is_one_and_batches_are_independent():
    x_hat, x = _noisy_pair()
    torch.testing.assert_close(ssim(x, x), torch.ones(3, dtype=torch.float64))
    per_image = torch.cat([ssim(x_hat[i:i + 1], x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(ssim(x_hat, x), per_image)


def test_norm_based_metrics():
    a = torch.zeros(2, 1, 2, 2)
    b = torch.ones(2, 1, 2, 2)
    torch.testing.assert_close(l2_norm(b), torch.full((2,), 2.0))
    torch.testing.assert_close(relative_change(a, b), torch.ones(2))
    r = torch.full((2, 1, 2, 2), 0.5)  # ||r|| = 1
    torch.testing.assert_close(instability_ratio(3 * b, r), torch.full((2,), 6.0))


@pytest.mark.parametrize(("call", "match"), [
    (lambda: psnr(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5)), "must match"),
    (lambda: psnr(np.zeros((1, 1, 4, 4)), torch.zeros(1, 1, 4, 4)), "torch tensors"),
    (lambda: psnr(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), peak="max"), "peak"),
    (lambda: ssim(torch.zeros(1, 1, 8, 8), torch.ones(1, 1, 8, 8)), "at least 11"),
    (lambda: ssim(torch.zeros(1, 1, 16, 16), torch.ones(1, 1, 16, 16), window="box"), "window"),
    (lambda: instability_ratio(torch.zeros(2, 3), torch.ones(3, 3)), "batch sizes"),
])
def test_bad_input(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_recovery_of_a_detail_against_known_values():
    d = torch.zeros(3, 1, 4, 4, dtype=torch.complex64)
    d[:, :, 1:3, 1:3] = 1 + 1j
    elsewhere = torch.zeros_like(d)
    elsewhere[:, :, 0, 0] = 5  # a change off the detail's support recovers none of it
    change = torch.stack([0.5 * d[0], elsewhere[1], 1j * d[2]])  # half kept; none; rotated by 90°: Re⟨·,·⟩ = 0
    assert recovery(change, d).tolist() == pytest.approx([0.5, 0.0, 0.0], abs=1e-7)
    assert recovery(d.real, d.real).tolist() == pytest.approx([1.0, 1.0, 1.0])
