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
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                 for v in value):
        return "[" + ", ".join(format(v, spec) for v in value) + "]"  # an interval, per-image numbers
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
    return _scaled(img)


def _scaled(rgb: Any) -> Any:
    """A (3, H, W) picture enlarged (nearest neighbour, every pixel kept) to at least MIN_PIXELS a side."""
    scale = max(1, math.ceil(MIN_PIXELS / max(rgb.shape[-2:])))
    return rgb.repeat_interleave(scale, dim=-2).repeat_interleave(scale, dim=-1).contiguous()


def _save_png(rgb: Any, path: Path) -> None:
    import torch
    from PIL import Image

    array = (rgb.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
    Image.fromarray(array, mode="RGB").save(path)


def _mark_box(rgb: Any, box: list[int], shape: tuple[int, int], colour: tuple[float, ...] = (1.0, 0.0, 0.0)) -> Any:
    """Draw a box (top, left, bottom, right in pixels of ``shape``; a detail's in red) on an enlarged picture."""
    scale = rgb.shape[-1] // shape[-1]
    top, left, bottom, right = (int(v) * scale for v in box)
    bottom, right = min(bottom, rgb.shape[-2]) - 1, min(right, rgb.shape[-1]) - 1
    top, left = max(top, 0), max(left, 0)
    red = rgb.new_tensor(colour).view(3, 1)
    rgb = rgb.clone()
    rgb[:, top, left:right + 1] = red
    rgb[:, bottom, left:right + 1] = red
    rgb[:, top:bottom + 1, left] = red
    rgb[:, top:bottom + 1, right] = red
    return rgb


PLOTS_NEED_MATPLOTLIB = ('<p class="note">Plots need matplotlib: <code>pip install matplotlib</code> (the '
                         "<code>report</code> extra).</p>")


def plot(report_dir: Path, key: str, kind: str, caption: str, draw: Any) -> str:
    """A matplotlib plot as DIR/figures/<sha1(key)[:12]>-<kind>.png and its <figure> markup; ``draw(ax)`` draws it.
    A note instead when matplotlib is not installed (the ``report`` extra)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return PLOTS_NEED_MATPLOTLIB
    figure = Figure(figsize=(4.8, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    draw(ax)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figure.tight_layout()
    folder = report_dir / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{hashlib.sha1(key.encode()).hexdigest()[:12]}-{kind}.png"
    figure.savefig(folder / name)
    return (f'<figure><img src="figures/{name}" alt="{escape(caption)}" class="plot">'
            f"<figcaption>{escape(caption)}</figcaption></figure>")


HEAT = ((0.0, 0.0, 0.02), (0.34, 0.06, 0.43), (0.73, 0.21, 0.33), (0.98, 0.55, 0.04), (0.99, 1.0, 0.64))
"""Stops of the heat map's colour scale, low to high (an inferno-like ramp: dark, purple, red, orange, yellow)."""


def heat_rgb(img: Any, top: float) -> Any:
    """A (3, H, W) colour picture of a non-negative (H, W) map, 0 dark and ``top`` yellow (clamped)."""
    import torch

    stops = torch.tensor(HEAT)  # (S, 3)
    v = torch.nan_to_num(img / top if top > 0 else img, nan=0.0, posinf=1.0).clamp(0, 1) * (len(HEAT) - 1)
    low = v.floor().long().clamp(max=len(HEAT) - 2)
    t = (v - low).unsqueeze(-1)
    return (stops[low] * (1 - t) + stops[low + 1] * t).permute(2, 0, 1).contiguous()


def largest_change(img: Any, size: int) -> list[int]:
    """The ``size`` × ``size`` window of an (H, W) map with the largest mean: [top, left, bottom, right]."""
    import torch

    size = max(1, min(size, *img.shape[-2:]))
    pooled = torch.nn.functional.avg_pool2d(torch.nan_to_num(img.float())[None, None], size, stride=1)[0, 0]
    top, left = divmod(int(torch.argmax(pooled)), pooled.shape[-1])
    return [top, left, top + size, left + size]


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

    def heat(self, t: Any, caption: str) -> str:
        """An artefact map: |t| as a heat map with its colour bar (0 … its peak), the window of largest change
        (an eighth of the image a side) outlined in white."""
        import torch

        img = magnitude(t)
        top = peak(img)
        box = largest_change(img, max(2, max(img.shape[-2:]) // 8))
        rgb = _mark_box(_scaled(heat_rgb(img, top)), box, tuple(img.shape[-2:]), colour=(1.0, 1.0, 1.0))
        ramp = torch.linspace(1, 0, rgb.shape[-2]).unsqueeze(1).expand(-1, max(8, rgb.shape[-1] // 24))
        gap = torch.ones(3, rgb.shape[-2], 4)
        rgb = torch.cat([rgb, gap, heat_rgb(ramp, 1.0)], dim=-1)
        return self.panel(rgb, f"{caption}; colour bar 0 … {top:.3g}, box: largest change")

    def image(self, t: Any, caption: str, top: float, box: list[int] | None = None) -> str:
        """One image as a panel, scaled so that ``top`` is white; ``box`` marks a detail in red."""
        img = magnitude(t)
        rgb = _to_rgb(img, top)
        if box is not None:
            rgb = _mark_box(rgb, box, tuple(img.shape[-2:]))
        return self.panel(rgb, caption)
