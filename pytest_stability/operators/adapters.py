"""Adapters that turn a user's own forward model into a :class:`LinearOperator`.

* :class:`FunctionOperator`: a pair of callables (forward, adjoint), e.g. a scanner vendor's simulator or a
  GPU projector;
* :class:`MatrixOperator`: an explicit (m, N) matrix — dense torch or numpy, or scipy-sparse — acting on
  the flattened image (row-major over (H, W)), as the paper's own CT code did with its Radon matrix;
* :class:`~.deepinv.DeepinvOperator`: a deepinv ``Physics`` object (see :mod:`.deepinv`);
* :func:`~.convert.as_operator` (in :mod:`.convert`, which builds on this module and :mod:`.deepinv`): picks
  the right adapter for whatever it is given.

A user's operator is called only in the dtype of the data and on its device: float32 images reach it as
float32 (never float64), real images as real (never complex). The library's own computations with it (the
norm estimate behind the CS baselines' step sizes, the dot-product test) run in the dtype and on the device
of the first images it was given (:attr:`LinearOperator.dtype`, :attr:`LinearOperator.device`).

The adjoint a user supplies is trusted, not derived: run :func:`adjointness_error` once on your operator
(the test suite does so for every built-in one) before relying on a stability verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..memory import is_out_of_memory
from .base import LinearOperator, check_tensor, complex_dtype
from .sparse import SparseMatrix

# the probe's dtypes, in order: real before complex, so an operator of real images is never handed complex ones
PROBE_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


class OperatorError(RuntimeError):
    """The user's forward or adjoint callable raised; the message says what it was called with and the fix."""


class FunctionOperator(LinearOperator):
    """A linear operator from two callables: ``forward(x)`` and its exact ``adjoint(y)``.

    Both must take and return batched tensors: images (B, C, H, W) and measurements (B, C, ...), C the
    channels (or the coils of multi-coil MRI). They are called only in the dtype of the data (see the module
    docstring). ``domain_is_complex`` says whether the images are complex (C^N, MRI) or real (R^N, CT); by
    default it is found from the operator: a forward that maps real images to real measurements acts on R^N,
    one that returns complex measurements (a Fourier transform) or takes only complex images on C^N. The
    measurement layout, the domain, ``dtype`` and ``device`` are learnt from the first forward call; when one
    is needed before any data (e.g. for ``sampling_ratio``), a probe calls forward on zeros (1, 1, H, W) on
    the CPU in the first dtype of :data:`PROBE_DTYPES` it takes (real ones only when
    ``domain_is_complex=False``). An operator that takes only CUDA tensors is taught by calling it once on
    your images (``A(x)``) before the test.
    ``naive`` (optional) is the naive reconstruction a network takes as input; A* y when omitted.
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor],
                 adjoint: Callable[[torch.Tensor], torch.Tensor], image_shape: tuple[int, int], *,
                 naive: Callable[[torch.Tensor], torch.Tensor] | None = None, domain_is_complex: bool | None = None):
        if not callable(forward) or not callable(adjoint):
            raise TypeError("FunctionOperator needs callables forward(x) and adjoint(y).")
        if domain_is_complex is not None and not isinstance(domain_is_complex, bool):
            raise TypeError(f"domain_is_complex must be True (complex images, MRI), False (real images, CT) or None "
                            f"(found from the operator), got {domain_is_complex!r}.")
        super().__init__(image_shape)
        self._fwd, self._adj, self._naive = forward, adjoint, naive
        self._domain, self._domain_given = domain_is_complex, domain_is_complex is not None
        self._trailing: tuple[int, ...] | None = None

    @property
    def domain_is_complex(self) -> bool:
        if self._domain is None:
            self._probe()
        return self._domain

    @property
    def measurement_trailing(self) -> tuple[int, ...]:
        if self._trailing is None:
            self._probe()
        return self._trailing

    @property
    def num_measurements(self) -> int:
        return int(np.prod(self.measurement_trailing))

    def _probe(self) -> None:
        """Call forward on zeros in the first dtype it takes, which teaches the layout and the domain."""
        failures = []
        for dtype in PROBE_DTYPES[:2] if self._domain is False else PROBE_DTYPES:
            try:
                with torch.no_grad():
                    self.forward(torch.zeros((1, 1, *self.image_shape), dtype=dtype))
                return
            except OperatorError as exc:
                failures.append(f"{str(dtype).replace('torch.', '')}: {type(exc.__cause__).__name__}: {exc.__cause__}")
        raise ValueError(f"the operator's forward callable takes no zeros (1, 1, {self.image_shape[0]}, "
                         f"{self.image_shape[1]}) on the CPU in any dtype, so its measurement layout is unknown:\n  "
                         + "\n  ".join(failures) + "\nIt must take batched images (B, C, H, W). If it runs only on "
                         "a GPU, call it once on your images (A(x)) before the test: the layout is learnt from that "
                         "call.")

    def _call(self, function: Callable[[torch.Tensor], torch.Tensor], t: torch.Tensor, what: str) -> Any:
        """``function(t)``; what the user's callable raises comes back as an :class:`OperatorError` naming the fix."""
        try:
            return function(t)
        except Exception as exc:  # the user's code: say what it was called with
            if is_out_of_memory(exc):
                raise
            raise OperatorError(self._failure(what, t, exc)) from exc

    def _failure(self, what: str, t: torch.Tensor, exc: Exception) -> str:
        called = (f"the operator's {what} callable raised {type(exc).__name__}: {exc}\nIt was called with a "
                  f"{str(t.dtype).replace('torch.', '')} tensor of shape {tuple(t.shape)} on {t.device}")
        if t.is_complex() and self._domain:
            why = ("domain_is_complex=True" if self._domain_given
                   else "it was found to return complex measurements for real images")
            return (f"{called}: complex, because the operator's domain is complex ({why}). If it acts on real "
                    "images only, pass domain_is_complex=False (as_operator((forward, adjoint), (H, W), "
                    "domain_is_complex=False)).")
        return (f"{called}: the dtype of the data under test, whose precision is the model's. An operator that "
                "takes one precision only is tested with a model and images in it (e.g. model.float()).")

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._call(self._fwd, x, "forward")
        if not isinstance(y, torch.Tensor) or y.dim() < 3 or y.shape[0] != x.shape[0]:
            raise ValueError(f"the forward callable must return a tensor (B, C, ...) (C: channels or coils) for x of "
                             f"shape {tuple(x.shape)}; got {getattr(y, 'shape', type(y).__name__)}.")
        if self._trailing is None:
            self._trailing = tuple(y.shape[2:])
        if self._domain is None:
            self._domain = x.is_complex() or y.is_complex()
        if self.dtype is None:
            self.dtype, self.device = x.dtype, x.device
        return y

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._call(self._adj, y, "adjoint")

    def naive(self, y: torch.Tensor) -> torch.Tensor:
        return self._call(self._naive, y, "naive") if self._naive is not None else self.adjoint(y)


