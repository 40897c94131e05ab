"""Hashes and file names that key stored results to exactly what produced them.

A stored worst case, a cached baseline search or a fuzz database entry is reused only when the model's weights,
the operator, the images and the settings are the ones it was computed with; these functions turn each of those
into a short sha1, and a node id into a file name that cannot leave its folder.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import torch


def safe_name(nodeid: str) -> str:
    """A file name for a node id: readable, no path separators, unique by a hash; it cannot leave its folder."""
    readable = re.sub(r"[^A-Za-z0-9_.=-]+", "_", nodeid.rsplit("::", 1)[-1])[:80].strip("._") or "item"
    return f"{readable}-{hashlib.sha1(nodeid.encode()).hexdigest()[:10]}"


def _update(digest: Any, t: torch.Tensor) -> None:
    """Feed a tensor's raw bytes to ``digest`` (flattened: a 0-d tensor cannot be viewed as bytes)."""
    digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def model_hash(model: Any) -> str:
    """sha1 of the model's class and weights (parameters and buffers), or of its qualified name."""
    digest = hashlib.sha1(type(model).__qualname__.encode())
    if isinstance(model, torch.nn.Module):
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            _update(digest, tensor)
    else:
        digest.update(getattr(model, "__qualname__", repr(type(model))).encode())
    return digest.hexdigest()[:16]


def fingerprint(operator: Any, images: torch.Tensor, *extra: Any) -> str:
    """sha1 of the images, the operator's defining tensors and other settings a result depends on."""
    digest = hashlib.sha1(repr((operator, extra)).encode())
    for t in (images, *(getattr(operator, a, None) for a in ("mask", "coil_maps", "angles"))):
        if isinstance(t, torch.Tensor):
            _update(digest, t)
    return digest.hexdigest()[:16]
