"""Image-quality and stability metrics, batched: each returns one value per image, shape (B,).

Conventions (stated because the field does not agree on them):

* Complex images are compared on magnitude for PSNR and SSIM; l2 norms (NRMSE, relative change,
  instability ratio) use the full complex difference over the whole image.
* PSNR's data range is max |x| of the ground truth per image (fastMRI's and the paper's later code's
  convention). ``peak="reconstruction"`` uses max |x̂| instead, as the paper's Python code did; that score
  rises with a bright artefact, so it is offered for comparison with published numbers only.
* SSIM is Wang et al. (2004) with an 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, averaged
  over the valid (uncropped) window positions: scikit-image's ``structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False)``. ``window="uniform"`` gives scikit-image's default 7×7 uniform
  window with sample covariance (the fastMRI evaluation). We implement it in torch (two separable
  depthwise convolutions) so it runs batched on the model's device; scikit-image is numpy-only, and the
  torch libraries that ship SSIM (piq, torchmetrics) were slower here and disagree with each other in the
  third digit, so a threshold on SSIM names this implementation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["instability_ratio", "l2_norm", "nrmse", "psnr", "recovery", "relative_change", "ssim"]


def l2_norm(t: torch.Tensor) -> torch.Tensor:
    """‖t_b‖₂ over all non-batch dimensions, shape (B,) (real, also for complex t)."""
    flat = torch.view_as_real(t).reshape(t.shape[0], -1) if t.is_complex() else t.reshape(t.shape[0], -1)
    return torch.linalg.vector_norm(flat, dim=1)  # on a real view: complex norms are ~100x slower on CPU


def _pair(x_hat: torch.Tensor, x: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x_hat, torch.Tensor) or not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} takes torch tensors, got {type(x_hat).__name__} and {type(x).__name__}.")
    if x_hat.shape != x.shape:
        raise ValueError(f"{name}: reconstruction has shape {tuple(x_hat.shape)} but the reference has "
                         f"{tuple(x.shape)}; they must match (B, C, H, W).")
    if x.dim() < 2:
        raise ValueError(f"{name} needs a batch dimension: got shape {tuple(x.shape)}, expected (B, C, H, W).")
    return x_hat, x


def _magnitude(t: torch.Tensor) -> torch.Tensor:
    return t.abs() if t.is_complex() else t


def _data_range(x_hat: torch.Tensor, x: torch.Tensor, data_range: float | torch.Tensor | None,
                peak: str) -> torch.Tensor:
    if data_range is not None:
        dr = torch.as_tensor(data_range, dtype=x.real.dtype if x.is_complex() else x.dtype, device=x.device)
        return dr.expand(x.shape[0]) if dr.dim() == 0 else dr
    if peak == "truth":
        return x.abs().reshape(x.shape[0], -1).amax(dim=1)
    if peak == "reconstruction":
        return x_hat.abs().reshape(x.shape[0], -1).amax(dim=1)
    raise ValueError(f"peak must be 'truth' or 'reconstruction', got {peak!r}.")


def psnr(x_hat: torch.Tensor, x: torch.Tensor, *, data_range: float | torch.Tensor | None = None,
         peak: str = "truth") -> torch.Tensor:
    """PSNR = 10 log10(data_range² / mean |x̂ − x|²) in dB, per image, on magnitudes for complex images.

    ``data_range`` (scalar or (B,)) overrides ``peak``; by default it is max |x| of each ground truth.
    A perfect reconstruction scores +inf.
    """
    x_hat, x = _pair(x_hat, x, "psnr")
    dr = _data_range(x_hat, x, data_range, peak)
    mse = ((_magnitude(x_hat) - _magnitude(x)) ** 2).reshape(x.shape[0], -1).mean(dim=1)
    return 10.0 * torch.log10(dr.to(mse.dtype) ** 2 / mse)


def nrmse(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Normalised root-mean-square error ‖x̂ − x‖ / ‖x‖ (scikit-image's ``normalization='euclidean'``)."""
    x_hat, x = _pair(x_hat, x, "nrmse")
    return l2_norm(x_hat - x) / l2_norm(x)


