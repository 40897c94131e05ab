"""Batches that do not fit in memory: run them in smaller chunks, with a warning, instead of failing.

Every check is independent per image (the search, the details, the sampling sweep), so a batch can be cut
into chunks along its first dimension and the chunks' results joined. :func:`split_batch` does that in two
cases: a configured cap (``max_batch``: the most inputs one model call may carry, for a CPU with little
memory or a known limit) and an out-of-memory error from the model's forward or backward pass (CUDA's
``torch.OutOfMemoryError``, the CPU allocator's "can't allocate memory", Python's ``MemoryError``), after
which the chunk size is halved until the work fits. The halving warns once per call with
:class:`~pytest_stability.errors.StabilityWarning`; a chunk is computed as if it were the whole batch, so the
random starts of a search depend on the chunk size (its verdicts are reproducible for a given size).
"""

from __future__ import annotations

import gc
import warnings
from collections.abc import Callable
from typing import TypeVar

import torch

from .errors import StabilityWarning

T = TypeVar("T")

_CPU_MESSAGES = ("can't allocate memory", "out of memory", "not enough memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` (or the exception it wraps) says the device ran out of memory."""
    while exc is not None:
        if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
            return True
        if isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in _CPU_MESSAGES):
            return True
        exc = exc.__cause__
    return False


def _release() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def split_batch(run: Callable[[slice], T], batch: int, join: Callable[[list[T]], T], *, what: str,
                limit: int | None = None, inputs_per_item: int = 1,
                remember: Callable[[int], None] | None = None) -> T:
    """``run(slice(0, batch))``, or ``join`` of ``run`` over consecutive slices of at most ``limit`` items.

    On an out-of-memory error the chunk size is halved and the whole batch run again in chunks, until it fits
    (then one :class:`StabilityWarning` names ``what`` and the size that fitted); one item that does not fit raises
    :class:`MemoryError` with what to try. ``inputs_per_item``: model inputs per item (a search element per
    eps and restart), to state the matching ``max_batch``. ``remember(size)`` is told the size that was
    needed, so that a caller can start there next time (and warn only once).
    """
    size = batch if limit is None else max(1, min(batch, int(limit)))
    failed = None
    while True:
        try:
            parts = [run(slice(start, min(start + size, batch))) for start in range(0, batch, size)]
            break
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if size == 1:
                raise MemoryError(f"{what} runs out of memory even for one image at a time ({exc}); use smaller "
                                  "images, fewer eps values or restarts, or another device "
                                  "(--stability-device).") from exc
            failed, size = failed or size, (size + 1) // 2
            del exc
            _release()
    if failed is not None:
        if remember is not None:
            remember(size)
        warnings.warn(f"{what} ran out of memory on {failed * inputs_per_item} inputs at once; ran in chunks of "
                      f"{size * inputs_per_item}. Set max_batch={size * inputs_per_item} (marker, or "
                      "--stability-max-batch) to skip the failed attempts.", StabilityWarning, stacklevel=3)
    return parts[0] if len(parts) == 1 else join(parts)
