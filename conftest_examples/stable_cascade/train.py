"""Train the stable cascade: ``python -m conftest_examples stable_cascade:SEED`` (after ``deep_mri:SEED``).

The Deep MRI analogue of the same seed, trained on: the same network, data and loss (augmented brain slices, a
random Cartesian mask at 33 % per image) for ``STEPS`` more steps at a lower learning rate, plus a penalty on how
much the network amplifies a small change of its measurements along the direction it amplifies most (a Jacobian
penalty along an adversarial direction, in the spirit of adversarial training / TRADES):

    loss = mean |f(y) − x|² + WEIGHT · mean_b ‖f(y + e_b) − f(y)‖² / ‖e_b‖²,

where e_b, with ‖e_b‖ = EPS·‖y_b‖ on the sampled k-space, is one power-iteration step towards the top singular
vector of the network's Jacobian: the gradient of ‖f(y + e₀) − f(y)‖² at a random e₀ of that norm (JᴴJ e₀ when
f is close to linear there). A step costs about 2.6 plain ones (three forward and two backward passes), which is
why the penalty fine-tunes the trained cascade rather than training one from scratch.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .. import zoo
from ..deep_mri.model import DeepCascade
from ..deep_mri.train import RECIPE as DEEP_MRI
from ..deep_mri.train import batch, tv_validation_psnr, validation_psnr
from ..training import Nets, Recipe, simple_step

STEPS = 1500
EPS = 0.02
WEIGHT = 1e-4


def norms(t: torch.Tensor) -> torch.Tensor:
    """‖t_b‖ per batch element, shaped (B, 1, 1, 1) to scale a batch."""
    return torch.linalg.vector_norm(t, dim=(1, 2, 3), keepdim=True)


def amplification_penalty(model: DeepCascade, y: torch.Tensor, mask: torch.Tensor, out: torch.Tensor,
                          gen: torch.Generator) -> torch.Tensor:
    """WEIGHT · mean_b ‖f(y + e_b) − f(y)‖² / ‖e_b‖² for e_b one power-iteration step from a random start (see
    the module docstring). y, out: (B, 1, H, W) complex; mask (B, 1, H, W), one random mask per image."""
    e0 = mask * torch.randn(y.shape, dtype=y.dtype, generator=gen)
    e0 = (e0 * (EPS * norms(y) / norms(e0))).requires_grad_(True)
    change = (model(y + e0, mask) - out.detach()).abs().pow(2).sum()
    (g,) = torch.autograd.grad(change, e0)
    e = mask * g
    e = e * (EPS * norms(y) / norms(e))
    gain = (model(y + e, mask) - out).abs().pow(2).sum((1, 2, 3)) / norms(e).pow(2).flatten()
    return WEIGHT * gain.mean()


def penalised_loss(model: DeepCascade, gen: torch.Generator) -> torch.Tensor:
    x, masks, y = batch(gen)
    out = model(y, masks)
    return (out - x).abs().pow(2).mean() + amplification_penalty(model, y, masks, out, gen)


def start_from_deep_mri(nets: Nets, seed: int) -> None:
    """Load the Deep MRI analogue's weights of the same seed (train ``deep_mri:SEED`` first)."""
    path = DEEP_MRI.weights(seed)
    if not path.exists():
        raise FileNotFoundError(f"the stable cascade fine-tunes {path}: first python -m conftest_examples "
                                f"deep_mri:{seed}")
    zoo.load_weights(nets["cascade"], path)


RECIPE = Recipe(name="stable_cascade", folder=Path(__file__).parent, build=lambda: {"cascade": DeepCascade()},
                init=start_from_deep_mri, step=simple_step(penalised_loss), validate=validation_psnr,
                baseline=tv_validation_psnr, steps=STEPS, lr=3e-4, check_every=100)
