"""Train the Deep MRI analogue: ``python -m conftest_examples.deep_mri.train`` (CPU, one thread, deterministic).

Brain slices (zoo.brain_slices("train"), augmented) are measured by single-coil Cartesian MRI at 33 % and the
cascade learns to reconstruct them from the k-space and the mask, loss mean |f(y, M) − x|² over pixels. Like
Schlemper et al.'s training (js3611/Deep-MRI-Reconstruction draws a new random Cartesian mask for every batch in
``prep_input``), every training image gets its own random mask at the trained ratio: the same 33 % of lines
with the centre lines, drawn with a fresh seed (:func:`pytest_stability.cartesian_mask`). The tests use the
seed-0 mask, which training never saw. Writes ``weights.pt`` next to this file and prints the test-slice PSNR
of the network, the zero-filled image and the TV baseline on the seed-0 mask.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from pytest_stability import cartesian_mask, mri_family
from pytest_stability.operators import LinearOperator, fft2c

from .. import zoo
from .model import WEIGHTS, DeepCascade, load

SIZE = 64
RATIO = 0.33
STEPS = 2200
BATCH = 8
LR = 1e-3
SEED = 0

Penalty = Callable[[DeepCascade, torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def family():
    """The operator family of this repository: single-coil Cartesian lines on 64×64, nested masks, seed 0."""
    return mri_family((SIZE, SIZE), pattern="cartesian", seed=0)


def mask_of(operator: LinearOperator) -> torch.Tensor:
    """The operator's sampling mask as the network takes it, (1, 1, H, W) float32."""
    return operator.mask.view(1, 1, *operator.image_shape).float()


def random_masks(n: int, gen: torch.Generator) -> torch.Tensor:
    """n random Cartesian masks at RATIO, one per training image, (n, 1, H, W) float32 (fresh seeds from gen)."""
    seeds = torch.randint(2**62, (n,), generator=gen).tolist()
    return torch.stack([cartesian_mask((SIZE, SIZE), RATIO, seed=s).mask for s in seeds]).unsqueeze(1).float()


def train_cascade(model: DeepCascade, *, steps: int, seed: int = SEED, penalty: Penalty | None = None) -> DeepCascade:
    """Fit ``model`` on augmented brain slices, each measured with its own random mask at RATIO, with the loss
    mean |f(y, M) − x|², plus ``penalty(model, y, masks, f(y, M), gen)`` when one is given (the stable cascade's
    amplification penalty)."""
    images = zoo.brain_slices("train", SIZE)

    def loss_of_batch(step: int, gen: torch.Generator) -> torch.Tensor:
        x = zoo.augment(images[torch.randint(len(images), (BATCH,), generator=gen)], gen)
        masks = random_masks(BATCH, gen)
        y = masks * fft2c(x.to(torch.complex64))
        out = model(y, masks)
        loss = (out - x).abs().pow(2).mean()
        return loss if penalty is None else loss + penalty(model, y, masks, out, gen)

    return zoo.train(model, loss_of_batch, steps=steps, lr=LR, seed=seed)


def report(model: DeepCascade, name: str) -> str:
    """Test-slice PSNR of ``model`` on the seed-0 mask at RATIO, with the zero-filled image and TV."""
    operator = family()(RATIO)
    return zoo.psnr_report(name, lambda y: model(y, mask_of(operator)), operator, zoo.brain_slices("test", SIZE))


def main() -> None:
    zoo.run_training(__doc__, STEPS, lambda steps: train_cascade(DeepCascade(), steps=steps), WEIGHTS,
                     lambda: report(load(), "Deep MRI analogue"), seed=SEED)

if __name__ == "__main__":
    main()
