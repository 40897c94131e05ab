"""The images the zoo trains on: MNI152 brain slices in three orientations, augmented, and CT maps made from them.

Source (nothing downloaded): the ICBM 2009a MNI152 templates that nilearn ships inside its package, at full
resolution (1 mm, 197 × 233 × 189): the skull-stripped T1 image and the grey- and white-matter probability maps;
cerebrospinal fluid is what is left of the brain mask, CSF = clip(brain − GM − WM, 0, 1). Every slice of the
three orientations (axial z, coronal y, sagittal x) that holds enough brain is cut out of a 208 mm square field of
view centred on the brain and resampled to ``SIZE`` × ``SIZE`` (1.625 mm pixels), as four channels T1, GM, WM, CSF.

Splits, by slice position (one template brain, so "held out" means distant in the same orientation):

* ``test``: axial z = 70, 90, 110, 130, the images the demo tests (shipped in ``data/mni152_128.npz`` by
  ``data/make_test_images.py``, so tests and the demo need no nilearn);
* ``val``: axial z = 45, 120, coronal y = 85, 118, 150, sagittal x = 60, 98, 135, the training curves' images;
* ``train``: every other slice more than ``GAP`` = 4 mm from a test or validation slice of its orientation.

A slice of another orientation still crosses a held-out slice along one line; with a single brain that cannot
be avoided, and the augmentation (elastic deformation, contrast) keeps training images away from the test ones.

Augmentation (:func:`augment`, batched, seeded): a random affine map (rotation ±10°, scale 0.9–1.1, shifts ±6 px,
left-right flip) composed with an elastic deformation (a 5 × 5 grid of Gaussian displacements, σ 2.5 px, upsampled
bicubically, as in Ronneberger et al.'s U-Net), applied to the four channels at once; then a contrast: half the
images are T1 with a gamma 0.7–1.4, half a synthetic contrast a·GM + b·WM + c·CSF with random tissue intensities
(T2- and PD-like orderings included); a smooth multiplicative bias field (±10 %) and an intensity scale 0.8–1.1.

CT (:func:`ct_images`): linear attenuation relative to water, μ/μ_water = 1 + HU/1000, from the tissue maps: CSF
15 HU, WM 25 HU, GM 40 HU, a skull ring of cortical bone (≈ 1000 HU, 5–7 px thick: a dilation of the brain mask)
and a scalp of soft tissue (≈ 0 HU), everything else air; divided by 2 so that images lie in [0, 1]. Training
draws the HU values, the skull thickness and density at random around these; the test images use them as written.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SIZE = 128
FIELD_MM = 208
GAP = 4
TEST = {"axial": (70, 90, 110, 130)}
VAL = {"axial": (45, 120), "coronal": (85, 118, 150), "sagittal": (60, 98, 135)}
AXIS = {"sagittal": 0, "coronal": 1, "axial": 2}
MIN_BRAIN = 0.08  # fraction of the field of view a slice's brain must cover to be used


def _template() -> np.ndarray:
    """The (4, 197, 233, 189) float32 volume T1, GM, WM, CSF from nilearn's packaged MNI152 templates."""
    try:
        from nilearn.datasets import load_mni152_gm_template, load_mni152_template, load_mni152_wm_template
    except ImportError as error:  # training and the data script only; tests read data/mni152_128.npz
        raise ImportError("making training images needs nilearn (it ships the MNI152 template): "
                          "pip install -e '.[zoo]'") from error
    t1, gm, wm = (load(resolution=1).get_fdata(dtype=np.float32) for load in
                  (load_mni152_template, load_mni152_gm_template, load_mni152_wm_template))
    brain = (t1 > 0.02).astype(np.float32)
    csf = np.clip(brain - gm - wm, 0.0, 1.0)
    return np.stack([t1, gm, wm, csf])


