"""The linear-operator interface every sampling model implements.

Vocabulary (deepinv's, which MRI and CT users know):

* ``A(x)`` or ``A.forward(x)``: the measurements y = A x of a batch of images x, shape (B, C, H, W);
* ``A.adjoint(y)``: A* y, exact to float precision (every operator has a dot-product test);
* ``A.naive(y)``: the naive reconstruction a network usually takes as input (zero-filled A* y for MRI,
  filtered back-projection for CT);
* ``A.project(y)``: the orthogonal projection onto the measurement space (zeroes the k-space entries a
  mask does not sample), used to keep measurement-domain perturbations e physical;
* ``A.norm()``: the operator norm ‖A‖, estimated by power iteration on A* A.

Operators are descriptions, not modules: their constant tensors (masks, coil maps, projection matrices)
follow the data to its device and dtype on first use and are cached there, so one operator serves CPU
and CUDA batches alike. Everything is batched over the leading dimension and differentiable by autograd.
"""

from __future__ import annotations

import math

import torch

_REAL_TO_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}
_COMPLEX_TO_REAL = {v: k for k, v in _REAL_TO_COMPLEX.items()}
SUPPORTED_DTYPES = tuple(_REAL_TO_COMPLEX) + tuple(_COMPLEX_TO_REAL)


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype of the same precision (float32 -> complex64, complex128 -> complex128)."""
    return dtype if dtype.is_complex else _REAL_TO_COMPLEX[dtype]


def real_dtype(dtype: torch.dtype) -> torch.dtype:
    """The real dtype of the same precision (complex64 -> float32, float64 -> float64)."""
    return _COMPLEX_TO_REAL[dtype] if dtype.is_complex else dtype


def check_tensor(name: str, t: object, *, ndim: int | None = None, trailing: tuple[int, ...] | None = None,
                 what: str = "") -> torch.Tensor:
    """Refuse what an operator cannot take, naming the argument, what it got and the fix.

    Only metadata is inspected (type, rank, shape, dtype), so the check costs nothing in a search loop.
    """
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor{what}, got {type(t).__name__}; "
                        f"convert with torch.as_tensor(...).")
    if t.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} has dtype {t.dtype}; operators take float32/float64 or complex64/complex128 "
                        f"tensors. Cast with {name}.float() (or .to(torch.complex64)).")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions{what}, got shape {tuple(t.shape)}.")
    if trailing is not None and tuple(t.shape[-len(trailing):]) != tuple(trailing):
        raise ValueError(f"{name} has shape {tuple(t.shape)}, but this operator expects trailing dimensions "
                         f"{tuple(trailing)}{what}.")
    return t


class LinearOperator:
    """A linear map from images (B, C, H, W) to measurements, with its adjoint.

    Subclasses implement ``_forward`` and ``_adjoint`` on validated, batched tensors and may override
    ``naive`` and ``project``. ``image_shape`` is (H, W); ``domain_is_complex`` says whether the
    natural image space is C^N (MRI) or R^N (CT), which the norm estimate and searches use.

    ``dtype`` and ``device`` say where an operator made of the user's code runs: the dtype and device of the
    first images it was given (a float32-only projector: float32). The library's own computations with the
    operator (the norm estimate, the dot-product test) run there, so such an operator only ever sees the
    data's dtype. They are None for operators that follow the data to any dtype and device (every built-in
    one), whose own computations run in double precision on the CPU.
    """

    image_shape: tuple[int, int]
    domain_is_complex: bool = True
    dtype: torch.dtype | None = None
    device: torch.device | None = None

    def __init__(self, image_shape: tuple[int, int]):
        if len(image_shape) != 2 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W) with positive sizes, got {image_shape!r}.")
        self.image_shape = (int(image_shape[0]), int(image_shape[1]))
        self._constants: dict[tuple, torch.Tensor] = {}
        self._norm: float | None = None

    # -- the interface ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = A x for images x of shape (B, C, H, W)."""
        check_tensor("x", x, ndim=4, trailing=self.image_shape, what=" (B, C, H, W) images")
        return self._forward(x)

    __call__ = forward

    def adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """A* y: the adjoint, exact to float precision, mapping measurements back to images."""
        trailing = self.measurement_trailing
        check_tensor("y", y, ndim=2 + len(trailing), trailing=trailing,
                     what=f" measurements {self.measurement_layout}")
        return self._adjoint(y)

    def naive(self, y: torch.Tensor) -> torch.Tensor:
        """The naive reconstruction a network takes as input; A* y unless the modality has better."""
        return self.adjoint(y)

    def project(self, y: torch.Tensor) -> torch.Tensor:
        """Orthogonal projection onto the measurement space (identity unless some entries are unsampled)."""
        return y

    @property
    def measurement_trailing(self) -> tuple[int, ...]:
        """Dimensions after (batch, channel) of a measurement tensor: (H, W) k-space, (n_angles, n_det), (m,).

        Measurements are (B, C, *measurement_trailing); for multi-coil MRI the channel axis holds the coils.
        """
        raise NotImplementedError

    measurement_layout: str = "(B, C, ...)"

    @property
    def num_measurements(self) -> int:
        """m: how many (complex or real) numbers one single-channel image is measured by."""
        raise NotImplementedError

    @property
    def sampling_ratio(self) -> float:
        """m / N: measurements per image pixel; MRI operators report their mask's achieved sampling ratio."""
        return self.num_measurements / (self.image_shape[0] * self.image_shape[1])

    def norm(self, *, iterations: int = 50, seed: int = 0, device: torch.device | str | None = None,
             dtype: torch.dtype | None = None) -> float:
        """‖A‖ by power iteration on A* A from a seeded random start (cached after the first call).

        Power iteration approaches ‖A‖ from below; 50 iterations bring a well-separated top singular
        value to float precision. Step sizes of the CS baselines are derived from it. It runs on
        ``device`` in the precision of ``dtype`` (complex for a complex domain), by default the operator's
        own (:attr:`dtype`, :attr:`device`) or float64 on the CPU. On a real domain A* is taken as Re A*,
        the adjoint of A restricted to real images.
        """
        if self._norm is None:
            gen = torch.Generator().manual_seed(seed)
            is_complex = self.domain_is_complex  # first: for a user's operator it may probe, which sets its dtype
            precision = dtype or self.dtype or torch.float64
            precision = complex_dtype(precision) if is_complex else real_dtype(precision)
            x = torch.randn((1, 1, *self.image_shape), generator=gen, dtype=precision)
            x = x.to(device or self.device or "cpu")
            value = 0.0
            with torch.no_grad():
                for _ in range(iterations):
                    x = x / torch.linalg.vector_norm(x)
                    x = self.adjoint(self.forward(x))
                    x = x if is_complex else x.real
                    value = float(torch.linalg.vector_norm(x))
            self._norm = math.sqrt(value)
        return self._norm

    # -- helpers for subclasses ------------------------------------------------------------------
    def _constant(self, name: str, value: torch.Tensor, like: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``value`` on ``like``'s device in ``dtype``, cached so a search loop copies it once."""
        key = (name, like.device, dtype)
        cached = self._constants.get(key)
        if cached is None:
            cached = value.to(device=like.device, dtype=dtype)
            self._constants[key] = cached
        return cached

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_shape={self.image_shape}, sampling_ratio={self.sampling_ratio:.4f})"
