"""The run-wide flags that are not a test's settings, checked once before any test runs.

``--stability-device`` must name a device this machine has (a usage error up front rather than the same driver
error in every item); ``--stability-budget`` caps each item's search in steps or seconds. The per-test settings
and their precedence are :mod:`.options`'.
"""

from __future__ import annotations

import re

import pytest


def check_device(text: str) -> None:
    """``--stability-device``: a torch device this machine has, or a usage error before any test runs (rather than
    the same driver error in every item). Imports torch: only called when stability tests run on a device."""
    import torch

    try:
        device = torch.device(text)
    except RuntimeError:
        raise pytest.UsageError(f"--stability-device={text!r} is not a torch device; give cpu, cuda, cuda:N or mps.") \
            from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise pytest.UsageError(f"--stability-device={text}: torch {torch.__version__} sees no CUDA device (no "
                                    "GPU, no driver, or a CPU-only build); leave the option out to run on the CPU.")
        if device.index is not None and device.index >= count:
            raise pytest.UsageError(f"--stability-device={text}: this machine has {count} CUDA device(s), "
                                    f"cuda:0 … cuda:{count - 1}.")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise pytest.UsageError(f"--stability-device={text}: MPS is not available on this machine; leave the option "
                                "out to run on the CPU.")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise pytest.UsageError(f"--stability-device={text}: pytest-stability runs on cpu, cuda or mps, not "
                                f"{device.type}.")


def parse_budget(text: str | None) -> tuple[int | None, float | None]:
    """``--stability-budget``: "40" caps search steps, "30s" caps seconds of searching per item."""
    if text is None:
        return None, None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s?)\s*", str(text))
    if not match or float(match.group(1)) <= 0:
        raise pytest.UsageError(f"--stability-budget={text!r}: give a number of steps (e.g. 40) or seconds (e.g. 30s).")
    value, seconds = float(match.group(1)), bool(match.group(2))
    if not seconds and not value.is_integer():
        raise pytest.UsageError(f"--stability-budget={text!r}: a step budget is a whole number (or add 's').")
    return (None, value) if seconds else (int(value), None)
