"""What the example model repositories share: their data and a small deterministic training loop.

Data (nothing downloaded): brain slices of the MNI152 template that nilearn ships, extracted once by
``data/make_mni152_slices.py`` into ``data/mni152_slices_64.npz`` (train and held-out test slices), and random
ellipses drawn by :func:`pytest_stability.phantoms.random_ellipses`. Training runs on the CPU, seeded, in a few
minutes; weights are stored as float16 state dicts and loaded with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).with_name("data") / "mni152_slices_64.npz"


def brain_slices(split: str = "test", size: int = 64) -> torch.Tensor:
    """MNI152 slices (N, 1, size, size) in [0, 1]; ``split`` is "train" (125 slices) or "test" (4 held-out
    axial slices). ``size`` 64, or 32 (2 × 2 averaged)."""
    with np.load(DATA) as data:
        x = torch.from_numpy(data[split].astype(np.float32)).unsqueeze(1)
    if size != 64:
        x = torch.nn.functional.avg_pool2d(x, 64 // size)
    return x / x.amax(dim=(1, 2, 3), keepdim=True)


def augment(x: torch.Tensor, gen: torch.Generator, *, max_shift: int = 4) -> torch.Tensor:
    """Random flips, shifts (±max_shift pixels, circular) and intensity scaling (0.8–1.2) of a batch."""
    b = x.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    shifts = torch.randint(-max_shift, max_shift + 1, (2,), generator=gen).tolist()
    x = torch.roll(x, shifts=shifts, dims=(-2, -1))
    return x * (0.8 + 0.4 * torch.rand(b, 1, 1, 1, generator=gen))


def train(model: torch.nn.Module, loss_of_batch: Callable[[int, torch.Generator], torch.Tensor], *, steps: int,
          lr: float = 1e-3, seed: int = 0, log_every: int = 50) -> torch.nn.Module:
    """Adam with a cosine learning-rate decay for ``steps`` steps; ``loss_of_batch(step, gen)`` draws a batch
    with the seeded generator and returns its loss. Deterministic on the CPU for a given seed."""
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    gen = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, steps)
    model.train()
    started = time.monotonic()
    for step in range(steps):
        loss = loss_of_batch(step, gen)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if step % log_every == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.5f}  {time.monotonic() - started:6.1f} s", flush=True)
    return model.eval()


def run_training(description: str, steps: int, fit: Callable[[int], torch.nn.Module], path: Path,
                 evaluate: Callable[[], str], *, seed: int = 0) -> None:
    """A training script's command line: ``--steps`` (default ``steps``), one torch thread, the initial weights
    seeded by ``seed``; ``fit(steps)`` builds and trains the model, its weights go to ``path``, then the line
    ``evaluate()`` returns (test PSNR of the stored weights) is printed."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--steps", type=int, default=steps)
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.monotonic()
    torch.manual_seed(seed)  # the initial weights
    model = fit(args.steps)
    print(f"trained {args.steps} steps in {time.monotonic() - started:.0f} s")
    save_weights(model, path)
    print(evaluate())


def psnr_report(name: str, reconstruct: Callable[[torch.Tensor], torch.Tensor], operator, x: torch.Tensor) -> str:
    """Mean PSNR on the images x of ``reconstruct`` (y ↦ x̂), of the naive reconstruction and of TV, as one line
    (what the training scripts print after training)."""
    from pytest_stability import TVReconstruction, psnr

    with torch.no_grad():
        y = operator(x)
        scores = {name: psnr(reconstruct(y), x), "naive": psnr(operator.naive(y), x),
                  "TV": psnr(TVReconstruction(operator)(y), x)}
    means = ", ".join(f"{k} {float(v.mean()):.2f} dB" for k, v in scores.items())
    return f"test PSNR ({len(x)} images, mean): {means}"


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Store the state dict in float16 (half the size; the networks are evaluated in float32)."""
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}, path)


def load_weights(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    """Load weights saved by :func:`save_weights` (``weights_only=True``) into ``model``, in eval mode."""
    state = torch.load(path, weights_only=True, map_location="cpu")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()
