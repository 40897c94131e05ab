"""Train the stable cascade: ``python -m conftest_examples.stable_cascade.train`` (CPU, one thread, deterministic).

The Deep MRI analogue's network, data and loss (brain slices, a random Cartesian mask at 33 % per image), plus a
penalty on how much the network amplifies a small change of its measurements along the direction it amplifies
most (a Jacobian penalty along an adversarial direction, in the spirit of adversarial training / TRADES):

    loss = mean |f(y) − x|² + WEIGHT · mean_b ‖f(y + e_b) − f(y)‖² / ‖e_b‖²,

where e_b, with ‖e_b‖ = EPS·‖y_b‖ on the sampled k-space, is one power-iteration step towards the top singular
vector of the network's Jacobian: the gradient of ‖f(y + e₀) − f(y)‖² at a random e₀ of that norm (JᴴJ e₀ when
f is close to linear there). Writes ``weights.pt`` next to this file and prints the test-slice PSNR (noiseless
measurements) of the network, the zero-filled image and the TV baseline.
"""

from __future__ import annotations

import torch

from .. import zoo
from ..deep_mri.model import DeepCascade
from ..deep_mri.train import SEED, report, train_cascade
from .model import WEIGHTS, load

STEPS = 800
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


def main() -> None:
    zoo.run_training(__doc__, STEPS, lambda steps: train_cascade(DeepCascade(), steps=steps,
                                                                 penalty=amplification_penalty),
                     WEIGHTS, lambda: report(load(), "stable cascade"), seed=SEED)

if __name__ == "__main__":
    main()
