"""Load a user's validation images from disk: the ``images`` option of a stability test.

``load_images(pattern)`` takes a folder, a file or a glob pattern (relative to the pytest root) and reads:

* PNG, JPEG, TIFF, BMP, GIF, WebP (with Pillow, which torchvision installs; torchvision.io's decoders are
  deprecated since torchvision 0.29): colour is converted to luminance, 16-bit and float TIFFs keep their values;
* ``.npy`` (numpy, no pickles) and ``.pt`` (torch tensors, ``weights_only=True``): (H, W), (N, H, W) or
  (N, C, H, W), real or complex;
* DICOM (``.dcm``, when pydicom is installed): pixel data with RescaleSlope/RescaleIntercept applied;
* fastMRI ``.h5`` slices (when h5py is installed): the ``reconstruction_rss`` (or ``reconstruction_esc``)
  ground truth of every slice.

Normalisation: every image is divided by its own max |x| (so magnitudes lie in [0, 1]), the convention of
the paper's experiments; complex images keep their phase. Images whose size differs from ``size`` are
resized (bilinear, antialiased; real images only). The result is one (N, C, H, W) batch, sorted by file name.
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import torch

RASTER = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".tif", ".tiff", ".bmp"}
SUPPORTED = RASTER | {".npy", ".pt", ".dcm", ".h5"}


class ImageFileError(ValueError):
    """An image file that cannot be used, named with the reason."""


def _files(pattern: str, root: Path | None) -> list[Path]:
    base = Path(pattern)
    if not base.is_absolute() and root is not None:
        base = Path(root) / base
    if base.is_dir():
        files = [p for p in base.iterdir() if p.suffix.lower() in SUPPORTED]
    else:
        files = [Path(p) for p in glob.glob(str(base), recursive=True)]
    files = sorted(p for p in files if p.is_file())
    if not files:
        raise ImageFileError(f"images={pattern!r} matched no image files (looked in {base}); supported: "
                         f"{', '.join(sorted(SUPPORTED))}.")
    return files


def _as_batch(t: torch.Tensor, path: Path) -> torch.Tensor:
    if t.dim() == 2:
        t = t[None, None]
    elif t.dim() == 3:
        t = t[:, None]
    if t.dim() != 4:
        raise ImageFileError(f"{path}: holds an array of shape {tuple(t.shape)}; expected (H, W), (N, H, W) or "
                         "(N, C, H, W).")
    return t


def _read(path: Path) -> torch.Tensor:
    suffix = path.suffix.lower()
    if suffix in RASTER:
        from PIL import Image

        with Image.open(path) as im:
            array = np.asarray(im.convert("F") if im.mode not in ("I;16", "I", "F") else im, dtype=np.float32)
        return torch.from_numpy(array.copy())
    if suffix == ".npy":
        return torch.from_numpy(np.load(path, allow_pickle=False))
    if suffix == ".pt":
        t = torch.load(path, weights_only=True)
        if not isinstance(t, torch.Tensor):
            raise ImageFileError(f"{path}: holds a {type(t).__name__}, not a tensor.")
        return t
    if suffix == ".dcm":
        try:
            import pydicom
        except ImportError:
            raise ImageFileError(f"{path}: reading DICOM needs pydicom (pip install pydicom).") from None
        ds = pydicom.dcmread(path)
        return torch.from_numpy(ds.pixel_array.astype(np.float32) * float(getattr(ds, "RescaleSlope", 1.0))
                                + float(getattr(ds, "RescaleIntercept", 0.0)))
    if suffix == ".h5":
        try:
            import h5py
        except ImportError:
            raise ImageFileError(f"{path}: reading fastMRI .h5 files needs h5py (pip install h5py).") from None
        with h5py.File(path, "r") as h5:
            for key in ("reconstruction_rss", "reconstruction_esc"):
                if key in h5:
                    return torch.from_numpy(np.asarray(h5[key], dtype=np.float32))
        raise ImageFileError(f"{path}: no reconstruction_rss or reconstruction_esc dataset (is it a fastMRI file?).")
    raise ImageFileError(f"{path}: unsupported file type {suffix!r}; supported: {', '.join(sorted(SUPPORTED))}.")


def _normalise(t: torch.Tensor, path: Path) -> torch.Tensor:
    t = t.to(torch.complex64 if t.is_complex() else torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise ImageFileError(f"{path}: contains NaN or Inf.")
    peak = t.abs().reshape(t.shape[0], -1).amax(dim=1)
    if bool((peak == 0).any()):
        raise ImageFileError(f"{path}: an image is all zeros; a stability test needs content.")
    return t / peak.view(-1, 1, 1, 1)


def _resize(t: torch.Tensor, size: tuple[int, int], path: Path) -> torch.Tensor:
    if tuple(t.shape[-2:]) == tuple(size):
        return t
    if t.is_complex():
        raise ImageFileError(f"{path}: complex images of size {tuple(t.shape[-2:])} cannot be resized to "
                             f"{tuple(size)}; store them at the operator's size.")
    return torch.nn.functional.interpolate(t.to(torch.float32), size=tuple(size), mode="bilinear", antialias=True,
                                           align_corners=False)


def load_images(pattern: str, *, root: Path | None = None, size: tuple[int, int] | None = None) -> torch.Tensor:
    """All images matched by ``pattern`` as one (N, C, H, W) batch, each normalised to max |x| = 1."""
    batches = []
    for path in _files(pattern, root):
        try:
            t = _as_batch(_read(path), path)
        except ImageFileError:
            raise
        except Exception as exc:  # a decoder's own error, reported with the file that caused it
            raise ImageFileError(f"{path}: cannot be read as an image ({type(exc).__name__}: {exc}).") from exc
        if not (t.is_floating_point() or t.is_complex()):
            t = t.float()
        if size is not None:
            t = _resize(t, size, path)
        batches.append(_normalise(t, path))
    shapes = {tuple(b.shape[1:]) for b in batches}
    if len(shapes) > 1:
        raise ImageFileError(f"images={pattern!r} mixes shapes {sorted(shapes)}; give size=(H, W) to resize them or "
                         "store them alike.")
    return torch.cat(batches)
