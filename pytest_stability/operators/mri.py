"""Cartesian MRI: single-coil and multi-coil (SENSE) subsampled Fourier operators.

Convention (fastMRI's): k-space is *centred*, the zero frequency at (H // 2, W // 2), and the 2D DFT is
orthonormal, F = fftshift ∘ fft2(norm="ortho") ∘ ifftshift. Measurements are k-space grids of the image's
size that vanish off the sampling mask M (fastMRI's ``masked_kspace``); that set is the measurement space,
and ``project`` maps any grid onto it.

Single coil:  A x = M ⊙ F x,            A* y = F⁻¹ (M ⊙ y),     so A A* = I on the measurement space.
Multi coil:   (A x)_c = M ⊙ F (S_c x),  A* y = Σ_c conj(S_c) F⁻¹ (M ⊙ y_c), with Σ_c |S_c|² = 1 so ‖A‖ ≤ 1.

Coil maps are shared by every image (n_coils, H, W) or given per image (B, n_coils, H, W), as per-slice
sensitivities are; an operator with per-image maps measures exactly its B images, in order, and
:func:`for_images` selects the operator for some of them, so that a map follows its image wherever a batch
is split, indexed or repeated.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch

from .base import LinearOperator, check_tensor, complex_dtype, real_dtype

_DIMS = (-2, -1)


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Centred orthonormal 2D DFT over the last two dimensions."""
    return torch.fft.fftshift(torch.fft.fft2(torch.fft.ifftshift(x, dim=_DIMS), norm="ortho"), dim=_DIMS)