def relative_change(after: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """‖after − before‖ / ‖before‖: how much an output moved, relative to its size (e.g. ‖Δf‖/‖f(Ax)‖)."""
    return nrmse(after, before)


def instability_ratio(output_change: torch.Tensor, perturbation: torch.Tensor) -> torch.Tensor:
    """κ = ‖f(A(x + r)) − f(Ax)‖ / ‖r‖ per image: the amplification a perturbation r (or e) suffers.

    ``output_change`` is f(A(x + r)) − f(Ax), ``perturbation`` is r in the image domain or e in the
    measurement domain; their shapes may differ but their batch sizes must agree.
    """
    if output_change.shape[0] != perturbation.shape[0]:
        raise ValueError(f"instability_ratio: batch sizes differ ({output_change.shape[0]} output changes, "
                         f"{perturbation.shape[0]} perturbations).")
    return l2_norm(output_change) / l2_norm(perturbation)


def recovery(output_change: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
    """ρ = Re⟨f(A(x + d)) − f(Ax), d⟩ / ‖d‖² per image: the share of an added detail d the reconstruction keeps
    (1: all of it, 0: none). ``output_change`` and ``detail`` have the same batch size and number of entries.

    A real output change with a complex detail is a magnitude reconstruction of complex images (fastMRI's
    VarNet returns the RSS magnitude): it is judged against |d|, the change of |x + d| for a detail in the
    image's phase (as :meth:`~pytest_stability.details.Detail.scaled` draws it)."""
    change = output_change.reshape(output_change.shape[0], -1)
    d = detail.reshape(detail.shape[0], -1)
    if d.is_complex() and not change.is_complex():
        d = d.abs()
    return (change.conj() * d).real.sum(-1) / (d.abs() ** 2).sum(-1)


def _gaussian_window(sigma: float, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, float]:
    radius = int(3.5 * sigma + 0.5)  # scipy.ndimage.gaussian_filter's truncate=3.5, as scikit-image uses
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum(), 1.0


def _uniform_window(size: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, float]:
    n = size * size
    return torch.full((size,), 1.0 / size, dtype=dtype, device=device), n / (n - 1)


def _filter(t: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    k = g.numel()
    t = F.conv2d(t, g.view(1, 1, k, 1))
    return F.conv2d(t, g.view(1, 1, 1, k))


def ssim(x_hat: torch.Tensor, x: torch.Tensor, *, data_range: float | torch.Tensor | None = None,
         window: str = "gaussian", peak: str = "truth") -> torch.Tensor:
    """Structural similarity per image, averaged over channels, on magnitudes for complex images.

    ``window="gaussian"``: 11×11, σ = 1.5, population covariance (Wang et al. 2004);
    ``window="uniform"``: 7×7, sample covariance (scikit-image's default). Data range as in :func:`psnr`.
    Images must be at least as large as the window.
    """
    x_hat, x = _pair(x_hat, x, "ssim")
    if x.dim() != 4:
        raise ValueError(f"ssim takes (B, C, H, W) images, got shape {tuple(x.shape)}.")
    dr = _data_range(x_hat, x, data_range, peak)
    a, b = _magnitude(x_hat), _magnitude(x)
    dtype = torch.promote_types(a.dtype, torch.float32)
    a, b = a.to(dtype), b.to(dtype)
    if window == "gaussian":
        g, cov_norm = _gaussian_window(1.5, dtype, x.device)
    elif window == "uniform":
        g, cov_norm = _uniform_window(7, dtype, x.device)
    else:
        raise ValueError(f"window must be 'gaussian' or 'uniform', got {window!r}.")
    if min(x.shape[-2:]) < g.numel():
        raise ValueError(f"ssim needs images of at least {g.numel()}×{g.numel()} pixels, got {tuple(x.shape[-2:])}.")
    bsz, ch = x.shape[:2]
    stack = torch.cat([a, b, a * a, b * b, a * b], dim=1).reshape(bsz * ch * 5, 1, *x.shape[-2:])
    mu_a, mu_b, aa, bb, ab = _filter(stack, g).reshape(bsz, 5 * ch, -1).split(ch, dim=1)
    var_a = cov_norm * (aa - mu_a * mu_a)
    var_b = cov_norm * (bb - mu_b * mu_b)
    cov = cov_norm * (ab - mu_a * mu_b)
    c1 = (0.01 * dr.to(dtype)).view(-1, 1, 1) ** 2
    c2 = (0.03 * dr.to(dtype)).view(-1, 1, 1) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(1, 2))

