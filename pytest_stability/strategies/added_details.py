"""Structural details (card suits, text, a lesion; :mod:`pytest_stability.details`) added to x at a position drawn
inside the object, the fuzz check's ``kind="detail"``."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from hypothesis import strategies as st

from ..details import make_detail
from ..metrics import l2_norm
from ..names import DETAIL_NAMES
from .perturbation import Perturbation, check_images


def object_support(x: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """The object's support (H, W) bool: pixels with |x| > threshold × max|x| in every image, holes filled (a
    dark ventricle inside the brain is inside; the background connected to the border is not)."""
    x = check_images(x)
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must lie in [0, 1) (a fraction of max|x|), got {threshold!r}.")
    magnitude = x.abs().amax(dim=1)  # (B, H, W)
    inside = magnitude > threshold * magnitude.reshape(x.shape[0], -1).amax(dim=1).view(-1, 1, 1)
    border = torch.zeros_like(inside)
    border[:, 0, :] = border[:, -1, :] = border[:, :, 0] = border[:, :, -1] = True
    background = border & ~inside
    while True:  # flood fill of the outside from the border, one dilation per step (at most H·W steps)
        grown = (F.max_pool2d(background.float().unsqueeze(1), 3, 1, 1).squeeze(1) > 0) & ~inside
        if torch.equal(grown, background):
            break
        background = grown
    return (~background).all(dim=0).cpu()


class _Placements:
    """Centres (i, j) at which a detail of a given name and size lies inside the support, nearest the support's
    centroid first; computed once per (name, size)."""

    def __init__(self, support: torch.Tensor):
        self.support = support
        self.shape = tuple(support.shape)
        rows, cols = torch.nonzero(support, as_tuple=True)
        self.centroid = (rows.double().mean(), cols.double().mean())
        self.cache: dict[tuple[str, int], torch.Tensor] = {}

    def __call__(self, name: str, size: int) -> torch.Tensor:
        key = (name, size)
        if key not in self.cache:
            self.cache[key] = self._compute(name, size)
        return self.cache[key]

    def _compute(self, name: str, size: int) -> torch.Tensor:
        h, w = self.shape
        ci, cj = h // 2, w // 2
        try:  # drawn centred on pixel (ci, cj): moving it by whole pixels moves the pattern exactly
            ref = make_detail(name, (h, w), size=size, center=((ci + 0.5) / h, (cj + 0.5) / w))
        except ValueError:  # larger than the image
            return torch.zeros(0, 2, dtype=torch.long)
        top, left, bottom, right = ref.box
        top, left, bottom, right = top - 1, left - 1, bottom + 1, right + 1  # a pixel of margin around the box
        kh, kw = bottom - top, right - left
        outside = F.pad((~self.support).float().view(1, 1, h, w), (kw, kw, kh, kh), value=1.0)
        bad = F.conv2d(outside, torch.ones(1, 1, kh, kw))[0, 0]  # bad[p, q]: outside pixels under the box at (p, q)
        dt, dl = top - ci + kh, left - cj + kw
        fits = bad[dt:dt + h, dl:dl + w] < 0.5
        rows, cols = torch.nonzero(fits, as_tuple=True)
        order = torch.argsort((rows - self.centroid[0]) ** 2 + (cols - self.centroid[1]) ** 2, stable=True)
        return torch.stack([rows[order], cols[order]], dim=1)


def details(x: torch.Tensor, *, names: str | Sequence[str] | None = None, sizes: tuple[int, int] | None = None,
            contrasts: tuple[float, float] = (0.2, 1.0), support: torch.Tensor | None = None,
            threshold: float = 0.1) -> st.SearchStrategy[Perturbation]:
    """Structural details d added to x (``kind="detail"``): a name from ``names`` (default: every detail of
    ``DETAIL_NAMES`` that fits inside the object at the smallest size), a size in pixels from ``sizes`` (the
    detail's height, default 5 … max(6, 10 % of the image)), a centre inside ``support`` (default
    :func:`object_support` of x with ``threshold``) such that the detail's box lies inside it, and a contrast
    from ``contrasts`` in steps of 0.05 (d = contrast × max|x_b| × pattern, :meth:`Detail.scaled`).

    Shrinks towards the first name, the smallest size, the centre of the object and the lowest contrast.
    """
    x = check_images(x)
    h, w = x.shape[-2:]
    if support is None:
        support = object_support(x, threshold)
    elif not isinstance(support, torch.Tensor) or tuple(support.shape) != (h, w):
        raise ValueError(f"support must be an (H, W) = ({h}, {w}) bool tensor, got "
                         f"{tuple(support.shape) if isinstance(support, torch.Tensor) else type(support).__name__}.")
    support = support.bool().cpu()
    if not bool(support.any()):
        raise ValueError("the object's support is empty: no pixel is above the threshold in every image; lower "
                         "threshold or pass support=... explicitly.")
    lo, hi = sizes if sizes is not None else (5, max(6, round(0.1 * min(h, w))))
    if isinstance(lo, bool) or not isinstance(lo, int) or not isinstance(hi, int) or not 1 <= lo <= hi:
        raise ValueError(f"sizes must be (smallest, largest) whole numbers of pixels, 1 <= smallest <= largest, got "
                         f"{sizes!r}.")
    c_lo, c_hi = contrasts
    if not 0 < c_lo <= c_hi:
        raise ValueError(f"contrasts must be (lowest, highest) with 0 < lowest <= highest, got {contrasts!r}.")
    placements = _Placements(support)
    explicit = names is not None
    names = tuple(DETAIL_NAMES if names is None else ((names,) if isinstance(names, str) else names))
    for name in names:
        if name not in DETAIL_NAMES:
            close = difflib.get_close_matches(str(name), DETAIL_NAMES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown detail {name!r}{hint}; expected some of {', '.join(DETAIL_NAMES)}.")
    fitting = tuple(n for n in names if len(placements(n, lo)))
    missing = [n for n in names if n not in fitting]
    if (explicit and missing) or not fitting:
        raise ValueError(f"detail(s) {', '.join(missing)} of size {lo} px do not fit inside the object "
                         f"({int(support.sum())} pixels of support in a {h}x{w} image); use smaller sizes, other "
                         "names, a lower threshold or an explicit support.")
    scale = l2_norm(x)
    steps = (round(20 * c_lo), max(round(20 * c_lo), round(20 * c_hi)))

    @st.composite
    def draw(draw: Callable) -> Perturbation:
        name = draw(st.sampled_from(fitting))
        size = draw(st.integers(lo, hi))
        while not len(placements(name, size)):  # too large for the object: the largest smaller size that fits
            size -= 1
        where = placements(name, size)
        i, j = where[draw(st.integers(0, where.shape[0] - 1))].tolist()
        contrast = draw(st.integers(*steps)) / 20
        detail = make_detail(name, (h, w), size=size, center=((i + 0.5) / h, (j + 0.5) / w))
        return Perturbation("detail", "image", detail.scaled(x, contrast), scale,
                            f"detail '{name}' of size {size} px at pixel ({i}, {j}), contrast {contrast:g}",
                            (("name", name), ("size", size), ("centre", (i, j)), ("contrast", contrast)), detail)

    return draw()
