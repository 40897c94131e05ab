"""Train the MRI-VN analogue: ``python -m conftest_examples.mri_vn.train`` (CPU, one thread, deterministic).

Brain slices (zoo.brain_slices("train"), augmented) are measured by 8-coil MRI with the fixed seed-0 Cartesian
mask at 15 % (the paper's MRI-VN was trained on one 15 % pattern with 15 coils) and the network learns to
reconstruct them, loss ‖f(y, A) − x‖² (mean over pixels). Writes ``weights.pt`` next to this file and prints
the test-slice PSNR of the network, the zero-filled image A* y and the TV baseline.
"""

from __future__ import annotations

import torch

from pytest_stability import mri_family

from .. import zoo
from .model import WEIGHTS, VariationalNetwork, load

SIZE = 64
COILS = 8
RATIO = 0.15
STEPS = 2000
BATCH = 8
LR = 1e-3
SEED = 0


def family():
    """The operator family of this repository: 8-coil Cartesian lines on 64×64, nested masks, seed 0."""
    return mri_family((SIZE, SIZE), pattern="cartesian", seed=0, n_coils=COILS)


def train_vn(model: VariationalNetwork, *, steps: int, seed: int = SEED) -> VariationalNetwork:
    """Fit ``model`` on augmented brain slices measured at RATIO."""
    operator = family()(RATIO)
    images = zoo.brain_slices("train", SIZE)

    def loss_of_batch(step: int, gen: torch.Generator) -> torch.Tensor:
        x = zoo.augment(images[torch.randint(len(images), (BATCH,), generator=gen)], gen)
        return (model(operator(x), operator) - x).abs().pow(2).mean()

    return zoo.train(model, loss_of_batch, steps=steps, lr=LR, seed=seed)


def main() -> None:
    def report() -> str:
        operator, trained = family()(RATIO), load()
        return zoo.psnr_report("MRI-VN analogue", lambda y: trained(y, operator), operator,
                               zoo.brain_slices("test", SIZE))

    zoo.run_training(__doc__, STEPS, lambda steps: train_vn(VariationalNetwork(), steps=steps), WEIGHTS, report,
                     seed=SEED)

if __name__ == "__main__":
    main()
