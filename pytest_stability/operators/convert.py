""":func:`as_operator`: a user's own forward model as a :class:`~.base.LinearOperator`, whatever its form.

Apart from :mod:`.adapters` because it also picks :class:`~.deepinv.DeepinvOperator`, which builds on that module.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .adapters import FunctionOperator, MatrixOperator
from .base import LinearOperator
from .deepinv import DeepinvOperator


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
