"""Coil sensitivities from the fully sampled centre of k-space (the ACS / calibration region).

:func:`estimate_coil_maps` takes centred multi-coil k-space (B, C, H, W) (the convention of
:mod:`pytest_stability.operators.mri` and of fastMRI's files) and returns maps S (B, C, H, W) for
:class:`~pytest_stability.operators.MultiCoilMRI`, one set per image. Two estimators:

``"espirit"`` (the default): ESPIRiT's eigenvalue approach (Uecker et al., MRM 71:990, 2014), as sigpy's
    ``EspiritCalib`` computes it. Every ``kernel`` × ``kernel`` patch of the calibration region (all coils)
    is a row of the calibration matrix; its right singular vectors with singular value above ``threshold`` ×
    the largest span the signal subspace V∥. In image space the k-space projection onto V∥ becomes, at every
    pixel r, a C × C matrix G(r) = Σ_j g_j(r) g_j(r)^H (g_j: the inverse DFT of kernel j, scaled so that
    consistent data give eigenvalue 1), and the maps are its top eigenvectors where that eigenvalue exceeds
    ``crop`` (0 elsewhere: outside the object). G(r) is built without a loop over kernels: its entries are
    the inverse DFT of the (2k − 1)² correlations of the projector V∥^H V∥. Limits: one set of maps (no
    second ESPIRiT map for folded FOVs), and memory of C² · H · W complex numbers per image (the per-pixel
    matrices), 0.4 GB per slice of full-size fastMRI k-space (15 coils, 640 × 368): the images are processed
    in chunks of at most 1 GiB of them (and smaller ones if the device runs out of memory).
``"lowres"``: the low-resolution estimate. The calibration region alone (Hann-windowed, zero elsewhere)
    gives smooth coil images m_c; S_c = m_c / (Σ_d |m_d|²)^½. Simple and smooth, but it carries the
    object's low-resolution structure into the maps and, unlike ESPIRiT, is defined in the background too.

Both give Σ_c |S_c|² = 1 wherever they are defined (0 where ESPIRiT crops). The maps fix the per-pixel
phase that coil sensitivities leave free so that the coil-combined calibration image Σ_c conj(S_c) m_c is
real and non-negative: the maps carry the smooth phase, and images combined with them,
x = Σ_c conj(S_c) F⁻¹ k_c, keep only the phase the calibration region does not resolve.
"""

from __future__ import annotations

import torch

from .memory import split_batch
from .operators.base import check_tensor
from .operators.mri import ifft2c

METHODS = ("espirit", "lowres")
_MATRIX_ENTRIES = 2 ** 27  # per-pixel matrix entries ESPIRiT holds at once (1 GiB in complex64): images per chunk


