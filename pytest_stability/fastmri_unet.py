"""fastMRI's U-Net as fastMRI runs it: the input its ``UnetDataTransform`` makes, the output its ``UnetModule`` reports.

fastMRI trains its baseline U-Net (``fastmri.models.Unet``) on normalised magnitude images, not on k-space:
``UnetDataTransform`` takes the zero-filled coil images F⁻¹(M ⊙ k_c), centre-crops them to the target size,
combines them by root-sum-of-squares (the magnitude, for single-coil data), normalises each image by its own
mean μ and standard deviation σ (``normalize_instance``) and clamps to [−6, 6]; the network's output is an
image in those units, which ``UnetModule`` reports as output · σ + μ. :class:`FastMRIUnet` does the same to
measurements, so a trained fastMRI U-Net is tested on images in the ground truth's intensity scale.
"""

from __future__ import annotations

import torch


class FastMRIUnet(torch.nn.Module):
    """y ↦ σ · unet(clamp((|x₀| − μ) / σ, −6, 6)) + μ, fastMRI's U-Net pipeline, called with ``inputs="fastmri"``.

    ``unet``: a ``fastmri.models.Unet`` (or any network (B, 1, h, w) → (B, 1, h, w)) with its trained
    weights; it is held, not copied or changed. The call takes fastMRI's arguments (``masked_kspace``
    (B, coils, H, W, 2), ``mask``, ``num_low_frequencies``; only the k-space is used) and forms
    |x₀| = (Σ_c |F⁻¹ k_c|²)^½, the zero-filled RSS image. ``crop`` (h, w): the centred window the U-Net sees,
    as fastMRI crops to its 320 × 320 targets when the k-space grid is larger (640 × 368); the output is
    zero outside it. μ and σ (unbiased) are each image's own, over the window, as ``normalize_instance``
    computes them. Returns magnitude images (B, H, W).
    """

    def __init__(self, unet: torch.nn.Module, *, crop: tuple[int, int] | None = None):
        super().__init__()
        self.unet = unet
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor | None = None,
                num_low_frequencies: int | None = None) -> torch.Tensor:
        from .operators.mri import ifft2c

        if masked_kspace.dim() != 5 or masked_kspace.shape[-1] != 2:
            raise ValueError(f"FastMRIUnet takes fastMRI's masked k-space (B, coils, H, W, 2), got shape "
                             f"{tuple(masked_kspace.shape)}; use it with Case(..., inputs='fastmri').")
        power = ifft2c(torch.view_as_complex(masked_kspace.contiguous())).abs().pow(2).sum(dim=1)
        image = (power + torch.finfo(power.dtype).tiny).sqrt()  # RSS, differentiable where a pixel is exactly 0
        h, w = image.shape[-2:]
        ch, cw = self.crop or (h, w)
        if not (0 < ch <= h and 0 < cw <= w):
            raise ValueError(f"FastMRIUnet: crop={self.crop} does not fit the {h} × {w} images.")
        top, left = (h - ch) // 2, (w - cw) // 2
        window = image[:, top:top + ch, left:left + cw]
        flat = window.reshape(window.shape[0], -1)
        mean, std = flat.mean(dim=1).view(-1, 1, 1), flat.std(dim=1).view(-1, 1, 1)
        normalised = ((window - mean) / (std + 1e-11)).clamp(-6, 6)
        out = self.unet(normalised.unsqueeze(1)).squeeze(1) * std + mean
        if (ch, cw) == (h, w):
            return out
        return torch.nn.functional.pad(out, (left, w - cw - left, top, h - ch - top))
