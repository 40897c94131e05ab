"""Stored results for the CI gate: save a run so that a later one can be compared with it (:mod:`.compare`).

A store file is small, reviewable JSON keyed by node id, one file per device type (CPU and CUDA results
differ in the last digits and are kept apart)::

    {"version": 1, "environment": {...torch, device...}, "results": {"tests/test_x.py::test_unet[...]": {...}}}

Saving merges: a partial run (``-k``, sharded CI) updates the entries it ran and keeps every other one.
Writes are atomic (a temporary file renamed over the old one), so an interrupted run never leaves a
half-written store; the JSON report and the saved tensors (:func:`atomic_save`) are written the same way.
Standard library only (torch is imported inside :func:`atomic_save`); shared by the plugin and
``pytest-stability compare``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

STORE_VERSION = 1


def default_store_path(folder: Path, device_type: str) -> Path:
    return Path(folder) / f"results-{device_type}.json"


@contextmanager
def _replacing(path: Path, mode: str) -> Iterator[IO[Any]]:
    """A handle on a temporary file beside ``path`` that replaces ``path`` (os.replace) when the block ends.

    Readers see the old file or the new one, never a half-written one; an exception (Ctrl-C included) in the
    block removes the temporary file and leaves the old file as it was. A process killed with SIGKILL leaves its
    temporary file (``.NAME.*.tmp``) behind, never a truncated ``path``.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise OSError(f"folder {path.parent} does not exist; create it or choose another path")
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name (e.g. {path / 'results.json'})")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; a store is shared like any other file
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            yield handle
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, document: Any) -> None:
    """Write JSON to ``path`` through a temporary file in the same folder and a rename."""
    with _replacing(path, "w") as handle:
        json.dump(document, handle, indent=1, sort_keys=True, allow_nan=False)
        handle.write("\n")


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder and a rename."""
    with _replacing(path, "w") as handle:
        handle.write(text)


def atomic_save(path: Path, data: dict[str, Any]) -> None:
    """``torch.save(data, path)`` through a temporary file in the same folder and a rename.

    ``data`` is a dict of tensors, strings and numbers, the kinds ``torch.load(path, weights_only=True)`` reads
    back; nothing else is stored, so no loader ever needs to unpickle code.
    """
    import torch

    with _replacing(path, "wb") as handle:
        torch.save(data, handle)


def atomic_load(path: Path | None) -> Any:
    """What :func:`atomic_save` wrote at ``path``, or None when it is missing, corrupt or foreign (the caller then
    computes it again and replaces it)."""
    import torch

    if path is None or not path.is_file():
        return None
    try:
        return torch.load(path, weights_only=True)
    except Exception:
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class StoreError(ValueError):
    """A store file that cannot be read as pytest-stability results."""


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """The stored records by node id; {} when the file does not exist. Raises StoreError for foreign files."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} is not a pytest-stability results file ({exc}); delete it or save again") from exc
    results = document.get("results") if isinstance(document, dict) else None
    if isinstance(results, list):  # a --stability-json report
        results = {r.get("nodeid"): r for r in results if isinstance(r, dict)}
    if not isinstance(results, dict) or not all(isinstance(v, dict) for v in results.values()):
        raise StoreError(f"{path} holds no pytest-stability results (expected {{'results': {{nodeid: record}}}}).")
    return results


def merge_results(path: Path, records: list[dict[str, Any]], environment: dict[str, Any]) -> None:
    """Update the store at ``path`` with ``records`` (by node id), keeping the entries this run did not touch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = load_results(path)
    stored.update({r["nodeid"]: {k: v for k, v in r.items() if k != "nodeid"} for r in records})
    atomic_write_json(path, {"version": STORE_VERSION, "environment": environment, "results": stored})