def _calibration_slices(shape: tuple[int, int], calibration: int | tuple[int, int]) -> tuple[slice, slice]:
    """The centred calibration region (rows, columns) of a k-space grid, around the zero frequency (H//2, W//2)."""
    size = (calibration, calibration) if isinstance(calibration, int) else tuple(calibration)
    if len(size) != 2 or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in size):
        raise ValueError(f"calibration must be the ACS region's size in k-space lines, an int or (rows, columns), "
                         f"got {calibration!r}; e.g. calibration=24.")
    if size[0] > shape[0] or size[1] > shape[1]:
        raise ValueError(f"calibration={calibration!r} is larger than the k-space grid {shape}; use at most the "
                         "fully sampled centre, e.g. calibration=24.")
    return tuple(slice(n // 2 - c // 2, n // 2 - c // 2 + c) for n, c in zip(shape, size, strict=True))


def _centre_phase(maps: torch.Tensor, combined: torch.Tensor) -> torch.Tensor:
    """Maps (B, C, H, W) times the phase of ``combined`` (B, H, W), which becomes real and non-negative."""
    unit = torch.where(combined.abs() > 0, combined / combined.abs().clamp_min(torch.finfo(combined.real.dtype).tiny),
                       torch.ones_like(combined))
    return maps * unit.unsqueeze(1)


def _lowres_images(calib: torch.Tensor, rows: slice, cols: slice, shape: tuple[int, int]) -> torch.Tensor:
    """Coil images (B, C, H, W) of the calibration region alone, Hann-windowed (smooth, no ringing)."""
    window = (torch.hann_window(calib.shape[-2] + 2, periodic=False, dtype=torch.float64)[1:-1].view(-1, 1)
              * torch.hann_window(calib.shape[-1] + 2, periodic=False, dtype=torch.float64)[1:-1].view(1, -1))
    padded = torch.zeros(*calib.shape[:2], *shape, dtype=calib.dtype, device=calib.device)
    padded[..., rows, cols] = calib * window.to(device=calib.device, dtype=calib.real.dtype)
    return ifft2c(padded)


def _espirit(calib: torch.Tensor, shape: tuple[int, int], kernel: int, threshold: float,
             crop: float) -> torch.Tensor:
    """ESPIRiT's top eigenvector maps (B, C, H, W) of the calibration regions ``calib`` (B, C, h, w)."""
    b, c = calib.shape[:2]
    k = kernel
    patches = calib.unfold(-2, k, 1).unfold(-2, k, 1)  # (B, C, ny, nx, k, k)
    rows = patches.permute(0, 2, 3, 1, 4, 5).reshape(b, -1, c * k * k)  # one patch of every coil per row
    _, s, vh = torch.linalg.svd(rows, full_matrices=False)
    keep = (s > threshold * s[:, :1]).to(vh.dtype).unsqueeze(-1)  # (B, n, 1)
    kept = vh * keep
    projector = kept.transpose(1, 2) @ kept.conj()  # P[(c, s), (d, t)] = Σ_j v_j(c, s) conj(v_j(d, t))
    projector = projector.view(b, c, k * k, c, k * k).permute(0, 1, 3, 2, 4).reshape(b, c, c, k ** 4)
    ys, xs = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    dy = (ys.reshape(-1, 1) - ys.reshape(1, -1)).reshape(-1) + k - 1  # (k⁴,) kernel offsets s − t
    dx = (xs.reshape(-1, 1) - xs.reshape(1, -1)).reshape(-1) + k - 1
    lag = (dy * (2 * k - 1) + dx).to(calib.device)
    corr = torch.zeros(b, c, c, (2 * k - 1) ** 2, dtype=calib.dtype, device=calib.device).index_add_(-1, lag,
                                                                                                   projector)
    h, w = shape
    grid = torch.zeros(b, c, c, h, w, dtype=calib.dtype, device=calib.device)
    grid[..., h // 2 - k + 1:h // 2 + k, w // 2 - k + 1:w // 2 + k] = corr.view(b, c, c, 2 * k - 1, 2 * k - 1)
    gram = ifft2c(grid) * ((h * w) ** 0.5 / (k * k))  # G(r) per pixel, entries (c, d)
    values, vectors = torch.linalg.eigh(gram.permute(0, 3, 4, 1, 2))  # ascending eigenvalues per pixel
    maps = vectors[..., -1].permute(0, 3, 1, 2)  # (B, C, H, W)
    return maps * (values[..., -1] > crop).unsqueeze(1)


def estimate_coil_maps(kspace: torch.Tensor, *, method: str = "espirit", calibration: int | tuple[int, int] = 24,
                       kernel: int = 6, threshold: float = 0.02, crop: float = 0.95) -> torch.Tensor:
    """Coil-sensitivity maps (B, C, H, W) from centred k-space (B, C, H, W), one set per image (slice).

    ``calibration``: the size (rows, columns, or one int for both) of the fully sampled centre region the
    maps are estimated from, as the ACS lines of an accelerated scan give it (fastMRI's files are fully
    sampled, so any centre region works; 24 is ESPIRiT's usual size). ``method``: ``"espirit"`` (``kernel``
    size, singular-value ``threshold`` relative to the largest, eigenvalue ``crop``) or ``"lowres"``; see
    the module docstring for both and their limits. The result is on ``kspace``'s device, complex64 or
    complex128 as ``kspace``; (C, H, W) k-space of one image gives (C, H, W) maps.
    """
    check_tensor("kspace", kspace, what=" (B, coils, H, W) centred multi-coil k-space")
    if kspace.dim() not in (3, 4) or not kspace.is_complex():
        raise ValueError(f"kspace must be complex multi-coil k-space (B, coils, H, W) or (coils, H, W), got "
                         f"{kspace.dtype} of shape {tuple(kspace.shape)}; fastMRI's 'kspace' dataset of a multi-coil "
                         "file is (slices, coils, H, W) complex64.")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, METHODS))}, got {method!r}.")
    k = kspace if kspace.dim() == 4 else kspace.unsqueeze(0)
    shape = (k.shape[-2], k.shape[-1])
    rows, cols = _calibration_slices(shape, calibration)
    calib = k[..., rows, cols]
    if bool((calib.abs().reshape(k.shape[0], -1).amax(dim=1) == 0).any()):
        raise ValueError("the calibration region of an image is all zero: the maps need the fully sampled centre of "
                         "k-space (ACS lines); check the k-space or the calibration size.")
    low = _lowres_images(calib, rows, cols, shape)
    if method == "lowres":
        maps = low / (low.abs() ** 2).sum(dim=1, keepdim=True).sqrt().clamp_min(torch.finfo(low.real.dtype).tiny)
    else:
        largest = min(*calib.shape[-2:], (min(shape) + 1) // 2)
        if isinstance(kernel, bool) or not (isinstance(kernel, int) and 1 <= kernel <= largest):
            raise ValueError(f"kernel must be an int from 1 to {largest} (the calibration size "
                             f"{tuple(calib.shape[-2:])}, and (2 · kernel − 1) lags inside the {shape} grid), got "
                             f"{kernel!r}; ESPIRiT's usual kernel is 6.")
        if not (0 < threshold < 1 and 0 <= crop < 1):
            raise ValueError(f"threshold and crop must lie in (0, 1) and [0, 1), got threshold={threshold!r}, "
                             f"crop={crop!r}; ESPIRiT's usual values are 0.02 and 0.95.")
        per_image = calib.shape[1] ** 2 * shape[0] * shape[1]  # entries of the per-pixel C × C matrices
        maps = split_batch(lambda s: _espirit(calib[s], shape, kernel, threshold, crop), calib.shape[0], torch.cat,
                           limit=max(1, _MATRIX_ENTRIES // per_image), what="ESPIRiT")
    maps = _centre_phase(maps, (maps.conj() * low).sum(dim=1))
    return maps if kspace.dim() == 4 else maps[0]
