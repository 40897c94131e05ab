"""Cartesian MRI: single-coil and multi-coil (SENSE) subsampled Fourier operators.

Convention (fastMRI's): k-space is *centred*, the zero frequency at (H // 2, W // 2), and the 2D DFT is
orthonormal, F = fftshift ∘ fft2(norm="ortho") ∘ ifftshift. Measurements are k-space grids of the image's
size that vanish off the sampling mask M (fastMRI's ``masked_kspace``); that set is the measurement space,
and ``project`` maps any grid onto it.

Single coil:  A x = M ⊙ F x,            A* y = F⁻¹ (M ⊙ y),     so A A* = I on the measurement space.
Multi coil:   (A x)_c = M ⊙ F (S_c x),  A* y = Σ_c conj(S_c) F⁻¹ (M ⊙ y_c), with Σ_c |S_c|² = 1 so ‖A‖ ≤ 1.
"""

from __future__ import annotations

import math

import torch

from .base import LinearOperator, check_tensor, complex_dtype, real_dtype

_DIMS = (-2, -1)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D DFT over the last two dimensions."""
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=_DIMS), norm="ortho"), dim=_DIMS)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft2c` (and its adjoint: the transform is unitary)."""
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=_DIMS), norm="ortho"), dim=_DIMS)


def as_mask_tensor(mask: object, image_shape: tuple[int, int] | None = None) -> torch.Tensor:
    """A 0/1 sampling mask as a bool tensor (H, W); accepts a tensor, an array or a ``SamplingMask``."""
    mask = getattr(mask, "mask", mask)
    mask = torch.as_tensor(mask)
    if mask.dim() != 2:
        raise ValueError(f"mask must be a 2D (H, W) tensor of 0/1 values, got shape {tuple(mask.shape)}; "
                         "for Cartesian lines expand to the full grid, e.g. mask.expand(H, W).")
    if mask.dtype != torch.bool:
        if mask.is_complex() or not torch.isin(mask.unique(), torch.tensor([0, 1], dtype=mask.dtype)).all():
            raise ValueError("mask must hold only 0 and 1 (a sampling pattern, not density weights).")
        mask = mask.bool()
    if image_shape is not None and tuple(mask.shape) != tuple(image_shape):
        raise ValueError(f"mask has shape {tuple(mask.shape)} but the images are {tuple(image_shape)}; "
                         "build the mask for the image size.")
    if not bool(mask.any()):
        raise ValueError("mask samples nothing (all zeros): an empty sampling pattern measures no data; build it "
                         "with a mask function, e.g. variable_density_mask((H, W), 0.25).")
    return mask


class SingleCoilMRI(LinearOperator):
    """Single-coil Cartesian MRI, A x = M ⊙ F x with the centred orthonormal DFT F.

    Images are (B, C, H, W), real or complex (real images are measured as complex ones); measurements
    are complex k-space grids of the same shape that vanish off the mask. Because F is unitary and M a
    projection, A A* = I on the measurement space and ‖A‖ = 1: the operator of the paper's Deep MRI,
    DAGAN and (up to AUTOMAP's scale factor 0.48) AUTOMAP experiments.
    """

    measurement_layout = "(B, C, H, W) complex k-space"

    def __init__(self, mask: object):
        m = as_mask_tensor(mask)
        super().__init__(tuple(m.shape))
        self.mask = m

    @property
    def measurement_trailing(self) -> tuple[int, ...]:
        return self.image_shape

    @property
    def num_measurements(self) -> int:
        return int(self.mask.sum())

    def _mask(self, like: torch.Tensor) -> torch.Tensor:
        return self._constant("mask", self.mask, like, real_dtype(like.dtype))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return fft2c(x.to(complex_dtype(x.dtype))) * self._mask(x)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return ifft2c(y.to(complex_dtype(y.dtype)) * self._mask(y))

    def project(self, y: torch.Tensor) -> torch.Tensor:
        """Zero the k-space entries the mask does not sample."""
        return y * self._mask(y)

    def norm(self, **_: object) -> float:
        """‖A‖ = 1 exactly: a unitary transform followed by a non-empty coordinate projection."""
        return 1.0