def ifft2c(k: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft2c` (and its adjoint: the transform is unitary)."""
    return torch.fft.fftshift(torch.fft.ifft2(torch.fft.ifftshift(k, dim=_DIMS), norm="ortho"), dim=_DIMS)


def centring(image_shape: tuple[int, int]) -> torch.Tensor | None:
    """The checkerboard c[m, n] = (−1)^(m + n) that makes the shifts of the centred DFT two sign flips, for even
    H and W (None otherwise): then fft2c(x) = σ c ⊙ fft2(c ⊙ x) and ifft2c(k) = σ c ⊙ ifft2(c ⊙ k) with
    σ = (−1)^((H + W) / 2). The MRI operators fold c into the coil maps and σ c into the mask, so A and A* cost
    one FFT and two products instead of also two full copies (measured: 15-coil 320² A, 142 → 69 ms)."""
    h, w = image_shape
    if h % 2 or w % 2:
        return None
    m, n = torch.arange(h).view(h, 1), torch.arange(w).view(1, w)
    return 1.0 - 2.0 * ((m + n) % 2).double()


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


def _centring_constant(op: LinearOperator, like: torch.Tensor) -> torch.Tensor | None:
    """:func:`centring` of ``op``'s image shape on ``like``'s device in its real dtype (None for odd sizes)."""
    if any(n % 2 for n in op.image_shape):
        return None
    key = ("centring", like.device, real_dtype(like.dtype))
    if key not in op._constants:
        op._constants[key] = centring(op.image_shape).to(like.device, real_dtype(like.dtype))
    return op._constants[key]


def _signed_mask(op: LinearOperator, like: torch.Tensor) -> torch.Tensor:
    """σ c ⊙ M (see :func:`centring`): the mask that also undoes the shifts of the centred DFT."""
    key = ("signed_mask", like.device, real_dtype(like.dtype))
    if key not in op._constants:
        h, w = op.image_shape
        sign = -1.0 if (h + w) // 2 % 2 else 1.0
        op._constants[key] = (sign * centring(op.image_shape) * op.mask).to(like.device, real_dtype(like.dtype))
    return op._constants[key]


class SingleCoilMRI(LinearOperator):
    """Single-coil Cartesian MRI, A x = M ⊙ F x with the centred orthonormal DFT F.

    Images are (B, C, H, W), real or complex (real images are measured as complex ones); measurements
    are complex k-space grids of the same shape that vanish off the mask. Because F is unitary and M a
    projection, A A* = I on the measurement space and ‖A‖ = 1: the operator of the paper's Deep MRI,
    DAGAN and (up to AUTOMAP's scale factor 0.48) AUTOMAP experiments. ``low_frequencies`` is the width of
    the mask's fully sampled centre block (the ACS lines, fastMRI's ``num_low_frequencies``) when the mask
    function reported it (``SamplingMask.low_frequencies``), else None.
    """

    measurement_layout = "(B, C, H, W) complex k-space"

    def __init__(self, mask: object):
        m = as_mask_tensor(mask)
        super().__init__(tuple(m.shape))
        self.mask = m
        self.low_frequencies: int | None = getattr(mask, "low_frequencies", None)

    @property
    def measurement_trailing(self) -> tuple[int, ...]:
        return self.image_shape

    @property
    def num_measurements(self) -> int:
        return int(self.mask.sum())

    def _mask(self, like: torch.Tensor) -> torch.Tensor:
        return self._constant("mask", self.mask, like, real_dtype(like.dtype))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(complex_dtype(x.dtype))
        c = _centring_constant(self, x)
        if c is None:
            return fft2c(x) * self._mask(x)
        return torch.fft.fft2(x * c, norm="ortho") * _signed_mask(self, x)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        y = y.to(complex_dtype(y.dtype))
        c = _centring_constant(self, y)
        if c is None:
            return ifft2c(y * self._mask(y))
        return torch.fft.ifft2(y * _signed_mask(self, y), norm="ortho") * c

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
    maps are given by the user (e.g. ESPIRiT maps; they are used as given) or simulated with ``n_coils``
    (smooth maps normalised to Σ|S_c|² = 1; the paper's MRI-VN used 15 coils). Given maps are
    (n_coils, H, W), shared by every image, or (B, n_coils, H, W), one set per image (per-slice
    sensitivities): the operator then measures exactly B images, image b under maps b, and
    :meth:`for_images` gives the operator of a subset, a reordering or a repetition of them. The naive
    reconstruction is the coil-combined zero-filled image A* y = Σ_c conj(S_c) F⁻¹(M ⊙ y_c).
    ``low_frequencies`` as for :class:`SingleCoilMRI`.
    """

    measurement_layout = "(B, n_coils, H, W) complex k-space"

    def __init__(self, mask: object, coil_maps: torch.Tensor | None = None, *, n_coils: int | None = None):
        m = as_mask_tensor(mask)
        super().__init__(tuple(m.shape))
        self.mask = m
        self.low_frequencies: int | None = getattr(mask, "low_frequencies", None)
        if coil_maps is None:
            if n_coils is None:
                raise ValueError("give coil_maps (n_coils, H, W) or n_coils to simulate smooth maps.")
            coil_maps = simulate_coil_maps(n_coils, self.image_shape)
        what = " (n_coils, H, W), or (B, n_coils, H, W) with one set of maps per image"
        check_tensor("coil_maps", coil_maps, trailing=self.image_shape, what=what)
        if coil_maps.dim() not in (3, 4):
            raise ValueError(f"coil_maps must have 3 or 4 dimensions{what}, got shape {tuple(coil_maps.shape)}.")
        if n_coils is not None and coil_maps.shape[-3] != n_coils:
            raise ValueError(f"coil_maps has {coil_maps.shape[-3]} coils but n_coils={n_coils}.")
        if not bool(torch.isfinite(coil_maps).all()):
            raise ValueError("coil_maps contain NaN or Inf; estimate them again or mask the background.")
        self._maps = coil_maps.to(complex_dtype(coil_maps.dtype))  # as given: shared, or one set per image
        c = centring(self.image_shape)  # folded into the maps that A and A* use (None: odd sizes, shifts kept)
        self._centred_maps = None if c is None else self._maps * c.to(self._maps.device, self._maps.real.dtype)
        self._root = self  # the operator whose per-image maps this one selects from
        self._index: torch.Tensor | None = None  # which of the root's images this one measures (None: all)

    @property
    def coil_maps(self) -> torch.Tensor:
        """S: (n_coils, H, W) shared by every image, or (B, n_coils, H, W) per image."""
        return self._maps if self._index is None else self._maps[self._index]

    @property
    def n_images(self) -> int | None:
        """How many images the per-image maps belong to; None when the maps are shared by every image."""
        if self._maps.dim() == 3:
            return None
        return self._maps.shape[0] if self._index is None else self._index.numel()

    @property
    def n_coils(self) -> int:
        return int(self._maps.shape[-3])

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

    def for_images(self, index: slice | Sequence[int] | torch.Tensor) -> MultiCoilMRI:
        """The operator for images ``index`` (a slice, or positions that may repeat) of the batch this one
        measures: with per-image maps, image ``index[i]``'s maps measure the i-th image; shared maps: ``self``."""
        n = self.n_images
        if n is None:
            return self
        positions = torch.arange(n)[index.cpu() if isinstance(index, torch.Tensor) else index]
        if positions.dim() != 1:
            raise ValueError(f"for_images takes a slice or a 1D sequence of image positions, got {index!r}.")
        if positions.numel() == n and torch.equal(positions, torch.arange(n)):
            return self
        sub = copy.copy(self)
        sub._constants = {key: value for key, value in self._constants.items() if key[0] != "maps"}
        sub._index = positions if self._index is None else self._index[positions]
        return sub

    def norm(self, *, iterations: int = 50, seed: int = 0, device: torch.device | str | None = None,
             dtype: torch.dtype | None = None) -> float:
        """‖A‖; with per-image maps the largest ‖A_b‖ over the images the maps were given for (an operator from
        :meth:`for_images` reports that of the whole batch: a bound, all that step sizes need), by power
        iteration on the block-diagonal A* A of that batch (double precision on the CPU by default)."""
        root = self._root
        if root._maps.dim() == 3:
            return super().norm(iterations=iterations, seed=seed, device=device, dtype=dtype)
        if root._norm is None:
            gen = torch.Generator().manual_seed(seed)
            x = torch.randn((root._maps.shape[0], 1, *self.image_shape), generator=gen,
                            dtype=complex_dtype(dtype or torch.float64)).to(device or "cpu")
            with torch.no_grad():
                for _ in range(iterations):
                    x = root.adjoint(root.forward(x / torch.linalg.vector_norm(x)))
            root._norm = math.sqrt(float(torch.linalg.vector_norm(x)))
        return root._norm

    def _coil_maps(self, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """S (c ⊙ S for even sizes, see :func:`centring`) on ``like``'s device in ``dtype`` (selected from the root's
        copy there), checked against the batch."""
        n = self.n_images
        if n is not None and like.shape[0] != n:
            raise ValueError(f"this MultiCoilMRI has coil maps for {n} images (one set per image) but got a batch of "
                             f"{like.shape[0]}; it measures exactly its own images, in order: select the operator of "
                             "a subset or a repetition with operator.for_images(index).")
        key = ("maps", like.device, dtype)
        if key not in self._constants:
            root = self._root
            maps = root._constant("maps", root._maps if root._centred_maps is None else root._centred_maps, like,
                                  dtype)
            self._constants[key] = maps if self._index is None else maps[self._index.to(like.device)]
        maps = self._constants[key]
        return maps.unsqueeze(0) if maps.dim() == 3 else maps

    def _check_single_channel(self, x: torch.Tensor) -> None:
        if x.shape[1] != 1:
            raise ValueError(f"multi-coil MRI takes single-channel images (B, 1, H, W), got {tuple(x.shape)}; "
                             "combine or split the channels first.")

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_single_channel(x)
        cdt = complex_dtype(x.dtype)
        if self._centred_maps is None:
            mask = self._constant("mask", self.mask, x, real_dtype(x.dtype))
            return fft2c(x.to(cdt) * self._coil_maps(x, cdt)) * mask
        return torch.fft.fft2(x.to(cdt) * self._coil_maps(x, cdt), norm="ortho") * _signed_mask(self, x)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[1] != self.n_coils:
            raise ValueError(f"y has {y.shape[1]} coils (shape {tuple(y.shape)}) but the operator has "
                             f"{self.n_coils}; measurements are (B, n_coils, H, W).")
        cdt = complex_dtype(y.dtype)
        if self._centred_maps is None:
            coil_images = ifft2c(y.to(cdt) * self._constant("mask", self.mask, y, real_dtype(y.dtype)))
        else:
            coil_images = torch.fft.ifft2(y.to(cdt) * _signed_mask(self, y), norm="ortho")
        return (self._coil_maps(y, cdt).conj() * coil_images).sum(dim=1, keepdim=True)

    def project(self, y: torch.Tensor) -> torch.Tensor:
        """Zero the k-space entries the mask does not sample, in every coil."""
        return y * self._constant("mask", self.mask, y, real_dtype(y.dtype))


def for_images(operator: LinearOperator, index: slice | Sequence[int] | torch.Tensor) -> LinearOperator:
    """``operator`` for images ``index`` of its batch: a :class:`MultiCoilMRI` with per-image coil maps selects
    theirs (:meth:`MultiCoilMRI.for_images`); any other operator measures every image alike and is returned."""
    select = getattr(operator, "for_images", None)
    return operator if select is None else select(index)