class MatrixOperator(LinearOperator):
    """y = M vec(x) for an explicit matrix M of shape (m, H·W); A* y = Mᴴ y.

    ``matrix`` may be a dense torch tensor or numpy array (real or complex) or any scipy.sparse matrix.
    Images (B, C, H, W) are flattened row-major; measurements are (B, C, m). Sparse matrices are held
    in CSR form with their conjugate transpose, so the adjoint is exact, and run on any torch device.
    """

    measurement_layout = "(B, C, m)"

    def __init__(self, matrix: Any, image_shape: tuple[int, int] | None = None):
        if hasattr(matrix, "tocsr"):
            self._sparse: SparseMatrix | None = SparseMatrix(matrix)
            shape, is_complex = self._sparse.shape, self._sparse.is_complex
            self._dense = None
        else:
            dense = torch.as_tensor(np.asarray(matrix) if not isinstance(matrix, torch.Tensor) else matrix)
            check_tensor("matrix", dense, ndim=2, what=" (m, H*W)")
            self._sparse, self._dense = None, dense
            shape, is_complex = tuple(dense.shape), dense.is_complex()
        m, n = shape
        if image_shape is None:
            side = int(round(n ** 0.5))
            if side * side != n:
                raise ValueError(f"matrix has {n} columns, which is not a square image; pass image_shape=(H, W).")
            image_shape = (side, side)
        if image_shape[0] * image_shape[1] != n:
            raise ValueError(f"matrix has {n} columns but image_shape {tuple(image_shape)} has "
                             f"{image_shape[0] * image_shape[1]} pixels.")
        super().__init__(image_shape)
        self.domain_is_complex = is_complex
        self._m = m

    @property
    def measurement_trailing(self) -> tuple[int, ...]:
        return (self._m,)

    @property
    def num_measurements(self) -> int:
        return self._m

    def _apply(self, t: torch.Tensor, adjoint: bool) -> torch.Tensor:
        b, c = t.shape[:2]
        cols = t.reshape(b * c, -1).transpose(0, 1)
        if self._sparse is not None:
            out = self._sparse.matmul(cols, adjoint=adjoint)
        else:
            dtype = complex_dtype(t.dtype) if (self._dense.is_complex() or t.is_complex()) else t.dtype
            mat = self._constant("matrix", self._dense, t, dtype)
            out = (mat.mH if adjoint else mat) @ cols.to(dtype)
        return out.transpose(0, 1).reshape(b, c, -1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(x, adjoint=False)

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._apply(y, adjoint=True).reshape(*y.shape[:2], *self.image_shape)


def adjointness_error(op: LinearOperator, *, channels: int = 1, seed: int = 0,
                      dtype: torch.dtype | None = None) -> float:
    """|⟨A x, y⟩ − ⟨x, A* y⟩| / |⟨A x, y⟩| for random x, y: the dot-product test of an adjoint.

    A correct adjoint gives ~1e-5 in single and ~1e-14 in double precision. It runs in the operator's own
    dtype and on its device (:attr:`LinearOperator.dtype`, complex for a complex domain; float64 or
    complex128 on the CPU for operators that follow the data), or in ``dtype``: real-domain operators may be
    tested on complex data too (they act on real and imaginary parts alike). For real x the inner products
    are the real ones, Re⟨·,·⟩, under which Re A* is the adjoint.
    """
    is_complex = op.domain_is_complex  # first: for a user's operator it may probe, which sets its dtype
    if dtype is None:
        dtype = complex_dtype(op.dtype or torch.float64) if is_complex else op.dtype or torch.float64
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((2, channels, *op.image_shape), dtype=dtype, generator=gen).to(op.device or "cpu")
    ax = op.forward(x)
    y = torch.randn(ax.shape, dtype=ax.dtype, generator=gen).to(ax.device)
    lhs = torch.vdot(ax.reshape(-1), y.reshape(-1))
    a_star_y = op.adjoint(y).reshape(-1)
    if x.is_complex():
        rhs = torch.vdot(x.reshape(-1), a_star_y.to(x.dtype))
    else:
        lhs, rhs = lhs.real, torch.vdot(x.reshape(-1), a_star_y.real)
    return float((lhs - rhs).abs() / lhs.abs())