def simulate_coil_maps(n_coils: int, image_shape: tuple[int, int], *, radius: float = 1.5,
                       dtype: torch.dtype = torch.complex64) -> torch.Tensor:
    """Smooth, normalised coil-sensitivity maps S of shape (n_coils, H, W).

    Coils sit evenly on a circle of ``radius`` (in units of the half field of view) around the image;
    each map falls off as the inverse distance to its coil and carries the coil's azimuth as a linear
    phase (a birdcage-like model, as in sigpy.mri.birdcage_maps). The maps are then normalised so
    Σ_c |S_c|² = 1 at every pixel, which makes the multi-coil operator's norm at most 1 and its A* A the
    identity on fully sampled data.
    """
    if n_coils < 1:
        raise ValueError(f"n_coils must be at least 1, got {n_coils}.")
    h, w = image_shape
    yy = torch.linspace(-1.0, 1.0, h, dtype=torch.float64).view(1, h, 1)
    xx = torch.linspace(-1.0, 1.0, w, dtype=torch.float64).view(1, 1, w)
    phi = 2 * math.pi * torch.arange(n_coils, dtype=torch.float64).view(-1, 1, 1) / n_coils
    cy, cx = radius * torch.sin(phi), radius * torch.cos(phi)
    dist = torch.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
    angle = torch.atan2(yy - cy, xx - cx) + phi
    maps = torch.polar(1.0 / dist, angle)
    maps = maps / torch.sqrt((maps.abs() ** 2).sum(dim=0, keepdim=True))
    return maps.to(dtype)


class MultiCoilMRI(LinearOperator):
    """Parallel (SENSE) MRI: (A x)_c = M ⊙ F (S_c x) for coils c = 1..n_coils.

    Images are (B, 1, H, W), real or complex; measurements are (B, n_coils, H, W) complex k-space. Coil
    maps are given by the user as (n_coils, H, W) (e.g. ESPIRiT maps; they are used as given) or
    simulated with ``n_coils`` (smooth maps normalised to Σ|S_c|² = 1; the paper's MRI-VN used 15 coils).
    The naive reconstruction is the coil-combined zero-filled image A* y = Σ_c conj(S_c) F⁻¹(M ⊙ y_c).
    """

    measurement_layout = "(B, n_coils, H, W) complex k-space"

    def __init__(self, mask: object, coil_maps: torch.Tensor | None = None, *, n_coils: int | None = None):
        m = as_mask_tensor(mask)
        super().__init__(tuple(m.shape))
        self.mask = m
        if coil_maps is None:
            if n_coils is None:
                raise ValueError("give coil_maps (n_coils, H, W) or n_coils to simulate smooth maps.")
            coil_maps = simulate_coil_maps(n_coils, self.image_shape)
        check_tensor("coil_maps", coil_maps, ndim=3, trailing=self.image_shape, what=" (n_coils, H, W)")
        if n_coils is not None and coil_maps.shape[0] != n_coils:
            raise ValueError(f"coil_maps has {coil_maps.shape[0]} coils but n_coils={n_coils}.")
        if not bool(torch.isfinite(coil_maps).all()):
            raise ValueError("coil_maps contain NaN or Inf; estimate them again or mask the background.")
        self.coil_maps = coil_maps.to(complex_dtype(coil_maps.dtype))

    @property
    def n_coils(self) -> int:
        return int(self.coil_maps.shape[0])

    @property
    def measurement_trailing(self) -> tuple[int, ...]:
        return self.image_shape

    @property
    def num_measurements(self) -> int:
        return int(self.mask.sum()) * self.n_coils

    @property
    def sampling_ratio(self) -> float:
        """The mask's sampling ratio (sampled k-space locations / all), the same in every coil."""
        return int(self.mask.sum()) / self.mask.numel()

    def _check_single_channel(self, x: torch.Tensor) -> None:
        if x.shape[1] != 1:
            raise ValueError(f"multi-coil MRI takes single-channel images (B, 1, H, W), got {tuple(x.shape)}; "
                             "combine or split the channels first.")

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_single_channel(x)
        cdt = complex_dtype(x.dtype)
        maps = self._constant("maps", self.coil_maps, x, cdt)
        return fft2c(x.to(cdt) * maps) * self._constant("mask", self.mask, x, real_dtype(x.dtype))

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[1] != self.n_coils:
            raise ValueError(f"y has {y.shape[1]} coils (shape {tuple(y.shape)}) but the operator has "
                             f"{self.n_coils}; measurements are (B, n_coils, H, W).")
        cdt = complex_dtype(y.dtype)
        maps = self._constant("maps", self.coil_maps, y, cdt)
        coil_images = ifft2c(y.to(cdt) * self._constant("mask", self.mask, y, real_dtype(y.dtype)))
        return (maps.conj() * coil_images).sum(dim=1, keepdim=True)

    def project(self, y: torch.Tensor) -> torch.Tensor:
        """Zero the k-space entries the mask does not sample, in every coil."""
        return y * self._constant("mask", self.mask, y, real_dtype(y.dtype))
