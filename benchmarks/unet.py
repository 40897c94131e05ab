"""A fastMRI-style U-Net for the benchmarks: the kind of network the stability tests are run on.

The layout follows the fastMRI baseline U-Net (Ronneberger et al. 2015 as used by Zbontar et al. 2018):

* a convolution block is two times [3×3 convolution without bias → InstanceNorm2d → LeakyReLU(0.2)];
* ``num_pool_layers`` encoder levels, each a block followed by 2×2 average pooling, with the channel count
  doubling from ``chans`` at the top; a block at the bottom (``chans · 2^levels`` channels);
* each decoder level: 2×2 transposed convolution (stride 2, no bias) → InstanceNorm2d → LeakyReLU(0.2),
  concatenation with the encoder's output at that level, then a block halving the channels;
* a final 1×1 convolution (with bias) to ``out_chans``.

With the defaults (4 pooling levels, 32 channels at the top) it has 7.76 M parameters, like fastMRI's
``Unet(chans=32, num_pool_layers=4)``; there is no dropout. Input and output are real (B, C, H, W) tensors
(complex images as real/imaginary channels); H and W that are not multiples of 2^levels are reflect-padded
on the way in and cropped on the way out. ``residual=True`` adds the input to the output (in_chans must
equal out_chans), as FBPConvNet does: the network then learns the artefact to remove from the naive
reconstruction, which trains in far fewer steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm_act(channels: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(channels), nn.LeakyReLU(0.2)]


class ConvBlock(nn.Sequential):
    """Two [3×3 conv (no bias) → InstanceNorm → LeakyReLU(0.2)]: (B, c_in, H, W) → (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), *_norm_act(c_out),
                         nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), *_norm_act(c_out))


class UpBlock(nn.Sequential):
    """2×2 transposed conv, stride 2 (no bias) → InstanceNorm → LeakyReLU(0.2): doubles H and W."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.ConvTranspose2d(c_in, c_out, 2, stride=2, bias=False), *_norm_act(c_out))


class UNet(nn.Module):
    """fastMRI-style U-Net, (B, in_chans, H, W) → (B, out_chans, H, W); see the module docstring."""

    def __init__(self, in_chans: int = 2, out_chans: int = 2, chans: int = 32, num_pool_layers: int = 4,
                 residual: bool = False):
        super().__init__()
        if residual and in_chans != out_chans:
            raise ValueError(f"residual=True adds the input to the output, so in_chans ({in_chans}) must equal "
                             f"out_chans ({out_chans}).")
        widths = [chans * 2 ** i for i in range(num_pool_layers + 1)]
        self.down = nn.ModuleList([ConvBlock(c_in, c_out) for c_in, c_out in zip([in_chans, *widths[:-2]],
                                                                                   widths[:-1], strict=True)])
        self.bottom = ConvBlock(widths[-2], widths[-1])
        self.up = nn.ModuleList([UpBlock(widths[i + 1], widths[i]) for i in reversed(range(num_pool_layers))])
        self.merge = nn.ModuleList([ConvBlock(2 * widths[i], widths[i]) for i in reversed(range(num_pool_layers))])
        self.head = nn.Conv2d(chans, out_chans, 1)
        self.levels = num_pool_layers
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        multiple = 2 ** self.levels
        pad_h, pad_w = -h % multiple, -w % multiple
        out = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect") if pad_h or pad_w else x
        skips = []
        for block in self.down:
            out = block(out)
            skips.append(out)
            out = F.avg_pool2d(out, 2)
        out = self.bottom(out)
        for up, merge in zip(self.up, self.merge, strict=True):
            out = merge(torch.cat([up(out), skips.pop()], dim=1))
        out = self.head(out)[..., :h, :w]
        return out + x if self.residual else out
