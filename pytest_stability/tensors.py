"""Tensor helpers shared by the search, its controls and the strategies: per-image scaling and seeded draws.

A batch holds one image (or one measurement vector) per leading index; these helpers broadcast per-image numbers
against it, rescale each image to unit norm and draw seeded Gaussian noise that is the same on every device.
"""

from __future__ import annotations

import math

import torch

from .metrics import l2_norm


def per_sample(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Broadcast a (n,) vector against a batch shaped like ``like`` (n, ...)."""
    return v.view(-1, *([1] * (like.dim() - 1)))


def normalize(t: torch.Tensor) -> torch.Tensor:
    """Each image of the batch divided by its ℓ² norm (an all-zero image stays zero)."""
    norm = l2_norm(t)
    return t / per_sample(torch.where(norm > 0, norm, torch.ones_like(norm)), t)


def randn(shape: tuple[int, ...], like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Seeded Gaussian draw on the CPU generator, moved to ``like``'s device and dtype (same on every device)."""
    if like.is_complex():
        real = torch.randn((*shape, 2), generator=gen, dtype=like.real.dtype)
        return torch.view_as_complex(real).to(like.device) / math.sqrt(2)
    return torch.randn(shape, generator=gen, dtype=like.dtype).to(like.device)
