"""Fourier-domain image transforms, batched over (B, C) with periodic boundaries: sub-pixel shifts, rotations by
three shears, and smooth random fields made of low Fourier modes."""

from __future__ import annotations

import math

import torch

from ..operators.base import complex_dtype


def freqs(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftfreq(n, dtype=like.real.dtype, device=like.device)


def _centred(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.arange(n, dtype=like.real.dtype, device=like.device) - (n - 1) / 2


def same_kind(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return out if x.is_complex() else out.real.to(x.dtype)


def fourier_shift(x: torch.Tensor, dy: float, dx: float) -> torch.Tensor:
    """x moved by (dy, dx) pixels (rows down, columns right), band-limited and periodic: a phase ramp in k-space."""
    h, w = x.shape[-2:]
    ramp = torch.exp(-2j * math.pi * (freqs(h, x).view(-1, 1) * dy + freqs(w, x).view(1, -1) * dx))
    return same_kind(torch.fft.ifft2(torch.fft.fft2(x.to(complex_dtype(x.dtype))) * ramp), x)


def _shear(x: torch.Tensor, amount: float, dim: int) -> torch.Tensor:
    """Shift every line along ``dim`` (-1: rows move along x; -2: columns along y) by amount × its centred index."""
    h, w = x.shape[-2:]
    if dim == -1:
        phase = freqs(w, x).view(1, -1) * _centred(h, x).view(-1, 1)
    else:
        phase = freqs(h, x).view(-1, 1) * _centred(w, x).view(1, -1)
    ramp = torch.exp(-2j * math.pi * amount * phase)
    return torch.fft.ifft(torch.fft.fft(x, dim=dim) * ramp, dim=dim)


def fourier_rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """x rotated by ``degrees`` about the image centre by three Fourier shears (band-limited, periodic)."""
    theta = math.radians(degrees)
    a, b = -math.tan(theta / 2), math.sin(theta)
    z = x.to(complex_dtype(x.dtype))
    return same_kind(_shear(_shear(_shear(z, a, -1), b, -2), a, -1), x)


def smooth_fields(shape: tuple[int, int], order: int, count: int, gen: torch.Generator, *, complex_: bool,
                   like: torch.Tensor) -> torch.Tensor:
    """``count`` random fields (count, H, W) made of the Fourier modes |k_y|, |k_x| ≤ order, max |field| = 1."""
    h, w = shape
    k = torch.arange(-order, order + 1, dtype=torch.float64)
    rows = torch.exp(2j * math.pi * torch.arange(h, dtype=torch.float64).view(-1, 1) * k.view(1, -1) / h)
    cols = torch.exp(2j * math.pi * k.view(-1, 1) * torch.arange(w, dtype=torch.float64).view(1, -1) / w)
    n = 2 * order + 1
    coef = torch.view_as_complex(torch.randn(count, n, n, 2, generator=gen, dtype=torch.float64))
    coef = coef / (1 + k.view(1, -1, 1) ** 2 + k.view(1, 1, -1) ** 2)  # smoother: weaker high modes
    field = rows @ coef @ cols
    if not complex_:
        field = field.real
    field = field / field.abs().reshape(count, -1).amax(dim=1).view(-1, 1, 1)
    dtype = complex_dtype(like.dtype) if complex_ else like.real.dtype
    return field.to(device=like.device, dtype=dtype)
