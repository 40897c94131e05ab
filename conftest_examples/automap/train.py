"""Train the AUTOMAP analogue: ``python -m conftest_examples.automap.train`` (CPU, one thread, deterministic).

Data: the 125 MNI152 training slices at 32 × 32 (``zoo.brain_slices("train", 32)``) with flips, circular shifts
(±2 px) and intensity scaling (``zoo.augment``). Measurements y = A x with the fixed 60 % variable-density mask
(seed 0) plus white complex Gaussian noise on the sampled entries, standard deviation ``NOISE`` per real and
imaginary part (‖e‖ ≈ 1 % of ‖y‖), as AUTOMAP was trained with white noise added to the Fourier samples.
Loss: mean squared error against x. Adam 1e-3 with cosine decay (``zoo.train``), ``STEPS`` steps of ``BATCH``.
Writes ``weights.pt`` and prints the test-slice PSNR of the network, the zero-filled |A* y| and TV.
"""

from __future__ import annotations

import time

import torch

from pytest_stability import TVReconstruction, psnr

from .. import zoo
from .model import RATIO, SIZE, WEIGHTS, Automap, family

STEPS = 6000
BATCH = 32
NOISE = 0.004


def main() -> None:
    torch.set_num_threads(1)
    operator = family()(RATIO)
    train_x = zoo.brain_slices("train", SIZE)
    torch.manual_seed(0)  # the initial weights
    model = Automap(operator.mask)

    def loss_of_batch(step: int, gen: torch.Generator) -> torch.Tensor:
        x = zoo.augment(train_x[torch.randint(len(train_x), (BATCH,), generator=gen)], gen, max_shift=2)
        y = operator(x)
        noise = torch.complex(torch.randn(y.shape, generator=gen), torch.randn(y.shape, generator=gen))
        return torch.nn.functional.mse_loss(model(y + NOISE * operator.project(noise)), x)

    started = time.monotonic()
    zoo.train(model, loss_of_batch, steps=STEPS, lr=1e-3, seed=0, log_every=250)
    print(f"trained {STEPS} steps in {time.monotonic() - started:.0f} s")
    zoo.save_weights(model, WEIGHTS)

    model = zoo.load_weights(Automap(operator.mask), WEIGHTS)  # evaluate what is stored (float16 weights)
    x = zoo.brain_slices("test", SIZE)
    y = operator(x)
    with torch.no_grad():
        rows = {"AUTOMAP analogue": model(y), "zero-filled |A*y|": operator.adjoint(y).abs(),
                "TV": TVReconstruction(operator)(y).abs()}
    for name, out in rows.items():
        p = psnr(out, x)
        print(f"{name:20s} PSNR {p.mean():.2f} dB  (per slice {', '.join(f'{v:.2f}' for v in p.tolist())})")


if __name__ == "__main__":
    main()
