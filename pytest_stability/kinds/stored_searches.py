"""Worst-case searches kept in pytest's cache folder: those that are a pure function of what keys them.

Two searches qualify, because every line of code they run is pytest-stability's own:

* the CS baseline's own worst case (its ratios, K × B), a function of the operator, the images and the search
  settings, shared by every model tested on the same operator and images (``.pytest_cache/d/stability-baseline``);
* the whole search of a built-in solver run *as the model under test* (``TVReconstruction`` or
  ``WaveletReconstruction``: the CS baseline checked like a network), a function of the solver's settings, the
  operator, the images and the search settings (``.pytest_cache/d/stability-search``).

Each key also holds the torch version, the device type and a hash of the source of the code that computes the
result (a changed solver, operator or search never reuses an old number); a search under way holds a file lock, so
two xdist workers never search the same key at once. A user's network is never stored: its
forward pass is code we cannot hash, and a changed forward with the same weights must be searched again. A
search with a time limit is not deterministic and is never stored either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from pathlib import Path
from typing import Any

import torch

from ..fingerprints import fingerprint
from ..report.store import atomic_load, atomic_save

PYTEST_CACHE = "pytest's cache"
THIS_RUN = "this run"


def baseline_ratios(ctx: Any, baseline: str, search: Any) -> tuple[torch.Tensor, str | None]:
    """The built-in baseline's own worst-case ratios (K, B), and where they were reused from: None (searched now),
    "this run" (another test with the same operator and images, on this worker or another) or "pytest's cache"
    (an earlier run)."""
    from ..checks.worst_case import baseline_worst_case

    key = fingerprint(ctx.f.operator, ctx.images, baseline, search, *_environment(ctx))
    if ("baseline", key) in ctx.session.cache:
        return ctx.session.cache[("baseline", key)]
    path = cache_path(ctx, "stability-baseline", key)
    with _searching(path):
        stored = atomic_load(path)
        expected = (len(search.eps), ctx.images.shape[0])
        origin = _origin(ctx, path) if isinstance(stored, torch.Tensor) and tuple(stored.shape) == expected else None
        if origin is None:
            stored = baseline_worst_case(baseline, ctx.f.operator, ctx.images, search)
            if path is not None and search.time_limit is None:
                atomic_save(path, stored.detach().cpu())
    ctx.session.cache[("baseline", key)] = (stored, origin or THIS_RUN)
    return stored, origin


class SolverSearches:
    """Runs the search of a built-in solver under test, or reuses the result an earlier run stored.

    Passed to :func:`~pytest_stability.checks.worst_case` as ``run_search``: it is called with the final search
    (its stop ratios set from the baseline's limit) and the perturbation map. ``reused`` says where the last
    result came from (None: searched now).
    """

    def __init__(self, ctx: Any):
        model, f = ctx.model, ctx.f
        self.ctx = ctx
        self.parts = (repr(model), fingerprint(model.operator, torch.zeros(0)),
                      f.inputs, f.complex_as_channels, f.numpy, f.dtype, *_environment(ctx))
        self.reused: str | None = None

    @staticmethod
    def applies(ctx: Any) -> bool:
        """Whether the model under test is a built-in solver whose search can be stored (see the module): its
        repr then holds every setting (λ and η as numbers; a per-image tensor of them is not stored)."""
        from ..baselines.reconstruction import SparseReconstruction

        model = ctx.model
        return (isinstance(model, SparseReconstruction) and isinstance(ctx.f.inputs, str)
                and not isinstance(model.lam_value, torch.Tensor) and not isinstance(model.eta_value, torch.Tensor))

    def __call__(self, search: Any, pm: Any) -> Any:
        from ..search import SearchResult

        path = None if search.time_limit is not None else cache_path(
            self.ctx, "stability-search", fingerprint(self.ctx.f.operator, self.ctx.images, search, *self.parts))
        with _searching(path):
            stored = atomic_load(path)
            if isinstance(stored, dict) and set(stored) == {f.name for f in dataclasses.fields(SearchResult)}:
                self.reused = _origin(self.ctx, path)
                device = pm.reference.device
                return SearchResult(**{name: value[0].to(device) if isinstance(value, tuple) else value
                                       for name, value in stored.items()})
            self.reused = None
            result = search.search(pm)
            if path is not None:  # model-device tensors as (cpu copy, True): they go back to the model's device
                atomic_save(path, {f.name: _portable(getattr(result, f.name)) for f in dataclasses.fields(result)})
            return result


def _origin(ctx: Any, path: Path) -> str:
    """Where a stored result found at ``path`` came from: "this run" when another xdist worker wrote it during this
    run (found after waiting on its lock), else "pytest's cache" (an earlier run)."""
    return THIS_RUN if path.stat().st_mtime >= ctx.session.started else PYTEST_CACHE


def _portable(value: Any) -> Any:
    if not isinstance(value, torch.Tensor):
        return value
    return (value.detach().cpu(), True) if value.device.type != "cpu" else value.detach()


def _searching(path: Path | None) -> Any:
    """A lock on ``path``'s search: an xdist worker that needs a result another worker is searching waits for its
    file instead of searching it too (tests sharing a TV baseline often start together in a cold run). The lock
    is released when its holder ends, crashed or not (an OS file lock)."""
    if path is None:
        return contextlib.nullcontext()
    from filelock import FileLock

    return FileLock(path.with_suffix(".lock"))


def cache_path(ctx: Any, folder: str, name: str) -> Path | None:
    """``name``.pt in ``folder`` of pytest's cache folder (None when the cache provider is off)."""
    cache = getattr(ctx.item.config, "cache", None)
    return Path(cache.mkdir(folder)) / f"{name}.pt" if cache is not None else None


def _environment(ctx: Any) -> tuple[str, str, str]:
    """The torch version, the device type and the code hash every stored search is keyed by."""
    device = ctx.images.device.type if ctx.device is None else torch.device(ctx.device).type
    return torch.__version__, device, _code_hash()


_CODE: list[str] = []


def _code_hash() -> str:
    """sha1 of the source of the baselines, the operators, the search (with its image checks, tensor helpers and
    the model wrapper), the worst-case check and its κ limit (computed once)."""
    if not _CODE:
        root = Path(__file__).parents[1]
        digest = hashlib.sha1()
        for path in sorted([*root.glob("baselines/*.py"), *root.glob("operators/*.py"), *root.glob("search/*.py"),
                            root / "inputs.py", root / "tensors.py", root / "models.py", root / "checks" /
                            "worst_case.py", root / "checks" / "rules.py", root / "checks" / "references.py"]):
            digest.update(path.read_bytes())
        _CODE.append(digest.hexdigest()[:16])
    return _CODE[0]
