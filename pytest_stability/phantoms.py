"""Test images drawn analytically, so nothing is downloaded: Shepp–Logan and random ellipses.

Images are (B, 1, H, W) float tensors on the pixel grid x, y ∈ [-1, 1] (pixel centres, y pointing up,
row 0 at the top). An ellipse is (value, a, b, x0, y0, phi): it adds ``value`` inside
((u cos φ + v sin φ)/a)² + ((−u sin φ + v cos φ)/b)² ≤ 1 with (u, v) = (x − x0, y − y0), φ in degrees.
"""

from __future__ import annotations

import torch

# The modified Shepp–Logan phantom (Toft, 1996; MATLAB's ``phantom('Modified Shepp-Logan')``):
# better contrast than the original, values in [0, 1].
MODIFIED_SHEPP_LOGAN = (
    (1.0, 0.69, 0.92, 0.0, 0.0, 0.0),
    (-0.8, 0.6624, 0.8740, 0.0, -0.0184, 0.0),
    (-0.2, 0.1100, 0.3100, 0.22, 0.0, -18.0),
    (-0.2, 0.1600, 0.4100, -0.22, 0.0, 18.0),
    (0.1, 0.2100, 0.2500, 0.0, 0.35, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, 0.1, 0.0),
    (0.1, 0.0460, 0.0460, 0.0, -0.1, 0.0),
    (0.1, 0.0460, 0.0230, -0.08, -0.605, 0.0),
    (0.1, 0.0230, 0.0230, 0.0, -0.606, 0.0),
    (0.1, 0.0230, 0.0460, 0.06, -0.605, 0.0),
)


def _grid(size: int | tuple[int, int], dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = (size, size) if isinstance(size, int) else size
    ys = 1.0 - (2 * torch.arange(h, dtype=dtype, device=device) + 1) / h
    xs = (2 * torch.arange(w, dtype=dtype, device=device) + 1) / w - 1.0
    return xs.view(1, 1, 1, w), ys.view(1, 1, h, 1)


def render_ellipses(params: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Sum of ellipse indicators for ``params`` of shape (B, K, 6) → images (B, 1, H, W)."""
    if params.dim() != 3 or params.shape[-1] != 6:
        raise ValueError(f"params must be (B, K, 6) rows of (value, a, b, x0, y0, phi), got {tuple(params.shape)}.")
    xs, ys = _grid(size, params.dtype, params.device)
    value, a, b, x0, y0, phi = (params[..., i, None, None] for i in range(6))
    phi = torch.deg2rad(phi)
    u, v = xs - x0, ys - y0
    cos, sin = torch.cos(phi), torch.sin(phi)
    inside = ((u * cos + v * sin) / a) ** 2 + ((-u * sin + v * cos) / b) ** 2
    return (value * (inside <= 1)).sum(dim=1, keepdim=True)


def shepp_logan(size: int | tuple[int, int] = 256, *, dtype: torch.dtype = torch.float32,
                device: torch.device | str = "cpu") -> torch.Tensor:
    """The modified Shepp–Logan phantom, (1, 1, H, W), values in [0, 1] (max 1)."""
    params = torch.tensor(MODIFIED_SHEPP_LOGAN, dtype=torch.float64).unsqueeze(0)
    return render_ellipses(params, size).clamp_(0.0, 1.0).to(dtype=dtype, device=device)


def random_ellipses(n: int, size: int | tuple[int, int] = 256, *, n_ellipses: int = 8, seed: int = 0,
                    dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
    """``n`` images of overlapping random ellipses inside the unit disc, (n, 1, H, W), values in [0, 1].

    The training data of the paper's Ell 50 network were of this kind. Each image is a bright outer
    ellipse (an "object") holding ``n_ellipses`` smaller ones of random size, position, angle and
    signed intensity; the sum is clipped to [0, 1]. Seeded: the same seed draws the same images.
    """
    if n < 1 or n_ellipses < 0:
        raise ValueError(f"need n >= 1 images and n_ellipses >= 0, got n={n}, n_ellipses={n_ellipses}.")
    gen = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=gen, dtype=torch.float64)  # noqa: E731
    outer = torch.stack([0.6 + 0.2 * rand(n), 0.7 + 0.2 * rand(n), 0.7 + 0.2 * rand(n),
                         0.1 * (rand(n) - 0.5), 0.1 * (rand(n) - 0.5), 180 * rand(n)], dim=-1).unsqueeze(1)
    k = n_ellipses
    radius, theta = 0.55 * torch.sqrt(rand(n, k)), 2 * torch.pi * rand(n, k)
    inner = torch.stack([0.6 * (rand(n, k) - 0.5), 0.03 + 0.22 * rand(n, k), 0.03 + 0.22 * rand(n, k),
                         radius * torch.cos(theta), radius * torch.sin(theta), 180 * rand(n, k)], dim=-1)
    images = render_ellipses(torch.cat([outer, inner], dim=1), size).clamp_(0.0, 1.0)
    return images.to(dtype=dtype, device=device)