def _slice(volume: np.ndarray, orientation: str, index: int) -> np.ndarray:
    """One slice (4, SIZE, SIZE): the FIELD_MM square centred on the brain, anti-aliased and resampled."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    axis = AXIS[orientation]
    plane = np.take(volume, index, axis=axis + 1)  # (4, a, b), in-plane axes in volume order
    brain = plane[1] + plane[2] + plane[3] > 0.5
    centre = [(np.flatnonzero(brain.any(1 - k)).min() + np.flatnonzero(brain.any(1 - k)).max()) / 2
              if brain.any() else plane.shape[k + 1] / 2 for k in range(2)]
    step = FIELD_MM / SIZE
    grid = (np.arange(SIZE) - (SIZE - 1) / 2) * step
    a, b = np.meshgrid(centre[0] + grid, centre[1] + grid, indexing="ij")
    out = np.stack([map_coordinates(gaussian_filter(c, sigma=0.4 * step), [a, b], order=1, cval=0.0)
                    for c in plane])
    return np.rot90(out, k=1, axes=(1, 2)).astype(np.float32)  # superior/anterior up, as radiology shows it


CACHE = Path.home() / ".cache" / "pytest-stability-zoo" / f"mni152_slices_{SIZE}.npz"


@lru_cache(maxsize=1)
def _slices() -> dict[str, torch.Tensor]:
    """All usable slices by split, (N, 4, SIZE, SIZE) float32 each: about a minute the first time, then read
    from :data:`CACHE` (a file outside the repository, rebuilt when deleted)."""
    if CACHE.exists():
        with np.load(CACHE) as data:
            return {k: torch.from_numpy(data[k]) for k in data.files}
    volume = _template()
    splits: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for orientation, axis in AXIS.items():
        held = TEST.get(orientation, ()) + VAL.get(orientation, ())
        for index in range(volume.shape[axis + 1]):
            if index in TEST.get(orientation, ()):
                splits["test"].append(_slice(volume, orientation, index))
            elif index in VAL.get(orientation, ()):
                splits["val"].append(_slice(volume, orientation, index))
            elif all(abs(index - h) > GAP for h in held):
                image = _slice(volume, orientation, index)
                if (image[1:].sum(0) > 0.5).mean() >= MIN_BRAIN:
                    splits["train"].append(image)
    arrays = {k: np.stack(v) for k, v in splits.items()}
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(CACHE, **arrays)
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def tissue_maps(split: str) -> torch.Tensor:
    """(N, 4, SIZE, SIZE) float32 channels T1, GM, WM, CSF of the ``split`` ("train", "val" or "test") slices."""
    return _slices()[split]


def t1_images(maps: torch.Tensor) -> torch.Tensor:
    """The T1 channel of tissue maps, each image scaled to max 1: (N, 1, H, W)."""
    x = maps[:, :1]
    return x / x.amax(dim=(1, 2, 3), keepdim=True)


def _rand(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def deform(maps: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random affine map composed with an elastic deformation, the same for all channels of an image."""
    n, _, h, w = maps.shape
    angle = _rand(gen, n, -math.pi / 18, math.pi / 18)
    scale = _rand(gen, n, 0.9, 1.1)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    shift = (torch.rand(n, 2, generator=gen) * 2 - 1) * (12 / h)  # ±6 px in [-1, 1] units
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, (n, 1, h, w), align_corners=False)
    coarse = torch.randn(n, 2, 5, 5, generator=gen) * (2.5 * 2 / h)  # σ 2.5 px
    elastic = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True)
    return F.grid_sample(maps, grid + elastic.permute(0, 2, 3, 1), mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def _bias_field(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """Smooth multiplicative fields 1 + (±10 %) of a random plane and quadratic, (n, 1, h, w)."""
    yy = torch.linspace(-1, 1, h).view(1, h, 1)
    xx = torch.linspace(-1, 1, w).view(1, 1, w)
    c = (torch.rand(n, 5, generator=gen) * 2 - 1).view(n, 5, 1, 1) * 0.04
    field = c[:, 0] * yy + c[:, 1] * xx + c[:, 2] * yy * xx + c[:, 3] * yy**2 + c[:, 4] * xx**2
    return (1 + field).unsqueeze(1)


def mri_contrast(maps: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random MRI contrasts of (deformed) tissue maps, (N, 1, H, W) in [0, 1.1]; see the module docstring."""
    n, _, h, w = maps.shape
    gamma = _rand(gen, n, 0.7, 1.4).view(n, 1, 1, 1)
    t1 = maps[:, :1].clamp_min(0) ** gamma
    tissue = torch.rand(n, 3, generator=gen).view(n, 3, 1, 1)  # intensities of GM, WM, CSF
    synthetic = (maps[:, 1:] * tissue).sum(1, keepdim=True)
    use_t1 = (torch.rand(n, generator=gen) < 0.5).view(n, 1, 1, 1)
    x = torch.where(use_t1, t1, synthetic) * _bias_field(n, h, w, gen)
    x = x / x.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return x * _rand(gen, n, 0.8, 1.1).view(n, 1, 1, 1)


def augment(maps: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Training MRI images (N, 1, H, W) from tissue maps: :func:`deform`, then :func:`mri_contrast`."""
    return mri_contrast(deform(maps, gen), gen)


HU = {"csf": 15.0, "wm": 25.0, "gm": 40.0, "bone": 1000.0, "scalp": 0.0}


def _dilate(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    return F.max_pool2d(mask, 2 * pixels + 1, stride=1, padding=pixels)


def ct_images(maps: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    """CT attenuation images (N, 1, H, W) in [0, 1] from tissue maps; random tissue values when ``gen`` is given
    (training), the nominal ones of :data:`HU` otherwise (test and validation images)."""
    n = maps.shape[0]
    brain = (maps[:, 1:].sum(1, keepdim=True)).clamp(0, 1)
    inner, outer, skin = 1, 5, 8  # dura gap, skull's outer edge, scalp's outer edge (pixels from the brain)
    if gen is None:
        hu = {k: torch.full((n, 1, 1, 1), v) for k, v in HU.items()}
        thickness = torch.zeros(n, dtype=torch.long)
    else:
        hu = {k: (v + torch.randn(n, generator=gen) * (150.0 if k == "bone" else 5.0)).view(n, 1, 1, 1)
              for k, v in HU.items()}
        thickness = torch.randint(0, 3, (n,), generator=gen)
    solid = (brain > 0.5).float()
    dura = _dilate(solid, inner)
    extra = thickness.view(n, 1, 1, 1)  # 0-2 px more skull (and the scalp moved out with it)
    bone_edge = torch.stack([_dilate(solid, outer + t) for t in range(3)]).gather(
        0, extra.unsqueeze(0).expand(1, *solid.shape)).squeeze(0)
    skin_edge = torch.stack([_dilate(solid, skin + t) for t in range(3)]).gather(
        0, extra.unsqueeze(0).expand(1, *solid.shape)).squeeze(0)
    rings = torch.cat([dura, bone_edge, skin_edge], 1)
    skull = (rings[:, 1:2] - rings[:, 0:1]).clamp(0, 1)
    scalp = (rings[:, 2:3] - rings[:, 1:2]).clamp(0, 1)
    soft = hu["gm"] * maps[:, 1:2] + hu["wm"] * maps[:, 2:3] + hu["csf"] * maps[:, 3:4]
    mu = brain * (1 + soft / 1000) + skull * (1 + hu["bone"] / 1000) + scalp * (1 + hu["scalp"] / 1000)
    return (mu / 2).clamp(0, 1)
