"""Parallel-beam CT: the discrete Radon transform as an explicit sparse matrix, and filtered back-projection.

Geometry (scikit-image's ``radon`` / ``iradon`` with ``circle=True``): the rotation centre is pixel
(H // 2, W // 2); with u = col − W // 2 and v = row − H // 2, the ray of angle θ (degrees) and detector
bin d ∈ [0, n_det) is the line t = u cos θ − v sin θ = d − n_det // 2, and the sinogram is

    (A x)[θ, d] = ∫ x(u, v) ds along that line,   shapes (B, C, H, W) → (B, C, n_angles, n_det).

The line integral is discretised by Joseph's method (ray-driven, 1982): the ray steps one pixel row (or
column, whichever axis is closer to the ray's direction) at a time, interpolates the two pixels it passes
between linearly, and weighs each step by its length 1/|cos θ| (or 1/|sin θ|); pixels outside the image
are zero. Each ray step is two non-zeros of a sparse matrix, and A* is the matrix's exact transpose, so
the dot-product test holds to float precision. On the Shepp–Logan phantom the sinogram agrees with
scikit-image's (which rotates the image with bilinear interpolation and sums unit steps) to about 0.3 %.
The default detector has n_det = max(H, W) bins: for a square image this is scikit-image's convention
(n_det = image size); for a non-square image nothing is cropped, the detector spans the longer side, so
every pixel of the disc of diameter max(H, W) around the centre is measured from every angle.

Symmetry makes the matrix four times smaller. Rotating the image by 90° or mirroring it maps a ray of
angle θ ∈ [0°, 180°) to one of angle θ₀ ∈ [0°, 45°] (θ = θ₀, 90° − θ₀, 90° + θ₀ or 180° − θ₀), and an
angle in [180°, 360°) to θ − 180° with the detector reversed. So the operator stores the projector of the
distinct canonical angles θ₀ only, on a (2R + 1)² grid symmetric about the centre (R = max(H, W) // 2;
the image is zero-padded into it), and applies it to the four transformed copies of the image at once:
one sparse-times-dense product with four columns reads the matrix once, which on a CPU costs little more
than one column. Angle sets closed under these symmetries (equispaced sets whose count is a multiple of
4, such as 0:1:179 or the paper's 0:3.6:176.4) need a quarter of the full matrix; any other set works
too. Each canonical angle is projected by rows (|cos θ₀| ≥ |sin θ₀|), so every angle is Joseph's
projector by its dominant axis, with ties at 45° + k·90° resolved by the symmetry.

Filtered back-projection (``fbp``, the naive reconstruction) is scikit-image's ``iradon``: each
projection is convolved, along the detector and with zero padding to P = max(64, 2^⌈log₂ 2 n_det⌉), with
the spatial-domain discretised ramp (h[0] = 1/2, h[k] = −2/(πk)² for odd k, 0 for even k ≠ 0; Kak and
Slaney, eq. 3.61: no DC offset, unlike a sampled |ω|) times an optional window; the filtered sinogram is
back-projected by Aᵀ, scaled by π / (2 n_angles), and pixels outside the reconstruction circle (farther
than n_det // 2 from the centre, not seen from every angle) are set to zero, as ``iradon(circle=True)``.

Matrices are built on first use with numpy/scipy (vectorised; 0.4 s and a 265 MiB numpy peak for 256²
and 180 views), kept as torch CSR tensors with 32-bit indices (several times faster than 64-bit ones),
held by the operator per (device, dtype) for its lifetime, and shared between operators of the same
geometry through a small module-level LRU (``clear_projector_cache`` empties it). For 256² and 180 views
(or 50) the canonical matrix has 5.1 M (1.4 M) non-zeros: 39 MiB (11 MiB) each way in float32. Data
never leave torch, so the operator runs on CUDA as on the CPU, differentiably in reverse and forward mode
(``torch.autograd``, ``torch.func.jvp``/``vjp``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import scipy.sparse as sp
import torch

from .base import LinearOperator, check_tensor, real_dtype
from .sparse import SparseMatrix

FBP_FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")

# Array transforms g of (2R+1, 2R+1, ...) grids symmetric about the centre (dims 0, 1 = rows v, columns u), with
# A_θ x = A_θ₀ (g x) for θ = θ₀, 90° − θ₀, 90° + θ₀ and 180° − θ₀ respectively (θ₀ ∈ [0°, 45°]); and their inverses.
_SYMMETRIES = (
    lambda z: z,                                   # identity
    lambda z: z.flip(0, 1).transpose(0, 1),        # anti-transpose: (g z)[i, j] = z[2R − j, 2R − i]
    lambda z: z.transpose(0, 1).flip(1),           # rotation by 90° clockwise: (g z)[i, j] = z[2R − j, i]
    lambda z: z.flip(1),                           # mirror u → −u: (g z)[i, j] = z[i, 2R − j]
)
_INVERSES = (
    lambda z: z,
    lambda z: z.flip(0, 1).transpose(0, 1),        # an involution
    lambda z: z.transpose(0, 1).flip(0),           # rotation by 90° anticlockwise
    lambda z: z.flip(1),                           # an involution
)
_CACHE_SIZE = 4


def _as_angles(angles: object) -> torch.Tensor:
    """Projection angles in degrees as a 1-d float64 CPU tensor, from an int, a sequence or ``.angles``."""
    if isinstance(angles, bool):
        raise TypeError("angles must be an int (number of views over [0°, 180°)), a 1-d sequence or tensor "
                        "of angles in degrees, or an object with an .angles attribute; got a bool.")
    if isinstance(angles, (int, np.integer)):
        angles = int(angles)
        if angles < 1:
            raise ValueError(f"angles={angles}: the number of views must be at least 1 (an empty angle set "
                             "measures nothing); e.g. angles=180 for 0°, 1°, ..., 179°.")
        return torch.arange(angles, dtype=torch.float64) * (180.0 / angles)
    angles = getattr(angles, "angles", angles)
    if isinstance(angles, torch.Tensor):
        theta = angles.detach().cpu()
        if theta.is_complex() or theta.dtype == torch.bool:
            raise TypeError(f"angles must hold real numbers (degrees), got dtype {theta.dtype}.")
    else:
        array = np.asarray(angles)
        if array.dtype.kind not in "iuf":
            raise TypeError(f"angles must be an int, a 1-d sequence or tensor of angles in degrees, or an object "
                            f"with an .angles attribute; got {type(angles).__name__} of dtype {array.dtype}.")
        theta = torch.from_numpy(array.astype(np.float64))
    if theta.dim() != 1:
        raise ValueError(f"angles must be 1-d (one angle per view, in degrees), got shape {tuple(theta.shape)}; "
                         "wrap a single angle in a list, e.g. angles=[30.0].")
    if theta.numel() == 0:
        raise ValueError("angles is empty: an empty angle set measures nothing; give at least one angle "
                         "(e.g. angles=50 for 50 equispaced views).")
    theta = theta.to(torch.float64)
    if not bool(torch.isfinite(theta).all()):
        raise ValueError(f"angles must be finite (degrees), got {theta[~torch.isfinite(theta)].tolist()} "
                         "among them; drop or replace the NaN/Inf entries.")
    return theta


def _canonical_angle(theta: float) -> tuple[float, int, bool]:
    """(θ₀ ∈ [0°, 45°], symmetry index g, detector reversed) with A_θ x = A_θ₀ (g x), reversed if asked."""
    phi = theta % 360.0
    reverse = phi >= 180.0
    if reverse:
        phi -= 180.0
    if phi <= 45.0:
        theta0, g = phi, 0
    elif phi <= 90.0:
        theta0, g = 90.0 - phi, 1
    elif phi <= 135.0:
        theta0, g = phi - 90.0, 2
    else:
        theta0, g = 180.0 - phi, 3
    return round(theta0, 9), g, reverse  # one representative for angles equal up to rounding


def _joseph_csr(radius: int, half_det: int, angles: tuple[float, ...]) -> sp.csr_matrix:
    """Joseph's projector of angles θ₀ ∈ [0°, 45°] on the (2R+1)² grid, detector bins t ∈ [−T, T].

    Rows are rays (angle-major: row = a·(2T+1) + t + T), columns grid pixels (row-major). The ray
    t = u cos θ₀ − v sin θ₀ crosses grid row v at u = (t + v sin θ₀) / cos θ₀; it takes the two pixels
    around u with linear weights, times the step length 1 / cos θ₀. Entries come out in CSR order.
    """
    m = 2 * radius + 1
    theta = np.deg2rad(np.asarray(angles, dtype=np.float64)).reshape(-1, 1, 1)
    cos, sin = np.cos(theta), np.sin(theta)
    t = np.arange(-half_det, half_det + 1, dtype=np.float64).reshape(1, -1, 1)
    v = np.arange(-radius, radius + 1, dtype=np.float64).reshape(1, 1, -1)
    col = (t + v * sin) / cos + radius                             # (n_angles, 2T+1, m)
    left = np.floor(col)
    frac = col - left
    left = left.astype(np.int64)
    row_start = (np.arange(m, dtype=np.int64) * m).reshape(1, 1, -1)
    cols = np.stack((row_start + left, row_start + left + 1), axis=-1)
    vals = np.stack((1.0 - frac, frac), axis=-1) / cos[..., None]
    keep = np.stack(((left >= 0) & (left < m), (left + 1 >= 0) & (left + 1 < m) & (frac > 0)), axis=-1)
    n_rays = len(angles) * (2 * half_det + 1)
    indptr = np.zeros(n_rays + 1, dtype=np.int64)
    np.cumsum(keep.reshape(n_rays, -1).sum(axis=1), out=indptr[1:])
    return sp.csr_matrix((vals[keep], cols[keep].astype(np.int32), indptr), shape=(n_rays, m * m))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _projector(radius: int, half_det: int, angles: tuple[float, ...]) -> SparseMatrix:
    """The canonical projector of one geometry, shared by operators of that geometry (an operator keeps its own
    reference, so alternating more geometries than the cache holds never rebuilds a matrix in use)."""
    return SparseMatrix(_joseph_csr(radius, half_det, angles))


def clear_projector_cache() -> None:
    """Forget the shared projection matrices (operators still holding one keep it)."""
    _projector.cache_clear()


class ParallelBeamRadon(LinearOperator):
    """Parallel-beam CT, y = A x: the Radon transform of (B, C, H, W) images at the given angles.

    ``image_shape`` is (H, W) or one int for square images. ``angles`` is an int n (n views equispaced
    over [0°, 180°): θ_j = j · 180° / n, e.g. 50 for the paper's Ell 50 / Med 50 networks, θ = 0:3.6:176.4),
    a 1-d sequence or tensor of angles in degrees, or an object with an ``.angles`` attribute such as
    :func:`pytest_stability.masks.angle_subset`'s result. ``n_detectors`` defaults to max(H, W).

    Images are real (float32/float64; complex images are mapped part by part, A being real), sinograms
    (B, C, n_angles, n_det) in the image's dtype, matching scikit-image's ``radon(image, theta).T``
    (see the module docstring for the geometry and discretisation). ``naive`` is filtered
    back-projection (:meth:`fbp`).
    """

    domain_is_complex = False
    measurement_layout = "(B, C, n_angles, n_det) sinograms"

    def __init__(self, image_shape: int | tuple[int, int], angles: object = 180, *, n_detectors: int | None = None):
        if isinstance(image_shape, int) and not isinstance(image_shape, bool):
            image_shape = (image_shape, image_shape)
        super().__init__(tuple(image_shape))
        h, w = self.image_shape
        self.angles = _as_angles(angles)
        if n_detectors is None:
            n_detectors = max(h, w)
        if isinstance(n_detectors, bool) or not isinstance(n_detectors, int) or n_detectors < 1:
            raise ValueError(f"n_detectors must be a positive int, got {n_detectors!r}; leave it out for "
                             f"max(H, W) = {max(h, w)} bins (scikit-image's convention for square images).")
        self.n_detectors = n_detectors
        self._radius = max(h, w) // 2
        self._half_det = n_detectors // 2
        canonical = [_canonical_angle(float(a)) for a in self.angles]
        self._canonical_angles = tuple(sorted({c[0] for c in canonical}))
        self._projector = _projector(self._radius, self._half_det, self._canonical_angles)
        self._n_rays = len(self._canonical_angles) * (2 * self._half_det + 1)
        self._ray_index = self._ray_indices(canonical)
        r = self._radius
        self._padding = (r - w // 2, r - (w - 1 - w // 2), r - h // 2, r - (h - 1 - h // 2))  # left, right, top, bottom
        v, u = torch.arange(h).view(-1, 1) - h // 2, torch.arange(w).view(1, -1) - w // 2
        self._circle = u**2 + v**2 <= self._half_det**2          # pixels seen from every angle
        self._filters: dict[str, torch.Tensor] = {}

    # -- index map between the canonical product and the sinogram ----------------------------------------
    def _ray_indices(self, canonical: list[tuple[float, int, bool]]) -> torch.Tensor:
        """For each (angle, bin) of the sinogram, its row of the canonical product viewed as (rays·4, ·)."""
        n_bins = 2 * self._half_det + 1
        position = {theta0: i for i, theta0 in enumerate(self._canonical_angles)}
        theta0_index = torch.tensor([position[c[0]] for c in canonical], dtype=torch.int64).view(-1, 1)
        copy = torch.tensor([c[1] for c in canonical], dtype=torch.int64).view(-1, 1)
        sign = torch.tensor([-1 if c[2] else 1 for c in canonical], dtype=torch.int64).view(-1, 1)
        t = torch.arange(self.n_detectors, dtype=torch.int64).view(1, -1) - self._half_det
        return ((theta0_index * n_bins + self._half_det + sign * t) * len(_SYMMETRIES) + copy).reshape(-1)

    # -- the interface -------------------------------------------------------------------------------------
    @property
    def n_angles(self) -> int:
        return int(self.angles.numel())

    @property
    def measurement_trailing(self) -> tuple[int, ...]:
        return (self.n_angles, self.n_detectors)

    @property
    def num_measurements(self) -> int:
        return self.n_angles * self.n_detectors

    def matrix_nbytes(self, dtype: torch.dtype = torch.float32) -> int:
        """Bytes held by the projector and its transpose in ``dtype`` on one device (built if needed)."""
        return self._projector.nbytes(dtype)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.is_complex():
            return torch.complex(self._forward(x.real), self._forward(x.imag))
        b, c, h, w = x.shape
        grid = torch.nn.functional.pad(x.reshape(b * c, h, w), self._padding).permute(1, 2, 0).contiguous()
        copies = torch.stack([g(grid) for g in _SYMMETRIES], dim=2)                      # (m, m, 4, B·C)
        rays = self._projector.matmul(copies.reshape(grid.shape[0] ** 2, -1))
        ray_index = self._constant("ray_index", self._ray_index, x, torch.int64)
        sinograms = rays.reshape(-1, b * c).index_select(0, ray_index)                  # (n_angles·n_det, B·C)
        return sinograms.t().reshape(b, c, self.n_angles, self.n_detectors)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        if y.is_complex():
            return torch.complex(self._adjoint(y.real), self._adjoint(y.imag))
        b, c = y.shape[:2]
        h, w = self.image_shape
        ray_index = self._constant("ray_index", self._ray_index, y, torch.int64)
        rays = y.new_zeros((self._n_rays * len(_SYMMETRIES), b * c))
        rays = rays.index_add(0, ray_index, y.reshape(b * c, -1).t())
        copies = self._projector.matmul(rays.reshape(self._n_rays, -1), adjoint=True)
        m = 2 * self._radius + 1
        copies = copies.reshape(m, m, len(_SYMMETRIES), b * c)
        grid = sum(inverse(copies[:, :, g]) for g, inverse in enumerate(_INVERSES))       # (m, m, B·C)
        left, _, top, _ = self._padding
        return grid[top:top + h, left:left + w].permute(2, 0, 1).reshape(b, c, h, w)

    # -- filtered back-projection ----------------------------------------------------------------------------
    def fbp(self, y: torch.Tensor, filter_name: str = "ramp", *, circle: bool = True) -> torch.Tensor:
        """Filtered back-projection of sinograms y (B, C, n_angles, n_det): scikit-image's ``iradon``.

        x̂ = ½ Aᵀ (w ⊙ (h * y)), with h the discretised ramp filter along the detector times the window
        ``filter_name`` (one of :data:`FBP_FILTERS`) and w_j the angular width (radians) each view stands for:
        half the gap to its neighbours on the half circle, so π / n_angles for equispaced angles (exactly
        scikit-image's π / (2 n_angles) scaling) and the right quadrature weight for irregular angle sets such as
        nested subsets, which an equal weight per view would distort. ``circle`` zeroes the pixels outside the
        reconstruction circle (radius n_det // 2 around the centre), as ``iradon(circle=True)``.
        Differentiable; real y gives real images, complex y filters real and imaginary parts alike.
        """
        check_tensor("y", y, ndim=4, trailing=self.measurement_trailing, what=f" {self.measurement_layout}")
        if filter_name not in self._filters:
            size = max(64, 2 ** math.ceil(math.log2(2 * self.n_detectors)))
            self._filters[filter_name] = fourier_filter(size, filter_name)
        response = self._constant(f"filter-{filter_name}", self._filters[filter_name], y, real_dtype(y.dtype))
        size = response.numel()
        filtered = torch.fft.ifft(torch.fft.fft(y, n=size, dim=-1) * response, dim=-1)[..., :self.n_detectors]
        weights = self._constant("view-weights", self._view_weights, y, real_dtype(y.dtype)).view(-1, 1)
        image = self._adjoint((filtered if y.is_complex() else filtered.real) * weights)
        if circle:
            image = image * self._constant("circle", self._circle, y, real_dtype(y.dtype))
        return image

    @functools.cached_property
    def _view_weights(self) -> torch.Tensor:
        """½ × the angular width of every view: half the gap between its neighbours on the half circle (radians)."""
        theta = torch.deg2rad(self.angles % 180.0)
        order = torch.argsort(theta)
        ordered = theta[order]
        gaps = torch.diff(ordered, append=ordered[:1] + math.pi)  # gap to the next view, wrapping at π
        width = (gaps + gaps.roll(1)) / 2  # half of the gap before plus half of the gap after
        weights = torch.empty_like(width)
        weights[order] = width / 2
        return weights

    def naive(self, y: torch.Tensor) -> torch.Tensor:
        """Filtered back-projection with the ramp filter (:meth:`fbp`), the input of FBPConvNet-type networks."""
        return self.fbp(y)

    def __repr__(self) -> str:
        return (f"ParallelBeamRadon(image_shape={self.image_shape}, n_angles={self.n_angles}, "
                f"n_detectors={self.n_detectors})")


def fourier_filter(size: int, filter_name: str = "ramp") -> torch.Tensor:
    """Frequency response (size,) float64 of the FBP filter, in ``torch.fft.fft`` order (scikit-image's).

    The ramp is the DFT of the spatial-domain discretised ramp h[0] = 1/2, h[±k] = −2/(πk)² for odd k
    (zero for even k ≠ 0), which has no DC offset; the windows multiply it: 'shepp-logan' by
    sin(πf)/(πf), 'cosine' by cos(πf), 'hamming' and 'hann' by those windows (f in cycles per bin).
    """
    if filter_name not in FBP_FILTERS:
        raise ValueError(f"filter_name={filter_name!r} is not an FBP filter; choose one of {FBP_FILTERS}.")
    if size < 2 or size % 2:
        raise ValueError(f"size must be an even int >= 2 (the zero-padded detector length), got {size!r}.")
    kernel = torch.zeros(size, dtype=torch.float64)
    kernel[0] = 0.25
    odd = torch.cat((torch.arange(1, size // 2 + 1, 2), torch.arange(size // 2 - 1, 0, -2))).to(torch.float64)
    kernel[1::2] = -1.0 / (math.pi * odd) ** 2
    response = 2.0 * torch.fft.fft(kernel).real
    if filter_name == "shepp-logan":
        omega = math.pi * torch.fft.fftfreq(size, dtype=torch.float64)[1:]
        response[1:] *= torch.sin(omega) / omega
    elif filter_name == "cosine":
        response *= torch.fft.fftshift(torch.sin(torch.arange(size, dtype=torch.float64) * (math.pi / size)))
    elif filter_name == "hamming":
        response *= torch.fft.fftshift(torch.hamming_window(size, periodic=False, dtype=torch.float64))
    elif filter_name == "hann":
        response *= torch.fft.fftshift(torch.hann_window(size, periodic=False, dtype=torch.float64))
    return response

