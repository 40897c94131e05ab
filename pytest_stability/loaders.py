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

fastMRI's raw data, k-space and all, is read by :func:`load_fastmri` into ground truths, coil maps and
k-space that agree with :class:`~pytest_stability.operators.MultiCoilMRI` (y = A x on the fully sampled grid),
in the file's intensity scale (the one fastMRI's networks are trained on); :func:`write_fastmri` writes such a
file (k-space, RSS reconstruction, ISMRMRD header, attributes) from simulated k-space, for tests.
"""

from __future__ import annotations

import glob
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .metrics import l2_norm
from .operators.base import check_tensor
from .operators.mri import MultiCoilMRI, fft2c, ifft2c
from .sensitivities import METHODS, estimate_coil_maps

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


def _h5py() -> Any:
    """h5py, imported when a fastMRI file is read or written (it is not a dependency of the package)."""
    try:
        import h5py
    except ImportError:
        raise ImportError("reading and writing fastMRI .h5 files needs h5py: pip install h5py") from None
    return h5py


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
        with _h5py().File(path, "r") as h5:
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


# -- fastMRI raw data ---------------------------------------------------------------------------------
_ISMRMRD = "{http://www.ismrm.org/ISMRMRD}"


@dataclass(frozen=True)
class FastMRIHeader:
    """What a fastMRI file says about its acquisition.

    ``encoding_size`` and ``recon_size``: the ISMRMRD header's encodedSpace and reconSpace matrix sizes
    (x, y, z): x the readout (k-space rows, H; 640 with fastMRI's 2× readout oversampling), y the phase
    encodes (columns, W). ``padding``: the acquired phase-encode columns [left, right) of the k-space grid,
    computed from encodingLimits as fastMRI's SliceDataset does (columns outside are zero-filled in the file;
    fastMRI's VarNet transform zeroes its masks there). ``attrs``: the file's HDF5 attributes (``acquisition``,
    ``max``, ``norm``, ``patient_id``, ...). ``xml``: the header itself.
    """

    encoding_size: tuple[int, int, int]
    recon_size: tuple[int, int, int]
    padding: tuple[int, int]
    attrs: dict[str, Any] = field(default_factory=dict)
    xml: str = field(default="", repr=False)


@dataclass(frozen=True, eq=False)
class FastMRISlices:
    """Slices of a fastMRI file as a stability test needs them (see :func:`load_fastmri`).

    ``images`` (S, 1, H, W) complex64: the ground truths x = Σ_c conj(S_c) F⁻¹ k_c (single-coil: F⁻¹ k).
    ``kspace`` (S, C, H, W) complex64: the file's (cropped) k-space, centred; single-coil files give C = 1.
    ``coil_maps`` (S, C, H, W) complex64, one set per slice (None for single-coil). ``residual`` (S,):
    ‖k − A x‖ / ‖k‖ with A the fully sampled operator of the maps, the part of the data outside the SENSE
    model (noise, and signal where the maps are cropped); 0 for data that follow the model. ``padding``: the
    acquired columns [left, right) of this grid (the whole grid after a crop). ``reconstruction``
    (S, h, w) float32: the file's ``reconstruction_rss`` (or ``_esc``) of those slices, None if absent.
    """

    images: torch.Tensor
    kspace: torch.Tensor
    coil_maps: torch.Tensor | None
    header: FastMRIHeader
    slices: tuple[int, ...]
    residual: torch.Tensor
    padding: tuple[int, int]
    reconstruction: torch.Tensor | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of the k-space grid and the images."""
        return int(self.images.shape[-2]), int(self.images.shape[-1])


def _xml_size(root: ET.Element, space: str, path: Path) -> tuple[int, int, int]:
    size = root.find(f".//{_ISMRMRD}{space}/{_ISMRMRD}matrixSize")
    try:
        return tuple(int(size.find(f"{_ISMRMRD}{axis}").text) for axis in "xyz")  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError):
        raise ImageFileError(f"{path}: the ismrmrd_header has no {space}/matrixSize with x, y and z; fastMRI files "
                             "carry the ISMRMRD header of the scan.") from None


def _header(h5: Any, path: Path) -> FastMRIHeader:
    """The ISMRMRD header's sizes and fastMRI's acquisition window, as fastMRI's SliceDataset reads them."""
    if "ismrmrd_header" not in h5:
        raise ImageFileError(f"{path}: no ismrmrd_header dataset; a fastMRI raw-data file has kspace, "
                             "ismrmrd_header and (for training and validation data) reconstruction_rss.")
    raw = h5["ismrmrd_header"][()]
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ImageFileError(f"{path}: the ismrmrd_header is not valid XML ({exc}).") from None
    encoding, recon = _xml_size(root, "encodedSpace", path), _xml_size(root, "reconSpace", path)
    limits = root.find(f".//{_ISMRMRD}encodingLimits/{_ISMRMRD}kspace_encoding_step_1")
    try:
        centre = int(limits.find(f"{_ISMRMRD}center").text)  # type: ignore[union-attr]
        maximum = int(limits.find(f"{_ISMRMRD}maximum").text) + 1  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError):
        raise ImageFileError(f"{path}: the ismrmrd_header has no encodingLimits/kspace_encoding_step_1 with center "
                             "and maximum.") from None
    left = encoding[1] // 2 - centre
    attrs = {key: value.item() if isinstance(value, np.generic) else value for key, value in h5.attrs.items()}
    return FastMRIHeader(encoding, recon, (left, left + maximum), attrs, text)


