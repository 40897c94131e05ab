"""The HTML report's picture panels: one image of a result as a PNG beside the page, with its caption.

Each check kind draws its own figures (:meth:`~pytest_stability.kinds.base.CheckKind.figures`) from these
pieces: :class:`Figures` writes the panels of one result, :func:`magnitude` turns a complex or multi-channel image
into what is shown, :func:`peak` gives a row one intensity scale. torch and PIL are imported inside the functions.
"""

from __future__ import annotations

import hashlib
import html
import math
from pathlib import Path
from typing import Any

MIN_PIXELS = 256  # small images are enlarged (nearest neighbour, every pixel kept) to at least this many pixels a side


def escape(value: Any) -> str:
    """Any value as HTML text (quotes escaped too: safe inside attributes)."""
    return html.escape(str(value), quote=True)


def num(value: Any, spec: str = ".3g") -> str:
    """A number of a record for the page: "-" when missing, other values as text."""
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, spec)
    return str(value)


def magnitude(t: Any) -> Any:
    """(H, W) or (3, H, W) real tensor of one image: |complex|, root-sum-of-squares over non-RGB channels."""
    t = t.detach().cpu()
    while t.dim() > 3:
        t = t[0]
    if t.dim() == 2:
        t = t.unsqueeze(0)
    if t.is_complex():
        t = t.abs()
    t = t.float()
    if t.shape[0] == 3:
        return t
    return t.pow(2).sum(0).sqrt() if t.shape[0] > 1 else t[0].abs()


def peak(t: Any) -> float:
    """The largest magnitude of an image (1 when it has none): the top of its intensity scale."""
    value = float(magnitude(t).max())
    return value if math.isfinite(value) and value > 0 else 1.0


def _to_rgb(img: Any, top: float) -> Any:
    """A (3, H', W') float tensor in [0, 1]: img / top, clamped, enlarged to at least MIN_PIXELS a side."""
    import torch

    img = torch.nan_to_num(img, nan=0.0, posinf=top, neginf=0.0)
    img = (img / top if top > 0 else img).clamp(0, 1)
    if img.dim() == 2:
        img = img.unsqueeze(0).expand(3, -1, -1)
    scale = max(1, math.ceil(MIN_PIXELS / max(img.shape[-2:])))
    return img.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1).contiguous()


def _save_png(rgb: Any, path: Path) -> None:
    import torch
    from PIL import Image

    array = (rgb.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    Image.fromarray(array, mode="RGB").save(path)


def _mark_box(rgb: Any, box: list[int], shape: tuple[int, int]) -> Any:
    """Draw the detail's box (top, left, bottom, right in pixels of ``shape``) in red on an enlarged picture."""
    scale = rgb.shape[-1] // shape[-1]
    top, left, bottom, right = (int(v) * scale for v in box)
    bottom, right = min(bottom, rgb.shape[-2]) - 1, min(right, rgb.shape[-1]) - 1
    top, left = max(top, 0), max(left, 0)
    red = rgb.new_tensor([1.0, 0.0, 0.0]).view(3, 1)
    rgb = rgb.clone()
    rgb[:, top, left:right + 1] = red
    rgb[:, bottom, left:right + 1] = red
    rgb[:, top:bottom + 1, left] = red
    rgb[:, top:bottom + 1, right] = red
    return rgb


class Figures:
    """Writes the PNG panels of one result into DIR/figures and returns their <figure> markup."""

    def __init__(self, report_dir: Path, nodeid: str):
        self.folder = report_dir / "figures"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stem = hashlib.sha1(nodeid.encode()).hexdigest()[:12]
        self.count = 0

    def panel(self, rgb: Any, caption: str) -> str:
        self.count += 1
        name = f"{self.stem}-{self.count}.png"
        _save_png(rgb, self.folder / name)
        return (f'<figure><img src="figures/{name}" alt="{escape(caption)}" width="{rgb.shape[-1]}" '
                f'height="{rgb.shape[-2]}"><figcaption>{escape(caption)}</figcaption></figure>')

    def image(self, t: Any, caption: str, top: float, box: list[int] | None = None) -> str:
        """One image as a panel, scaled so that ``top`` is white; ``box`` marks a detail in red."""
        img = magnitude(t)
        rgb = _to_rgb(img, top)
        if box is not None:
            rgb = _mark_box(rgb, box, tuple(img.shape[-2:]))
        return self.panel(rgb, caption)
