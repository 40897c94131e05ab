"""The images a check receives, checked and placed: a (B, C, H, W) batch on the model's device and dtype."""

from __future__ import annotations

from typing import Any

import torch

from .models import Reconstructor
from .operators.base import complex_dtype


def prepare_images(images: Any, f: Reconstructor) -> torch.Tensor:
    """Images as (B, C, H, W) on the model's device and precision; clear errors for anything else.

    Refused: another rank or size than the operator's (B, C, H, W), integer dtypes, complex images for an
    operator of real images (CT), NaN or Inf, and images that are all zero or constant (no structure to
    perturb; ‖x‖ = 0 leaves a relative budget eps·‖x‖ empty).
    """
    if not isinstance(images, torch.Tensor):
        fix = {"ndarray": "torch.from_numpy(x)", "list": "torch.stack(x)", "tuple": "torch.stack(x)"}
        how = fix.get(type(images).__name__, "torch.as_tensor(x)")
        raise TypeError(f"images must be a torch.Tensor (B, C, H, W), got {type(images).__name__}; convert with "
                        f"{how}.")
    if images.dim() == 2:
        images = images.view(1, 1, *images.shape)
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got shape {tuple(images.shape)}; add batch/channel "
                         "dimensions with x[None, None] or x.unsqueeze(1).")
    if tuple(images.shape[-2:]) != f.operator.image_shape:
        hint = " (channels-last? use x.permute(0, 3, 1, 2))" if images.shape[1] == f.operator.image_shape[0] else ""
        raise ValueError(f"images have shape {tuple(images.shape)} but the operator expects (B, C, "
                         f"{f.operator.image_shape[0]}, {f.operator.image_shape[1]}){hint}.")
    if not (images.is_floating_point() or images.is_complex()):
        raise TypeError(f"images have dtype {images.dtype}; give float or complex images (x.float()).")
    if images.is_complex() and not f.operator.domain_is_complex:
        raise ValueError(f"images are {str(images.dtype).replace('torch.', '')} but {type(f.operator).__name__} "
                         "measures real images; pass x.real (or x.abs()).")
    per_image = getattr(f.operator, "n_images", None)
    if per_image is not None and images.shape[0] != per_image:
        raise ValueError(f"the operator's coil maps are one set per image, for {per_image} images, but there are "
                         f"{images.shape[0]} images; give the maps of exactly these images, in their order (e.g. "
                         "load_fastmri(path, slices=...) gives both for the same slices).")
    _check_content(images)
    dtype = complex_dtype(f.dtype) if images.is_complex() else f.dtype
    return images.to(device=f.device, dtype=dtype)


def _check_content(images: torch.Tensor) -> None:
    """Refuse images with NaN or Inf, all-zero images and constant images, naming which of the batch they are."""
    flat = images.detach().reshape(images.shape[0], -1)
    bad = ~torch.isfinite(flat)
    if bool(bad.any()):
        count = int(bad.sum())
        raise ValueError(f"images {_which(bad.any(dim=1))} contain NaN or Inf ({count} pixel{'s' * (count > 1)}); "
                         "clean them first, e.g. torch.nan_to_num(x), or drop those images.")
    zero = (flat == 0).all(dim=1)
    if bool(zero.any()):
        raise ValueError(f"images {_which(zero)} are all zero (‖x‖ = 0): nothing to reconstruct, and a relative "
                         "budget eps·‖x‖ is empty; pass images with content.")
    constant = (flat == flat[:, :1]).all(dim=1)
    if bool(constant.any()):
        first = flat[int(torch.nonzero(constant)[0]), 0]
        value = complex(first) if flat.is_complex() else float(first)
        raise ValueError(f"images {_which(constant)} are constant (every pixel {value:g}): they hold no structure "
                         "for a reconstruction to keep or lose; pass images with structure (validation slices, or "
                         "pytest_stability.random_ellipses).")


def _which(mask: torch.Tensor) -> str:
    """Indices of the True entries of a (B,) mask, as a list for a message."""
    return str(torch.nonzero(mask).flatten().tolist())
