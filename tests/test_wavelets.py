"""The orthonormal periodic Daubechies DWT: filters, perfect reconstruction, unitarity, PyWavelets agreement."""

from __future__ import annotations

import pytest
import torch

from pytest_stability.baselines.wavelets import DAUBECHIES, DaubechiesWavelet, max_level

WAVELETS = sorted(DAUBECHIES)


@pytest.mark.parametrize("name", WAVELETS)
def test_filters_are_orthonormal_with_vanishing_moments(name: str) -> None:
    h = torch.tensor(DAUBECHIES[name], dtype=torch.float64)
    n = h.numel()
    g = torch.tensor([(-1.0) ** k for k in range(n)], dtype=torch.float64) * h.flip(0)
    for shift in range(0, n, 2):  # Σ_k h[k] h[k + 2m] = δ_m, and the same for g; h ⟂ g at every even shift
        expected = 1.0 if shift == 0 else 0.0
        assert float(h[: n - shift] @ h[shift:]) == pytest.approx(expected, abs=1e-14)
        assert float(g[: n - shift] @ g[shift:]) == pytest.approx(expected, abs=1e-14)
        assert float(h[: n - shift] @ g[shift:]) == pytest.approx(0.0, abs=1e-14)
        assert float(g[: n - shift] @ h[shift:]) == pytest.approx(0.0, abs=1e-14)
    assert float(h.sum()) == pytest.approx(2**0.5, abs=1e-14)
    k = torch.arange(n, dtype=torch.float64)
    for moment in range(n // 2):  # dbN has N vanishing moments: Σ_k g[k] k^p = 0 for p < N
        assert float((g * k**moment).sum()) == pytest.approx(0.0, abs=1e-9 * float((g.abs() * k**moment).sum()))


@pytest.mark.parametrize("name", WAVELETS)
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128, torch.float32])
def test_perfect_reconstruction_and_parseval(name: str, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((2, 3, 64, 32), generator=gen, dtype=dtype)
    transform = DaubechiesWavelet(name)
    c = transform(x)
    assert c.shape == x.shape and c.dtype == x.dtype
    tol = 1e-12 if dtype in (torch.float64, torch.complex128) else 1e-5
    assert float((transform.inverse(c) - x).abs().max()) < tol
    assert float(c.norm()) == pytest.approx(float(x.norm()), rel=tol)


@pytest.mark.parametrize("name", ["db1", "db2", "db4"])
def test_inverse_is_the_adjoint(name: str) -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn((2, 1, 32, 64), generator=gen, dtype=torch.complex128)
    c = torch.randn((2, 1, 32, 64), generator=gen, dtype=torch.complex128)
    transform = DaubechiesWavelet(name, levels=2)
    lhs = torch.vdot(transform(x).reshape(-1), c.reshape(-1))
    rhs = torch.vdot(x.reshape(-1), transform.inverse(c).reshape(-1))
    assert abs(complex(lhs - rhs)) < 1e-12 * abs(complex(lhs))


def test_complex_images_share_the_real_filters() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn((1, 2, 32, 32), generator=gen, dtype=torch.complex128)
    transform = DaubechiesWavelet("db3")
    expected = torch.complex(transform(x.real), transform(x.imag))
    assert float((transform(x) - expected).abs().max()) < 1e-13


@pytest.mark.parametrize("name", ["db1", "db2", "db3", "db4"])
@pytest.mark.parametrize("levels", [1, 3])
def test_matches_pywavelets_periodization(name: str, levels: int) -> None:
    pywt = pytest.importorskip("pywt")
    gen = torch.Generator().manual_seed(3)
    x = torch.randn((2, 1, 64, 128), generator=gen, dtype=torch.float64)
    reference, _ = pywt.coeffs_to_array(pywt.wavedec2(x.numpy(), name, mode="periodization", level=levels),
                                        axes=(-2, -1))
    ours = DaubechiesWavelet(name, levels=levels)(x)
    assert float((ours - torch.from_numpy(reference)).abs().max()) < 1e-12


def test_levels_default_and_detail_weights() -> None:
    transform = DaubechiesWavelet("db4")
    assert max_level(256, 8) == 5
    assert transform.levels_for((256, 256)) == 4  # capped at 4
    assert transform.levels_for((320, 368)) == 4  # 368 = 16 · 23
    assert DaubechiesWavelet("db8").levels_for((64, 64)) == 2
    weights = transform.detail_weights((64, 32))
    levels = transform.levels_for((64, 32))
    assert levels == 2
    assert float(weights[: 64 >> levels, : 32 >> levels].sum()) == 0.0
    assert float(weights.sum()) == 64 * 32 - (64 >> levels) * (32 >> levels)


def test_refuses_sizes_and_names_it_cannot_take() -> None:
    with pytest.raises(ValueError, match="wavelet must be one of"):
        DaubechiesWavelet("sym4")
    with pytest.raises(ValueError, match="levels=5 is too deep"):
        DaubechiesWavelet("db2", levels=5)(torch.zeros(1, 1, 48, 48))
    with pytest.raises(ValueError, match="admit no level"):
        DaubechiesWavelet("db2")(torch.zeros(1, 1, 33, 32))
    with pytest.raises(ValueError, match="levels must be a positive int"):
        DaubechiesWavelet("db2", levels=0)


def test_differentiable() -> None:
    gen = torch.Generator().manual_seed(4)
    x = torch.randn((1, 1, 16, 16), generator=gen, dtype=torch.float64, requires_grad=True)
    transform = DaubechiesWavelet("db2", levels=2)
    assert torch.autograd.gradcheck(lambda t: transform.inverse(transform(t) ** 3), (x,))