def _slice_indices(slices: int | slice | Sequence[int] | None, count: int, path: Path) -> list[int]:
    everything = list(range(count))
    try:
        if slices is None:
            return everything
        if isinstance(slices, slice):
            chosen = everything[slices]
        else:
            chosen = [everything[int(i)] for i in ([slices] if isinstance(slices, int) else slices)]
    except (IndexError, TypeError, ValueError):
        raise ValueError(f"slices={slices!r} does not select slices of {path}, which has {count}; give an int, a "
                         f"slice or a list of slice numbers from 0 to {count - 1}.") from None
    if not chosen:
        raise ValueError(f"slices={slices!r} selects none of the {count} slices of {path}.")
    return chosen


def _crop_size(crop: str | tuple[int, int] | None, header: FastMRIHeader, shape: tuple[int, int]) -> tuple[int, int]:
    if crop is None:
        return shape
    size = header.recon_size[:2] if crop == "recon" else crop
    ok = isinstance(size, (tuple, list)) and len(size) == 2 and all(
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= m for n, m in zip(size, shape, strict=True))
    if not ok:
        raise ValueError(f"crop={crop!r} must be None (the encoded k-space grid {shape}), 'recon' (the header's "
                         f"reconSpace, {header.recon_size[:2]}) or (h, w) no larger than {shape}.")
    return int(size[0]), int(size[1])


