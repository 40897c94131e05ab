"""Stored results for the CI gate: save a run, compare a later run with it, and say what got worse.

A store file is small, reviewable JSON keyed by node id, one file per device type (CPU and CUDA results
differ in the last digits and are kept apart)::

    {"version": 1, "environment": {...torch, device...}, "results": {"tests/test_x.py::test_unet[...]": {...}}}

Saving merges: a partial run (``-k``, sharded CI) updates the entries it ran and keeps every other one.
Writes are atomic (a temporary file renamed over the old one), so an interrupted run never leaves a
half-written store; the JSON report and the saved tensors (:func:`atomic_save`) are written the same way.
Standard library only (torch is imported inside :func:`atomic_save`); shared by the plugin and
``python -m pytest_stability compare``.
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
DEFAULT_RULES = "ratio:10%,psnr:0.5,recovery:0.1"


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


def parse_rules(text: str | None) -> dict[str, tuple[float, bool]]:
    """"ratio:10%,psnr:0.5,recovery:0.1" → {name: (amount, relative)}."""
    rules: dict[str, tuple[float, bool]] = {}
    for part in (text or DEFAULT_RULES).replace(" ", "").split(","):
        if not part:
            continue
        name, _, amount = part.partition(":")
        if name not in ("ratio", "psnr", "recovery") or not amount:
            raise ValueError(f"--stability-compare-fail: {part!r} is not name:amount with name ratio, psnr or "
                             f"recovery (e.g. {DEFAULT_RULES}).")
        relative = amount.endswith("%")
        try:
            value = float(amount.rstrip("%"))
        except ValueError:
            raise ValueError(f"--stability-compare-fail: {amount!r} in {part!r} is not a number.") from None
        if value < 0:
            raise ValueError(f"--stability-compare-fail: {part!r} must not be negative.")
        rules[name] = (value / 100 if relative else value, relative)
    return rules


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if value == "inf":
        return float("inf")
    return float(value) if isinstance(value, (int, float)) else None


def regressions(old: dict[str, Any], new: dict[str, Any], rules: dict[str, tuple[float, bool]]) -> list[str]:
    """Why ``new`` is less stable than ``old`` under ``rules`` (empty when it is not)."""
    reasons = []

    def worse(name: str, before: float | None, after: float | None, higher_is_worse: bool, unit: str = "") -> None:
        if name not in rules or before is None or after is None:
            return
        amount, relative = rules[name]
        change = (after - before) if higher_is_worse else (before - after)
        allowed = amount * abs(before) if relative else amount
        if change > allowed:
            limit = f"{100 * amount:g} %" if relative else f"{amount:g}{unit}"
            reasons.append(f"{name} {before:.4g} → {after:.4g}{unit} (worse by {change:.3g}{unit} > {limit})")

    check = new.get("check")
    if check == "worst_case":
        worse("ratio", _number(old.get("ratio")), _number(new.get("ratio")), True)
    elif check == "structure":
        worse("recovery", _number(old.get("recovery")), _number(new.get("recovery")), False)
    elif check == "samples":
        before, after = old.get("psnr") or [], new.get("psnr") or []
        if old.get("ratios") == new.get("ratios"):
            for ratio, b, a in zip(new.get("ratios") or [], before, after, strict=False):
                worse("psnr", _number(b), _number(a), False, " dB")
                if reasons and "@" not in reasons[-1]:
                    reasons[-1] += f" @ ratio {ratio:.3g}"
    if old.get("passed") and not new.get("passed"):
        reasons.append("verdict stable → unstable")
    return reasons


def compare_files(old_path: Path, new_path: Path, rules_text: str | None = None) -> list[tuple[str, list[str]]]:
    """(node id, reasons) for every result of ``new_path`` that got worse than in ``old_path``."""
    rules = parse_rules(rules_text)
    old, new = load_results(old_path), load_results(new_path)
    return [(nodeid, why) for nodeid, record in sorted(new.items()) if nodeid in old
            for why in [regressions(old[nodeid], record, rules)] if why]
