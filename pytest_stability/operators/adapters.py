"""Adapters that turn a user's own forward model into a :class:`LinearOperator`.

* :class:`FunctionOperator`: a pair of callables (forward, adjoint), e.g. a scanner vendor's simulator;
* :class:`MatrixOperator`: an explicit (m, N) matrix — dense torch or numpy, or scipy-sparse — acting on
  the flattened image (row-major over (H, W)), as the paper's own CT code did with its Radon matrix;
* :class:`DeepinvOperator`: a deepinv ``Physics`` object, used through ``physics.A`` / ``physics.A_adjoint``
  (deepinv is not a dependency: anything with those two methods is accepted);
* :func:`as_operator`: picks the right adapter for whatever it is given.

The adjoint a user supplies is trusted, not derived: run :func:`adjointness_error` once on your operator
(the test suite does so for every built-in one) before relying on a stability verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .base import LinearOperator, check_tensor, complex_dtype, real_dtype
from .sparse import SparseMatrix


class FunctionOperator(LinearOperator):
    """A linear operator from two callables: ``forward(x)`` and its exact ``adjoint(y)``.

    Both must take and return batched tensors: images (B, C, H, W) and measurements (B, C, ...).
    The measurement layout is learnt from the first forward call (or a probe on zeros).
    ``naive`` (optional) is the naive reconstruction a network takes as input; A* y when omitted.
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor],
                 adjoint: Callable[[torch.Tensor], torch.Tensor], image_shape: tuple[int, int], *,
                 naive: Callable[[torch.Tensor], torch.Tensor] | None = None, domain_is_complex: bool = True):
        if not callable(forward) or not callable(adjoint):
            raise TypeError("FunctionOperator needs callables forward(x) and adjoint(y).")
        super().__init__(image_shape)
        self._fwd, self._adj, self._naive = forward, adjoint, naive
        self.domain_is_complex = domain_is_complex
        self._trailing: tuple[int, ...] | None = None

    @property
    def measurement_trailing(self) -> tuple[int, ...]:
        if self._trailing is None:
            dtype = torch.complex64 if self.domain_is_complex else torch.float32
            with torch.no_grad():
                self._forward(torch.zeros((1, 1, *self.image_shape), dtype=dtype))
        return self._trailing

    @property
    def num_measurements(self) -> int:
        return int(np.prod(self.measurement_trailing))

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self._fwd(x)
        if not isinstance(y, torch.Tensor) or y.dim() < 3 or y.shape[:2] != x.shape[:2]:
            raise ValueError(f"the forward callable must return a tensor (B, C, ...) for x of shape "
                             f"{tuple(x.shape)}; got {getattr(y, 'shape', type(y).__name__)}.")
        self._trailing = tuple(y.shape[2:])
        return y

    def _adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._adj(y)

    def naive(self, y: torch.Tensor) -> torch.Tensor:
        return self._naive(y) if self._naive is not None else self.adjoint(y)


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


class DeepinvOperator(FunctionOperator):
    """A deepinv ``LinearPhysics`` (or anything with ``A(x)`` and ``A_adjoint(y)``) as an operator.

    deepinv's MRI physics stores complex images and k-space as two real channels (B, 2, H, W); with
    ``complex_as_channels=True`` our complex (B, 1, H, W) images are converted on the way in and the
    measurements on the way out, so checks see complex tensors as for the built-in MRI operators.
    The naive reconstruction is ``physics.A_dagger`` when ``use_dagger=True`` (deepinv's pseudo-inverse,
    which for some physics runs conjugate gradients), else A* y.
    """

    def __init__(self, physics: Any, image_shape: tuple[int, int], *, complex_as_channels: bool = False,
                 use_dagger: bool = False, domain_is_complex: bool | None = None):
        if not (callable(getattr(physics, "A", None)) and callable(getattr(physics, "A_adjoint", None))):
            raise TypeError(f"{type(physics).__name__} has no A(x) and A_adjoint(y) methods; it is not a "
                            "deepinv LinearPhysics.")
        self.physics, self.complex_as_channels = physics, complex_as_channels
        super().__init__(self._wrap(physics.A), self._wrap(physics.A_adjoint), image_shape,
                         naive=self._wrap(physics.A_dagger) if use_dagger else None,
                         domain_is_complex=complex_as_channels if domain_is_complex is None else domain_is_complex)

    def _wrap(self, method: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        """``method`` between our complex (B, 1, ...) tensors and deepinv's (B, 2, ...) channels, if asked."""
        if not self.complex_as_channels:
            return method

        def call(t: torch.Tensor) -> torch.Tensor:
            if t.shape[1] != 1:
                raise ValueError(f"complex_as_channels takes single-channel complex tensors, got {tuple(t.shape)}.")
            t = t.to(complex_dtype(t.dtype))
            out = method(torch.cat([t.real, t.imag], dim=1))
            return torch.complex(out[:, :1], out[:, 1:2])

        return call


def as_operator(obj: Any, image_shape: tuple[int, int] | None = None, **kwargs: Any) -> LinearOperator:
    """Wrap ``obj`` as a :class:`LinearOperator`.

    Accepts a LinearOperator (returned as is), a (forward, adjoint) pair of callables, a dense or
    scipy-sparse matrix, or a deepinv physics object. ``image_shape`` is needed for callables and
    physics objects (and for non-square matrices).
    """
    if isinstance(obj, LinearOperator):
        return obj
    if isinstance(obj, tuple) and len(obj) == 2 and all(callable(f) for f in obj):
        if image_shape is None:
            raise ValueError("a (forward, adjoint) pair needs image_shape=(H, W).")
        return FunctionOperator(obj[0], obj[1], image_shape, **kwargs)
    if hasattr(obj, "A") and hasattr(obj, "A_adjoint"):
        if image_shape is None:
            raise ValueError("a deepinv physics object needs image_shape=(H, W).")
        return DeepinvOperator(obj, image_shape, **kwargs)
    if isinstance(obj, (torch.Tensor, np.ndarray)) or hasattr(obj, "tocsr"):
        return MatrixOperator(obj, image_shape)
    raise TypeError(f"cannot use a {type(obj).__name__} as an operator; give a LinearOperator, a (forward, "
                    "adjoint) pair of callables, a dense or scipy-sparse matrix, or a deepinv physics object.")


def adjointness_error(op: LinearOperator, *, channels: int = 1, seed: int = 0,
                      dtype: torch.dtype = torch.complex128) -> float:
    """|⟨A x, y⟩ − ⟨x, A* y⟩| / |⟨A x, y⟩| for random x, y: the dot-product test of an adjoint.

    A correct adjoint gives ~1e-7 in single and ~1e-15 in double precision. Real-domain operators are
    tested on complex data too (they act on real and imaginary parts alike).
    """
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn((2, channels, *op.image_shape), dtype=dtype, generator=gen)
    ax = op.forward(x)
    y = torch.randn(ax.shape, dtype=complex_dtype(real_dtype(dtype)) if dtype.is_complex else dtype, generator=gen)
    lhs = torch.vdot(ax.reshape(-1).to(y.dtype), y.reshape(-1))
    rhs = torch.vdot(x.reshape(-1), op.adjoint(y).reshape(-1).to(x.dtype))
    return float((lhs - rhs).abs() / lhs.abs())