def _centre_crop(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """The centred (h, w) window of the last two dimensions, as fastMRI's center_crop takes it."""
    top, left = (t.shape[-2] - size[0]) // 2, (t.shape[-1] - size[1]) // 2
    return t[..., top:top + size[0], left:left + size[1]]


def load_fastmri(path: str | Path, *, slices: int | slice | Sequence[int] | None = None,
                 coil_maps: str | torch.Tensor = "espirit", crop: str | tuple[int, int] | None = None,
                 calibration: int | tuple[int, int] = 24) -> FastMRISlices:
    """Ground truths, coil maps and k-space of a fastMRI raw-data file (``.h5``), consistent with the operator.

    ``slices``: which slices (an int, a slice, slice numbers; None: all). ``coil_maps`` (multi-coil files):
    ``"espirit"`` or ``"lowres"`` to estimate them per slice from the centred ``calibration`` region
    (:func:`~pytest_stability.sensitivities.estimate_coil_maps`), or your own maps (S, C, H, W) or (C, H, W)
    on the final grid. ``crop``: None keeps the encoded k-space grid (e.g. 640 × 368: the data exactly as
    acquired, what fastMRI's VarNet reconstructs); ``"recon"`` or (h, w) crops the coil images to the
    header's reconSpace (e.g. 320 × 320) or to (h, w) and takes their k-space, as fastMRI's MiniCoilTransform
    does: a smaller problem whose k-space is the cropped images' DFT.

    The ground truth is the coil-combined image x = Σ_c conj(S_c) F⁻¹ k_c: for maps with Σ_c |S_c|² = 1 it
    is the least-squares image of the SENSE model k_c = F(S_c x), so the fully sampled operator
    MultiCoilMRI(ones, maps) gives A x = k exactly for data that follow the model, and otherwise the part of
    k inside the model (``residual`` says how much is not). Its magnitude is the root-sum-of-squares image
    where the maps are exact. The checks measure y = A x, so the network sees data consistent with x.
    """
    path = Path(path)
    with _h5py().File(path, "r") as h5:
        if "kspace" not in h5:
            raise ImageFileError(f"{path}: no kspace dataset; load_fastmri reads fastMRI raw data (kspace, "
                                 "ismrmrd_header); for reconstructions only use load_images.")
        header = _header(h5, path)
        data = h5["kspace"]
        if data.ndim not in (3, 4):
            raise ImageFileError(f"{path}: kspace has shape {data.shape}; fastMRI stores (slices, coils, H, W) for "
                                 "multi-coil and (slices, H, W) for single-coil data.")
        chosen = _slice_indices(slices, data.shape[0], path)
        order = sorted(set(chosen))  # h5py reads increasing, unique indices
        back = [order.index(i) for i in chosen]
        kspace = torch.from_numpy(np.asarray(data[order])[back]).to(torch.complex64)
        key = next((k for k in ("reconstruction_rss", "reconstruction_esc") if k in h5), None)
        reconstruction = None if key is None else torch.from_numpy(
            np.asarray(h5[key][order], dtype=np.float32)[back])
    multi = kspace.dim() == 4
    kspace = kspace if multi else kspace.unsqueeze(1)
    shape = (kspace.shape[-2], kspace.shape[-1])
    size = _crop_size(crop, header, shape)
    padding = header.padding
    if size != shape:
        kspace, padding = fft2c(_centre_crop(ifft2c(kspace), size)), (0, size[1])
    coil_images = ifft2c(kspace)
    if not multi:
        if not isinstance(coil_maps, str):
            raise ValueError(f"{path} holds single-coil k-space (slices, H, W): it has no coils for coil_maps; leave "
                             "coil_maps out.")
        images, maps = coil_images, None
    elif isinstance(coil_maps, str):
        if coil_maps not in METHODS:
            raise ValueError(f"coil_maps={coil_maps!r} is not an estimator ({', '.join(map(repr, METHODS))}) or a "
                             "tensor of maps (slices, coils, H, W).")
        maps = estimate_coil_maps(kspace, method=coil_maps, calibration=calibration)
    else:
        what = f" (slices, coils, H, W) = {tuple(kspace.shape)} or (coils, H, W) on the k-space grid"
        maps = check_tensor("coil_maps", coil_maps, trailing=tuple(kspace.shape[1:]), what=what)
        maps = maps.expand(kspace.shape[0], *maps.shape) if maps.dim() == 3 else maps
        if tuple(maps.shape) != tuple(kspace.shape):
            raise ValueError(f"coil_maps has shape {tuple(coil_maps.shape)}; expected{what}.")
        maps = maps.to(torch.complex64)
    if maps is not None:
        images = (maps.conj() * coil_images).sum(dim=1, keepdim=True)
        full = MultiCoilMRI(torch.ones(size, dtype=torch.bool), maps)
        residual = l2_norm(full.forward(images) - kspace) / l2_norm(kspace).clamp_min(torch.finfo(torch.float32).tiny)
    else:
        residual = torch.zeros(kspace.shape[0])
    return FastMRISlices(images, kspace, maps, header, tuple(chosen), residual, padding, reconstruction)


def _ismrmrd_header(encoding: tuple[int, int], recon: tuple[int, int]) -> str:
    """A minimal ISMRMRD header: the encoded and recon matrix sizes and a fully acquired phase-encode range."""
    def space(name: str, size: tuple[int, int]) -> str:
        return (f"<{name}><matrixSize><x>{size[0]}</x><y>{size[1]}</y><z>1</z></matrixSize>"
                f"<fieldOfView_mm><x>{size[0]}</x><y>{size[1]}</y><z>1</z></fieldOfView_mm></{name}>")

    limits = (f"<encodingLimits><kspace_encoding_step_1><minimum>0</minimum><maximum>{encoding[1] - 1}</maximum>"
              f"<center>{encoding[1] // 2}</center></kspace_encoding_step_1></encodingLimits>")
    return (f'<?xml version="1.0" encoding="utf-8"?><ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD"><encoding>'
            f"{space('encodedSpace', encoding)}{space('reconSpace', recon)}{limits}</encoding></ismrmrdHeader>")


def write_fastmri(path: str | Path, kspace: torch.Tensor, *, recon_size: tuple[int, int] | None = None,
                  acquisition: str = "AXT2") -> Path:
    """Write k-space (S, C, H, W) (multi-coil) or (S, H, W) (single-coil), centred, as a fastMRI raw-data file.

    Like fastMRI's files it holds ``kspace`` (complex64), the ground truth ``reconstruction_rss`` (multi-coil)
    or ``reconstruction_esc`` (single-coil; here the magnitude of F⁻¹ k): the root-sum-of-squares of the coil
    images centre-cropped to ``recon_size`` (default: the whole grid), float32; an ``ismrmrd_header`` with
    the encoded (H, W) and recon matrix sizes and the whole phase-encode range acquired; and the attributes
    ``acquisition``, ``max`` (of the reconstruction volume) and ``norm`` (its l2 norm). For tests of a data
    pipeline on simulated data; :func:`load_fastmri` reads it back.
    """
    k = torch.as_tensor(kspace)
    if k.dim() not in (3, 4) or not k.is_complex():
        raise ValueError(f"kspace must be complex (slices, coils, H, W) or (slices, H, W), got {k.dtype} of shape "
                         f"{tuple(k.shape)}.")
    shape = (k.shape[-2], k.shape[-1])
    recon = tuple(recon_size) if recon_size is not None else shape
    if len(recon) != 2 or not all(0 < n <= m for n, m in zip(recon, shape, strict=True)):
        raise ValueError(f"recon_size={recon_size!r} must be (h, w) no larger than the k-space grid {shape}.")
    coils = ifft2c(k if k.dim() == 4 else k.unsqueeze(1))
    rss = _centre_crop((coils.abs() ** 2).sum(dim=1).sqrt(), recon).to(torch.float32).numpy()
    path = Path(path)
    with _h5py().File(path, "w") as h5:
        h5["kspace"] = k.to(torch.complex64).numpy()
        h5["reconstruction_rss" if k.dim() == 4 else "reconstruction_esc"] = rss
        h5["ismrmrd_header"] = _ismrmrd_header(shape, recon).encode()
        h5.attrs.update({"acquisition": acquisition, "max": float(rss.max()), "norm": float(np.linalg.norm(rss)),
                         "patient_id": path.stem})
    return path
