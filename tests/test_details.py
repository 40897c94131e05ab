"""Structural details: shapes against their analytic areas and symmetries, text letters, placement, scaling."""

import math

import pytest
import torch
from PIL import ImageFont
from scipy import ndimage

from pytest_stability.details import (
    DEFAULT_CONTRAST,
    DETAIL_NAMES,
    SPADE_LOBE_HEIGHT,
    Detail,
    make_detail,
    make_details,
)

SHAPES = ("spade", "heart", "diamond", "club", "lesion")
HEART_SIDE = 1.0 / (1.5 / math.sqrt(2) + 0.5)  # the heart's turned square, for a heart of height 1


def tight_box(pattern: torch.Tensor) -> tuple[int, int, int, int]:
    rows = torch.nonzero(pattern.sum(dim=1) > 0).flatten()
    cols = torch.nonzero(pattern.sum(dim=0) > 0).flatten()
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


@pytest.mark.parametrize("name", DETAIL_NAMES)
def test_pattern_conventions(name):
    d = make_detail(name, (64, 80))
    assert d.name == name and d.pattern.shape == (64, 80) and d.pattern.dtype == torch.float32
    assert float(d.pattern.min()) == 0.0 and 0.0 < float(d.pattern.max()) <= 1.0
    assert d.box == tight_box(d.pattern)
    top, left, bottom, right = d.box
    assert 0 <= top < bottom <= 64 and 0 <= left < right <= 80
    outside = d.pattern.clone()
    outside[top:bottom, left:right] = 0
    assert not outside.any()
    assert d.image_shape == (64, 80)


@pytest.mark.parametrize("name", SHAPES)
def test_shapes_have_full_interior_and_antialiased_edge(name):
    p = make_detail(name, (64, 64), size=24).pattern
    assert float(p.max()) == 1.0  # fully covered pixels inside
    edge = (p > 0) & (p < 1)
    assert edge.any()
    # 4 x 4 supersampling: coverage is a multiple of 1/16
    torch.testing.assert_close(p * 16, (p * 16).round())


@pytest.mark.parametrize(("name", "area_per_size2"), [
    ("heart", (1 + math.pi / 4) * HEART_SIDE**2),
    ("diamond", 0.75 / 2),
    ("lesion", math.pi / 4),
])
@pytest.mark.parametrize("size", [12.0, 24.0, 37.5])
def test_areas_match_the_analytic_shapes(name, area_per_size2, size):
    d = make_detail(name, (64, 64), size=size, center=(0.47, 0.53))
    assert float(d.pattern.sum()) == pytest.approx(area_per_size2 * size**2, rel=0.015)


@pytest.mark.parametrize(("name", "width_per_height"), [
    ("heart", 2 * HEART_SIDE * (0.5 / math.sqrt(2) + 0.5)),
    ("spade", SPADE_LOBE_HEIGHT * 2 * HEART_SIDE * (0.5 / math.sqrt(2) + 0.5)),
    ("diamond", 0.75),
    ("club", 0.9),
    ("lesion", 1.0),
])
def test_box_is_size_tall_and_as_wide_as_the_shape(name, width_per_height):
    size = 30.0
    d = make_detail(name, (64, 64), size=size)  # centred on the pixel boundary 32: the box is exact
    top, left, bottom, right = d.box
    assert (top, bottom) == (17, 47)
    assert right - left == pytest.approx(width_per_height * size, abs=2.0)
    assert (left + right) / 2 == 32


