"""Small structural details for the structural-change check: card suits, text and a lesion.

Antun et al. (PNAS 2020, Fig. 5) asked whether a reconstruction network still shows a small detail that
was not in its training data: they drew the card suits ♠ ♥ ♦ ♣ and the text "CAN U SEE IT" into an image
and looked at f(A(x + d)). We add a small disc, a stand-in for a lesion, the detail a radiologist cares
about. The check adds d to x and measures the linear recovery coefficient

    ρ = ⟨f(A(x + d)) − f(Ax), d⟩ / ‖d‖²      (1: fully kept; 0: gone; < 0: inverted)

and PSNR/SSIM inside the detail's bounding box (:meth:`Detail.box_slice`).

Conventions:

* A detail's ``pattern`` is an (H, W) float32 tensor in [0, 1]: the unit-amplitude shape, 1 where a
  pixel is fully covered, the covered fraction on the edge (antialiased by 4 × 4 supersampling), exactly 0
  outside the shape. ``box`` = (top, left, bottom, right), half-open, is tight around ``pattern > 0``.
* ``size`` is the detail's height in pixels (its ink height for text); ``center`` = (row, column) as
  fractions of the image height and width, on the continuous pixel grid where pixel i covers [i, i + 1)
  (so (0.5, 0.5) is the image centre H/2, W/2). The width follows from the shape: heart 1.09 × size,
  spade 0.82 ×, club 0.90 ×, diamond 0.75 ×, lesion 1 ×, text as the font sets it.
* The perturbation is additive: d = contrast × max|x_b| × pattern for each image b (:meth:`Detail.scaled`),
  and the check reconstructs from A(x + d). The paper's follow-up code instead *replaced* the pixels under
  the detail with a grey level of about 0.55. Replacement makes the change in the image, (0.55 − x) ×
  mask, depend on the tissue underneath: its sign and size vary across the detail, and it vanishes where
  x ≈ 0.55, so the same detail is a different perturbation on every image and at every position. Adding d
  keeps the change exactly d, known in advance, so ρ is a linear recovery coefficient: 1 for any
  reconstruction that is linear and exact on d (e.g. f = A⁻¹ for an invertible A), and comparable
  across images, positions and networks.

Suits and the lesion are analytic shapes (no font needed), drawn in local coordinates u (right) and v
(up), in units of ``size``, with v ∈ [−½, ½]:

* heart ♥: a square turned 45° (the lower point) with a disc on each of its two upper sides (the lobes);
  area (1 + π/4) L² × size² with L = 1 / (1.5/√2 + ½) the square's side, about 0.733 × size².
* spade ♠: the heart upside down, ``SPADE_LOBE_HEIGHT`` (¾) of the height, on a flared stem.
* diamond ♦: a rhombus with diagonals size × (0.75 size); area 0.375 × size².
* club ♣: three discs (top, left, right), a small disc filling their centre, on a flared stem.
* lesion: a disc of diameter ``size`` with a hard (antialiased) edge, area π size²/4. A hard edge keeps
  the support, and so the box, finite and the amplitude at the centre exactly the stated contrast.

Text is drawn with the font that ships inside Pillow (``ImageFont.load_default(size=...)``, Aileron
Regular, Pillow ≥ 10.1 with FreeType), nothing downloaded; without FreeType (or with an older Pillow) the
bitmap default font is drawn and resized to the requested height. Rendering is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from .names import DETAIL_NAMES

__all__ = ["DEFAULT_CONTRAST", "DETAIL_NAMES", "SPADE_LOBE_HEIGHT", "Detail", "make_detail", "make_details"]


DEFAULT_CONTRAST = 0.5
"""Default amplitude of a detail relative to max|x| of its image: about the paper's grey level of 0.55
on images in [0, 1], but added to the image rather than replacing it."""

SPADE_LOBE_HEIGHT = 0.75
"""Height of the spade's upside-down heart as a fraction of the spade's height; the stem makes up the rest."""

_SUPERSAMPLING = 4  # samples per pixel along each axis: 16 samples per pixel
_DEFAULT_FRACTION = 0.08  # default suit/lesion height as a fraction of min(H, W)
_MIN_DEFAULT_SIZE = 7.0  # smallest default height in pixels at which a suit is still recognisable
_TEXT_WIDTH_FRACTION = 0.6  # default text width as a fraction of the image width
_REFERENCE_FONT_SIZE = 200  # font size at which the text's ink height-to-font-size ratio is measured

# Shape geometry in units of the detail's height (see the module docstring).
_K = math.sqrt(0.5)
_HEART_SIDE = 1.0 / (1.5 * _K + 0.5)  # side L of the heart's turned square, so that the heart is 1 tall
_HEART_WIDTH = 2.0 * _HEART_SIDE * (0.5 * _K + 0.5)
_SPADE_WIDTH = SPADE_LOBE_HEIGHT * _HEART_WIDTH
_DIAMOND_WIDTH = 0.75
_CLUB_RADIUS, _CLUB_SIDE_X, _CLUB_SIDE_Y = 0.215, 0.235, -0.03  # leaf radius; side leaves' centre (±x, y)
_CLUB_WIDTH = 2 * (_CLUB_SIDE_X + _CLUB_RADIUS)
_STEM_NECK = 0.03  # half width of a stem under the lobes

_Shape = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True, eq=False)
class Detail:
    """A structural detail to add to an image: its unit-amplitude ``pattern`` and tight bounding ``box``.

    ``pattern`` is (H, W) float32 in [0, 1], 0 outside ``box`` = (top, left, bottom, right), half-open.
    Compared by identity (``eq=False``): tensors have no single truth value.
    """

    name: str
    pattern: torch.Tensor
    box: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        if self.pattern.dim() != 2:
            raise ValueError(f"Detail {self.name!r}: pattern must be (H, W), got shape {tuple(self.pattern.shape)}.")

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the images this detail is drawn for."""
        return (self.pattern.shape[0], self.pattern.shape[1])

    def scaled(self, images: torch.Tensor, contrast: float = DEFAULT_CONTRAST) -> torch.Tensor:
        """The perturbation d for a batch of images (B, C, H, W), to be added: x + d.

        d_b = contrast × max|x_b| × pattern for each image b (the maximum over its channels and pixels), the
        same in every channel, shape (B, C, H, W), on the images' device. Real images give d in their dtype;
        complex images give d in their complex dtype and in each pixel's phase, d × x/|x| (× 1 where x = 0),
        so that |x + d| = |x| + |d|: a change of the tissue's magnitude under the image's phase, at its full
        contrast for magnitude reconstructions too (a real d on an image of phase ±π/2 would barely change
        |x|). A negative contrast draws a dark detail. d is a fixed perturbation: it carries no gradient back
        to the images.
        """
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"Detail.scaled: images must be a (B, C, H, W) tensor, got {shape}.")
        if not (images.is_floating_point() or images.is_complex()):
            raise TypeError(f"Detail.scaled: images must be real floating point or complex, got {images.dtype}; "
                            "convert them with images.float().")
        if tuple(images.shape[-2:]) != self.image_shape:
            raise ValueError(f"Detail {self.name!r} was drawn for {self.image_shape[0]}x{self.image_shape[1]} "
                             f"images, got images of shape {tuple(images.shape)}; make it with "
                             f"make_detail({self.name!r}, {tuple(images.shape[-2:])}).")
        if not (math.isfinite(contrast) and contrast != 0):
            raise ValueError(f"Detail.scaled: contrast must be a finite non-zero number, got {contrast!r}.")
        real_dtype = images.real.dtype if images.is_complex() else images.dtype
        peak = images.detach().abs().reshape(images.shape[0], -1).amax(dim=1)
        if bool((peak == 0).any()):
            empty = torch.nonzero(peak == 0).flatten().tolist()
            raise ValueError(f"Detail.scaled: images {empty} are all zero, so the amplitude contrast × max|x_b| "
                             "would be 0 and the recovery ρ undefined; pass images with content.")
        pattern = self.pattern.to(device=images.device, dtype=real_dtype)
        d = ((contrast * peak).view(-1, 1, 1, 1) * pattern).expand(images.shape)
        if images.is_complex():
            x = images.detach()
            return d * torch.where(x.abs() > 0, x / x.abs().clamp_min(torch.finfo(real_dtype).tiny), torch.ones_like(x))
        return d.contiguous()

    def box_slice(self, margin: int = 0) -> tuple[slice, slice]:
        """(rows, columns) slices of the box grown by ``margin`` pixels on each side, clipped to the image."""
        if margin < 0:
            raise ValueError(f"box_slice: margin must be >= 0 pixels, got {margin}.")
        top, left, bottom, right = self.box
        h, w = self.image_shape
        rows = slice(max(top - margin, 0), min(bottom + margin, h))
        return rows, slice(max(left - margin, 0), min(right + margin, w))


