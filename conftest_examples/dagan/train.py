"""Train the DAGAN analogue: ``python -m conftest_examples.dagan.train`` (CPU, one thread, deterministic).

Data: the 125 MNI152 training slices at 64 × 64 (``zoo.brain_slices("train")``) with flips, circular shifts
(±4 px) and intensity scaling (``zoo.augment``), measured with the fixed 20 % Cartesian mask (seed 0),
noiseless, as DAGAN was trained. Input: the zero-filled magnitude |A* y|. Loss: mean squared error against x
(DAGAN's pixel term; its frequency, perceptual VGG and adversarial terms are left out, so this is the
generator trained alone). Adam 1e-3 with cosine decay (``zoo.train``), ``STEPS`` steps of ``BATCH``.
Writes ``weights.pt`` and prints the test-slice PSNR of the network, the zero-filled |A* y| and TV.
"""

from __future__ import annotations

import time

import torch

from pytest_stability import TVReconstruction, psnr

from .. import zoo
from .model import RATIO, WEIGHTS, DaganGenerator, family

STEPS = 2000
BATCH = 16


def main() -> None:
    torch.set_num_threads(1)
    operator = family()(RATIO)
    train_x = zoo.brain_slices("train")
    torch.manual_seed(0)  # the initial weights
    model = DaganGenerator()

    def loss_of_batch(step: int, gen: torch.Generator) -> torch.Tensor:
        x = zoo.augment(train_x[torch.randint(len(train_x), (BATCH,), generator=gen)], gen)
        return torch.nn.functional.mse_loss(model(operator.adjoint(operator(x)).abs()), x)

    started = time.monotonic()
    zoo.train(model, loss_of_batch, steps=STEPS, lr=1e-3, seed=0, log_every=250)
    print(f"trained {STEPS} steps in {time.monotonic() - started:.0f} s")
    zoo.save_weights(model, WEIGHTS)

    model = zoo.load_weights(DaganGenerator(), WEIGHTS)  # evaluate what is stored (float16 weights)
    x = zoo.brain_slices("test")
    y = operator(x)
    zero_filled = operator.adjoint(y).abs()
    with torch.no_grad():
        rows = {"DAGAN analogue": model(zero_filled), "zero-filled |A*y|": zero_filled,
                "TV": TVReconstruction(operator)(y).abs()}
    for name, out in rows.items():
        p = psnr(out, x)
        print(f"{name:20s} PSNR {p.mean():.2f} dB  (per slice {', '.join(f'{v:.2f}' for v in p.tolist())})")


if __name__ == "__main__":
    main()