@pytest.mark.parametrize("name", SHAPES)
def test_shapes_are_left_right_symmetric(name):
    p = make_detail(name, (64, 64), size=40).pattern
    torch.testing.assert_close(p, p.flip(1), rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", ["diamond", "lesion"])
def test_diamond_and_lesion_are_up_down_symmetric(name):
    p = make_detail(name, (64, 64), size=40).pattern
    torch.testing.assert_close(p, p.flip(0), rtol=0, atol=1e-6)


def test_heart_lobes_are_up_and_point_is_down():
    p = make_detail("heart", (64, 64), size=40).pattern  # rows 12..52, centre row 32
    assert float(p[:32].sum()) > 1.3 * float(p[32:].sum())
    assert float(p[12].sum()) > 2 * float(p[51].sum())  # two lobes at the top, a point at the bottom
    top_row = p[12] > 0
    assert not top_row[32 - 1 : 32 + 1].any()  # the notch between the lobes
    assert top_row[:32].any() and top_row[32:].any()


def test_spade_is_an_upside_down_heart_on_a_stem():
    h, size = 64, 32.0  # spade rows [16, 48): lobes [16, 40), centre row 28; the stem below
    spade = make_detail("spade", (h, h), size=size).pattern
    lobe_size = SPADE_LOBE_HEIGHT * size
    lobe_centre = 16 + lobe_size / 2
    heart = make_detail("heart", (h, h), size=lobe_size, center=((h - lobe_centre) / h, 0.5)).pattern.flip(0)
    stem = spade - heart
    assert float(stem.min()) >= -1e-6  # the spade holds the upside-down heart ...
    torch.testing.assert_close(spade[:30], heart[:30], rtol=0, atol=1e-6)  # ... exactly, above the stem
    assert float(stem[40:].sum()) > 0.8 * float(stem.sum()) > 0  # the stem hangs below the lobes
    widths = spade.sum(dim=1)
    assert float(widths[16]) < 2  # the point at the top
    assert float(widths[47]) > 2 * float(widths[41])  # a narrow neck flaring into a foot


def test_club_has_three_leaves_on_a_stem():
    p = make_detail("club", (64, 64), size=40).pattern  # rows [12, 52)
    widths = p.sum(dim=1)
    top_leaf = float(widths[12 + 8])  # through the top leaf's centre (0.215 x 40 below the top)
    side_leaves = float(widths[32 + 1])  # through the side leaves' centres (0.03 x 40 below the middle)
    assert top_leaf == pytest.approx(0.43 * 40, abs=1.5)
    assert side_leaves == pytest.approx(0.9 * 40, abs=1.5)
    # the two side leaves are separated by a gap below their centres, where only the stem shows
    row = p[32 + 8]
    assert bool(row[32]) and not bool(row[32 - 4]) and bool(row[32 - 10])
    assert float(widths[51]) > 2 * float(widths[44])  # stem: a narrow neck flaring into a foot


def count_runs(ink: torch.Tensor, min_gap: int) -> int:
    """Runs of True in a 1-D boolean tensor, merging runs separated by fewer than min_gap Falses."""
    idx = torch.nonzero(ink).flatten()
    return 1 + int((idx.diff() > min_gap).sum())


def test_text_letters_and_words():
    size = 24
    d = make_detail("text", (96, 256), size=size)
    ink = d.pattern > 0.5
    _, letters = ndimage.label(ink.numpy())
    assert letters == 9  # C A N U S E E I T, each one connected stroke
    columns = d.pattern.sum(dim=0) > 0
    assert count_runs(columns, min_gap=size // 3) == 4  # CAN, U, SEE, IT
    top, _, bottom, _ = d.box
    assert bottom - top == pytest.approx(size, abs=2)  # size is the capital (ink) height


def test_text_default_size_fills_60_percent_of_the_width():
    for shape in [(128, 128), (256, 320)]:
        _, left, _, right = make_detail("text", shape).box
        assert right - left == pytest.approx(0.6 * shape[1], abs=3)


def test_custom_text():
    d = make_detail("text", (64, 64), text="HI", size=16, center=(0.25, 0.5))
    _, letters = ndimage.label((d.pattern > 0.5).numpy())
    assert letters == 2
    assert (d.box[0] + d.box[2]) / 2 == pytest.approx(16, abs=1)
    with pytest.raises(ValueError, match="no ink"):
        make_detail("text", (64, 64), text="   ", size=10)


def test_text_without_freetype_uses_the_bitmap_font(monkeypatch):
    def load_default(size=None):
        if size is not None:
            raise ImportError("The _imagingft C module is not installed")
        return ImageFont.load_default_imagefont()

    monkeypatch.setattr(ImageFont, "load_default", load_default)
    size = 20
    d = make_detail("text", (96, 256), size=size)
    top, _, bottom, _ = d.box
    assert bottom - top == pytest.approx(size, abs=2)
    assert count_runs(d.pattern.sum(dim=0) > 0, min_gap=size // 3) == 4


@pytest.mark.parametrize("name", DETAIL_NAMES)
def test_center_and_size_move_and_scale_the_box(name):
    shape, center = ((128, 480), (0.25, 0.6)) if name == "text" else ((128, 160), (0.25, 0.75))
    small = make_detail(name, shape, size=12, center=center)
    top, left, bottom, right = small.box
    assert (top + bottom) / 2 == pytest.approx(center[0] * shape[0], abs=1)
    assert (left + right) / 2 == pytest.approx(center[1] * shape[1], abs=1)
    big = make_detail(name, shape, size=24, center=center)
    assert big.box[2] - big.box[0] == pytest.approx(2 * (bottom - top), abs=2)
    assert big.box[3] - big.box[1] == pytest.approx(2 * (right - left), abs=3, rel=0.03)  # text: hinting


@pytest.mark.parametrize("name", DETAIL_NAMES)
def test_deterministic(name):
    a = make_detail(name, (48, 200), size=10, center=(0.4, 0.6))
    b = make_detail(name, (48, 200), size=10, center=(0.4, 0.6))
    assert torch.equal(a.pattern, b.pattern) and a.box == b.box


def test_default_sizes():
    top, _, bottom, _ = make_detail("lesion", (256, 300)).box  # 8 % of 256 = 20.48 px, centred on row 128
    assert (top, bottom) == (math.floor(128 - 10.24), math.ceil(128 + 10.24))
    top, _, bottom, _ = make_detail("heart", (40, 40)).box  # at least 7 px: rows [16.5, 23.5)
    assert (top, bottom) == (16, 24)


@pytest.mark.parametrize("name", DETAIL_NAMES)
def test_placement_outside_the_image_is_refused(name):
    with pytest.raises(ValueError) as info:
        make_detail(name, (64, 64), size=20, center=(0.05, 0.5))
    message = str(info.value)
    assert repr(name) in message and "size 20" in message and "(0.05, 0.5)" in message and "64x64" in message


def test_bad_names_sizes_and_shapes():
    with pytest.raises(ValueError, match="spade, heart, diamond, club, text, lesion"):
        make_detail("star", (64, 64))
    for size in (0, -3.0, float("nan")):
        with pytest.raises(ValueError, match="size must be a positive"):
            make_detail("heart", (64, 64), size=size)
    with pytest.raises(ValueError, match="image_shape"):
        make_detail("heart", (64, 0))


def test_make_details():
    details = make_details(("heart", "lesion"), (64, 64), size=10)
    assert [d.name for d in details] == ["heart", "lesion"]
    assert details[1].box == make_detail("lesion", (64, 64), size=10).box
    assert [d.name for d in make_details("club", (64, 64))] == ["club"]


def test_box_slice_margin_is_clipped():
    d = make_detail("lesion", (64, 64), size=10, center=(5 / 64, 0.5))  # rows [0, 10)
    assert d.box_slice() == (slice(0, 10), slice(27, 37))
    assert d.box_slice(3) == (slice(0, 13), slice(24, 40))
    with pytest.raises(ValueError, match="margin"):
        d.box_slice(-1)


def test_scaled_amplitude_follows_each_image_maximum():
    d = make_detail("diamond", (32, 32), size=12)
    images = torch.rand(3, 2, 32, 32) * torch.tensor([1.0, 4.0, 0.25]).view(3, 1, 1, 1)
    images[1, 0, 0, 0] = -9.0  # max |x| counts negative values
    peaks = torch.tensor([float(images[0].abs().max()), 9.0, float(images[2].abs().max())])
    r = d.scaled(images, contrast=0.2)
    assert r.shape == images.shape and r.dtype == torch.float32
    for b in range(3):
        for c in range(2):
            torch.testing.assert_close(r[b, c], 0.2 * peaks[b] * d.pattern)
    assert float(r[1].max()) == pytest.approx(0.2 * 9.0)  # the pattern reaches 1 inside
    default = d.scaled(images)
    torch.testing.assert_close(default, r * (DEFAULT_CONTRAST / 0.2))
    dark = d.scaled(images, contrast=-0.1)
    assert float(dark.max()) == 0.0 and float(dark.min()) == pytest.approx(-0.1 * 9.0)


def test_scaled_complex_and_double_images():
    d = make_detail("lesion", (16, 16), size=8)
    images = torch.randn(2, 1, 16, 16, dtype=torch.complex128)
    r = d.scaled(images, contrast=0.3)
    assert r.dtype == torch.complex128
    peaks = images.abs().amax(dim=(1, 2, 3))
    torch.testing.assert_close(r.abs(), 0.3 * peaks.view(2, 1, 1, 1) * d.pattern.double().expand(2, 1, 16, 16))
    # in each pixel's phase: the magnitude grows by exactly |d|, whatever the image's phase
    torch.testing.assert_close((images + r).abs(), images.abs() + r.abs())
    assert d.scaled(torch.rand(1, 1, 16, 16, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_scaled_follows_the_device():
    d = make_detail("club", (32, 32), size=12)
    images = torch.rand(2, 1, 32, 32, device="cuda", dtype=torch.complex64)
    r = d.scaled(images, contrast=0.5)
    assert r.device == images.device and r.dtype == torch.complex64
    torch.testing.assert_close(r.cpu(), d.scaled(images.cpu(), contrast=0.5))


def test_scaled_refuses_bad_input():
    d = make_detail("heart", (32, 32), size=10)
    with pytest.raises(ValueError, match="32x32"):
        d.scaled(torch.ones(1, 1, 16, 16))
    with pytest.raises(ValueError, match=r"images \[1\] are all zero"):
        d.scaled(torch.stack([torch.ones(1, 32, 32), torch.zeros(1, 32, 32)]))
    with pytest.raises(ValueError, match="contrast"):
        d.scaled(torch.ones(1, 1, 32, 32), contrast=0.0)
    with pytest.raises(ValueError, match="B, C, H, W"):
        d.scaled(torch.ones(32, 32))
    with pytest.raises(TypeError, match="floating point"):
        d.scaled(torch.ones(1, 1, 32, 32, dtype=torch.int64))


def test_detail_requires_a_2d_pattern():
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        Detail("heart", torch.zeros(1, 8, 8), (0, 0, 1, 1))