def _disc(u: torch.Tensor, v: torch.Tensor, radius: float) -> torch.Tensor:
    return u * u + v * v <= radius * radius


def _flared_stem(u: torch.Tensor, v: torch.Tensor, apex: float, half_base: float) -> torch.Tensor:
    """A stem from (0, apex) down to v = −½, half width neck + (half_base − neck) t³ (t: 0 at the apex, 1 at
    the base): a narrow neck under the lobes flaring into a foot, like a card's."""
    t = ((apex - v) / (apex + 0.5)).clamp(min=0.0)
    return (v >= -0.5) & (v <= apex) & (u.abs() <= _STEM_NECK + (half_base - _STEM_NECK) * t ** 3)


def _heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    half_diagonal = _HEART_SIDE * _K
    centre = -0.5 + half_diagonal  # the square's lower corner is at v = −½
    square = u.abs() + (v - centre).abs() <= half_diagonal
    lobes = _disc(u.abs() - half_diagonal / 2, v - centre - half_diagonal / 2, _HEART_SIDE / 2)
    return square | lobes


def _spade(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    h = SPADE_LOBE_HEIGHT
    lobes = _heart(u / h, ((0.5 - h / 2) - v) / h)  # the heart upside down, its point at v = ½
    return lobes | _flared_stem(u, v, apex=0.5 - 0.6 * h, half_base=0.17)


def _diamond(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return u.abs() / (_DIAMOND_WIDTH / 2) + v.abs() / 0.5 <= 1.0


def _club(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    r = _CLUB_RADIUS
    leaves = _disc(u, v - (0.5 - r), r) | _disc(u.abs() - _CLUB_SIDE_X, v - _CLUB_SIDE_Y, r) | _disc(u, v - 0.07, 0.13)
    return leaves | _flared_stem(u, v, apex=0.0, half_base=0.16)


def _lesion(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _disc(u, v, 0.5)


# name -> (inside(u, v), width / height)
_SHAPES: dict[str, tuple[_Shape, float]] = {
    "spade": (_spade, _SPADE_WIDTH),
    "heart": (_heart, _HEART_WIDTH),
    "diamond": (_diamond, _DIAMOND_WIDTH),
    "club": (_club, _CLUB_WIDTH),
    "lesion": (_lesion, 1.0),
}


def _placement_error(name: str, size: float, center: tuple[float, float], image_shape: tuple[int, int],
                     rows: tuple[float, float], cols: tuple[float, float]) -> ValueError:
    h, w = image_shape
    return ValueError(
        f"detail {name!r} of size {size:g} px centred at {tuple(center)} (pixel row {center[0] * h:g}, column "
        f"{center[1] * w:g}) would span rows [{rows[0]:g}, {rows[1]:g}) and columns [{cols[0]:g}, {cols[1]:g}), "
        f"partly outside the {h}x{w} image; use a smaller size or move the centre inwards.")


def _paste(coverage: torch.Tensor, r0: int, c0: int, image_shape: tuple[int, int]) -> torch.Tensor:
    pattern = torch.zeros(image_shape, dtype=torch.float32)
    pattern[r0:r0 + coverage.shape[0], c0:c0 + coverage.shape[1]] = coverage.to(torch.float32)
    return pattern


def _render_shape(name: str, size: float, center: tuple[float, float], image_shape: tuple[int, int]) -> torch.Tensor:
    inside, width = _SHAPES[name]
    h, w = image_shape
    cy, cx = center[0] * h, center[1] * w
    rows, cols = (cy - size / 2, cy + size / 2), (cx - width * size / 2, cx + width * size / 2)
    eps = 1e-9
    if rows[0] < -eps or cols[0] < -eps or rows[1] > h + eps or cols[1] > w + eps:
        raise _placement_error(name, size, center, image_shape, rows, cols)
    r0, r1 = max(math.floor(rows[0]), 0), min(math.ceil(rows[1]), h)
    c0, c1 = max(math.floor(cols[0]), 0), min(math.ceil(cols[1]), w)
    n = _SUPERSAMPLING
    ys = r0 + (torch.arange((r1 - r0) * n, dtype=torch.float64) + 0.5) / n  # sample points, pixel units
    xs = c0 + (torch.arange((c1 - c0) * n, dtype=torch.float64) + 0.5) / n
    ink = inside(((xs - cx) / size).view(1, -1), ((cy - ys) / size).view(-1, 1)).to(torch.float64)
    coverage = ink.view(r1 - r0, n, c1 - c0, n).mean(dim=(1, 3))
    return _paste(coverage, r0, c0, image_shape)


def _load_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 (no size argument) or Pillow without FreeType
        return ImageFont.load_default()


def _draw_ink(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> Image.Image:
    """``text`` drawn white on black in an "L" image cropped to its ink."""
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
    pad = 2
    canvas = Image.new("L", (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), text, fill=255, font=font)
    ink = canvas.getbbox()
    if ink is None:
        raise ValueError(f"text {text!r} draws no ink; pass visible characters, e.g. 'CAN U SEE IT'.")
    return canvas.crop(ink)


def _text_ink(text: str, height: float) -> torch.Tensor:
    """``text`` as a float64 (h, w) tensor in [0, 1] cropped to its ink, ink height ≈ ``height`` pixels."""
    reference = _load_font(_REFERENCE_FONT_SIZE)
    ink = _draw_ink(text, reference)
    if isinstance(reference, ImageFont.FreeTypeFont):  # scalable: draw at the font size giving that ink height
        ink = _draw_ink(text, _load_font(max(1, round(height * _REFERENCE_FONT_SIZE / ink.height))))
    else:  # bitmap font of one size: resize its ink
        new_width = max(1, round(ink.width * height / ink.height))
        ink = ink.resize((new_width, max(1, round(height))), Image.Resampling.BILINEAR)
    return torch.from_numpy(np.asarray(ink, dtype=np.float64) / 255.0)


def _text_aspect(text: str) -> float:
    """Ink width / ink height of ``text``."""
    reference = _load_font(_REFERENCE_FONT_SIZE)
    ink = _draw_ink(text, reference)
    return ink.width / ink.height


def _render_text(text: str, size: float, center: tuple[float, float], image_shape: tuple[int, int]) -> torch.Tensor:
    n = _SUPERSAMPLING
    ink = _text_ink(text, n * size)  # drawn at n × the resolution, then averaged over n × n blocks
    h, w = image_shape
    top = round(n * center[0] * h - ink.shape[0] / 2)  # position on the n-times finer grid
    left = round(n * center[1] * w - ink.shape[1] / 2)
    if top < 0 or left < 0 or top + ink.shape[0] > n * h or left + ink.shape[1] > n * w:
        rows, cols = (top / n, (top + ink.shape[0]) / n), (left / n, (left + ink.shape[1]) / n)
        raise _placement_error("text", size, center, image_shape, rows, cols)
    r0, c0 = top // n, left // n
    r1, c1 = -(-(top + ink.shape[0]) // n), -(-(left + ink.shape[1]) // n)
    fine = torch.zeros((r1 - r0) * n, (c1 - c0) * n, dtype=torch.float64)
    fine[top - r0 * n:top - r0 * n + ink.shape[0], left - c0 * n:left - c0 * n + ink.shape[1]] = ink
    coverage = fine.view(r1 - r0, n, c1 - c0, n).mean(dim=(1, 3))
    return _paste(coverage, r0, c0, image_shape)


def _tight_box(pattern: torch.Tensor) -> tuple[int, int, int, int]:
    rows = torch.nonzero(pattern.amax(dim=1) > 0).flatten()
    cols = torch.nonzero(pattern.amax(dim=0) > 0).flatten()
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def make_detail(name: str, image_shape: tuple[int, int], *, size: float | None = None,
                center: tuple[float, float] = (0.5, 0.5), text: str = "CAN U SEE IT") -> Detail:
    """Draw the detail ``name`` (one of ``DETAIL_NAMES``) for images of ``image_shape`` = (H, W).

    ``size`` is the detail's height in pixels: for suits and the lesion the shape's height (default 8 % of
    min(H, W), at least 7 px), for ``"text"`` the height of the text's ink, i.e. the capital height for
    "CAN U SEE IT" (default: the height at which the text is 60 % of the image width). ``center`` is the
    (row, column) of the detail's centre as fractions of H and W. ``text`` is used by ``"text"`` only.
    Raises ValueError for an unknown name, a size that is not positive, or a detail that would not lie
    entirely inside the image.
    """
    if name not in DETAIL_NAMES:
        raise ValueError(f"unknown detail name {name!r}; expected one of {', '.join(DETAIL_NAMES)}.")
    if len(image_shape) != 2 or any(int(s) != s or s < 1 for s in image_shape):
        raise ValueError(f"image_shape must be (H, W) with positive integers, got {image_shape!r}.")
    image_shape = (int(image_shape[0]), int(image_shape[1]))
    if len(center) != 2 or not all(math.isfinite(c) for c in center):
        raise ValueError(f"center must be (row, column) fractions of the image, e.g. (0.5, 0.5), got {center!r}.")
    if size is None:
        if name == "text":
            size = _TEXT_WIDTH_FRACTION * image_shape[1] / _text_aspect(text)
        else:
            size = max(_MIN_DEFAULT_SIZE, _DEFAULT_FRACTION * min(image_shape))
    elif not (math.isfinite(size) and size > 0):
        raise ValueError(f"size must be a positive number of pixels (the detail's height), got {size!r}.")
    if name == "text":
        pattern = _render_text(text, float(size), center, image_shape)
    else:
        pattern = _render_shape(name, float(size), center, image_shape)
    return Detail(name=name, pattern=pattern, box=_tight_box(pattern))


def make_details(names: Iterable[str], image_shape: tuple[int, int], **kwargs) -> list[Detail]:
    """``make_detail(name, image_shape, **kwargs)`` for each name (a single name may be passed as a string)."""
    if isinstance(names, str):
        names = (names,)
    return [make_detail(name, image_shape, **kwargs) for name in names]
