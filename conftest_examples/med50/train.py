"""Train Med 50: ``python -m conftest_examples med50:SEED`` (CPU, one thread, deterministic).

FBPConvNet on CT images of heads (the paper's Med 50 was trained on Mayo Clinic CT; ours are attenuation maps made
from the MNI152 template's tissue classes with a skull and scalp, :func:`conftest_examples.datasets.ct_images`),
elastically deformed and with random tissue values, parallel-beam CT with the paper's 50 views at 128 × 128
(:mod:`conftest_examples.ct`). Batch 8, noiseless sinograms, loss mean squared error of the network's output on the
FBP (Jin et al.'s), Adam 1e-3. Validation: the CT maps of the 8 validation slices (nominal tissue values).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .. import ct, datasets, zoo
from ..ell50.model import FBPConvNet
from ..training import Recipe, simple_step

BATCH = 8


def head_loss(model: FBPConvNet, gen: torch.Generator) -> torch.Tensor:
    maps = datasets.tissue_maps("train")
    picked = maps[torch.randint(len(maps), (BATCH,), generator=gen)]
    return ct.fbp_mse(model, datasets.ct_images(datasets.deform(picked, gen), gen))


RECIPE = Recipe(name="med50", folder=Path(__file__).parent, build=lambda: {"fbpconvnet": FBPConvNet()},
                step=simple_step(head_loss), validate=lambda net: ct.mean_psnr(net, zoo.ct_slices("val")),
                baseline=lambda: ct.mean_psnr(None, zoo.ct_slices("val")), steps=4000, lr=1e-3, check_every=250)
