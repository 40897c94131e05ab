"""How the zoo trains: deterministic, resumable runs that keep their validation curve.

A network's ``train.py`` describes its training as a :class:`Recipe` (its networks, one optimisation step, the
validation PSNR, the schedule); :func:`run` carries it out for one seed:

* **deterministic**: the initial weights, the data order, the augmentation and any random masks come from the
  seed; one torch thread and ``torch.use_deterministic_algorithms`` on the CPU;
* **resumable**: every ``check_every`` steps the state is rounded to 16 bits (weights to float16, Adam's moments to
  bfloat16, whose range keeps the second moment from underflowing) and written to ``checkpoint-seed{k}.pt``;
  the run always continues from the rounded state, so a run stopped and resumed from a checkpoint is
  bit-identical to one that never stopped. A long run spans sessions by committing that small checkpoint;
* **documented**: the curve (mean validation PSNR against steps, with the training loss) and the TV baseline's
  validation PSNR go to ``training-seed{k}.json``; the finished weights to ``weights-seed{k}.pt`` (float16), and
  the checkpoint is removed.

The learning rate follows a linear warm-up over the first 2 % of the steps, then a cosine decay to 1 % of ``lr``
(a recipe in phases gives its own ``schedule``); it is a function of the step alone, so it needs no state of its own.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from . import zoo

Nets = dict[str, nn.Module]
Optimisers = dict[str, torch.optim.Optimizer]


@dataclass
class Recipe:
    """What one network's training is.

    ``build()`` returns the networks by name (the first is the one that is kept; a GAN adds its discriminator);
    ``step(nets, optimisers, gen, i)`` draws a batch with ``gen``, takes one optimisation step of every optimiser
    it uses and returns the loss to log; ``validate(net)`` returns the mean validation PSNR (dB) of the kept
    network and ``baseline()`` that of TV on the same images. ``folder`` is the example's folder.
    """

    name: str
    folder: Path
    build: Callable[[], Nets]
    step: Callable[[Nets, Optimisers, torch.Generator, int], float]
    validate: Callable[[nn.Module], float]
    baseline: Callable[[], float]
    steps: int
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    check_every: int = 250
    init: Callable[[Nets, int], None] | None = None
    schedule: Callable[[Recipe, int], float] | None = None
    notes: dict[str, object] = field(default_factory=dict)

    def weights(self, seed: int) -> Path:
        return self.folder / f"weights-seed{seed}.pt"

    def checkpoint(self, seed: int) -> Path:
        return self.folder / f"checkpoint-seed{seed}.pt"

    def log(self, seed: int) -> Path:
        return self.folder / f"training-seed{seed}.json"


def learning_rate(recipe: Recipe, i: int) -> float:
    """The default schedule: :func:`warm_cosine` from ``recipe.lr`` over all of the recipe's steps."""
    return warm_cosine(recipe.lr, i, recipe.steps)


def warm_cosine(lr: float, i: int, steps: int) -> float:
    """Step ``i`` of ``steps``: warm-up over 2 % of them, then cosine decay from ``lr`` to ``lr / 100`` at the last."""
    warm = max(1, steps // 50)
    if i < warm:
        return lr * (i + 1) / warm
    progress = (i - warm) / max(1, steps - warm)
    return lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress)))


def simple_step(loss: Callable[[nn.Module, torch.Generator], torch.Tensor]) -> Callable[..., float]:
    """The step of a recipe with one network and one loss: ``loss(net, gen)`` on a fresh batch, one Adam step."""

    def step(nets: Nets, optimisers: Optimisers, gen: torch.Generator, i: int) -> float:
        (name,) = nets
        value = loss(nets[name], gen)
        optimisers[name].zero_grad(set_to_none=True)
        value.backward()
        optimisers[name].step()
        return float(value.detach())

    return step


def _round_state(nets: Nets, optimisers: Optimisers) -> dict:
    """The 16-bit state (weights float16, optimiser tensors bfloat16), loaded back into nets and optimisers."""
    state = {"nets": {k: {n: v.half() if v.is_floating_point() else v for n, v in net.state_dict().items()}
                      for k, net in nets.items()},
             "optimisers": {k: _map_tensors(opt.state_dict(), lambda t: t.bfloat16()) for k, opt in optimisers.items()}}
    _load_state(state, nets, optimisers)
    return state


def _map_tensors(obj, fn):
    if isinstance(obj, torch.Tensor):
        return fn(obj) if obj.is_floating_point() and obj.dim() > 0 else obj
    if isinstance(obj, dict):
        return {k: _map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map_tensors(v, fn) for v in obj]
    return obj


def _load_state(state: dict, nets: Nets, optimisers: Optimisers) -> None:
    for k, net in nets.items():
        net.load_state_dict({n: v.float() if v.is_floating_point() else v for n, v in state["nets"][k].items()})
    for k, opt in optimisers.items():
        opt.load_state_dict(_map_tensors(state["optimisers"][k], lambda t: t.float()))


def run(recipe: Recipe, seed: int, *, device: str = "cpu", stop_after_s: float = math.inf) -> bool:
    """Train ``recipe`` with ``seed`` from its checkpoint (or from scratch); returns True when finished.

    Stops at the first checkpoint after ``stop_after_s`` seconds (the checkpoint keeps the progress)."""
    if recipe.weights(seed).exists() and not recipe.checkpoint(seed).exists():
        print(f"{recipe.name} seed {seed}: done ({recipe.weights(seed).name} exists)", flush=True)
        return True
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)  # the initial weights
    nets = recipe.build()
    if recipe.init is not None:
        recipe.init(nets, seed)
    for net in nets.values():
        net.to(device).train()
    optimisers = {k: torch.optim.Adam(net.parameters(), lr=recipe.lr, betas=recipe.betas) for k, net in nets.items()}
    gen = torch.Generator().manual_seed(seed)
    log = {"name": recipe.name, "seed": seed, "steps": recipe.steps, "lr": recipe.lr, "notes": recipe.notes,
           "curve": [], "elapsed_s": 0.0}
    start = 0
    if recipe.checkpoint(seed).exists():
        saved = torch.load(recipe.checkpoint(seed), weights_only=True, map_location=device)
        _load_state(saved, nets, optimisers)
        gen.set_state(saved["generator"])
        start = int(saved["step"])
        log = json.loads(recipe.log(seed).read_text())
        print(f"{recipe.name} seed {seed}: resumed at step {start}", flush=True)
    else:
        log["baseline_val_psnr"] = recipe.baseline()
    first = next(iter(nets))
    began = last = time.monotonic()
    losses: list[float] = []
    schedule = recipe.schedule or learning_rate
    for i in range(start, recipe.steps):
        for opt in optimisers.values():
            for group in opt.param_groups:
                group["lr"] = schedule(recipe, i)
        losses.append(recipe.step(nets, optimisers, gen, i))
        done = i + 1
        if done % recipe.check_every and done < recipe.steps:
            continue
        state = _round_state(nets, optimisers)
        nets[first].eval()
        with torch.no_grad():
            val = recipe.validate(nets[first])
        nets[first].train()
        now = time.monotonic()
        log["elapsed_s"] = round(log["elapsed_s"] + now - last, 1)
        last = now
        log["curve"].append({"step": done, "val_psnr": round(val, 3), "train_loss": sum(losses) / len(losses)})
        losses = []
        print(f"{recipe.name} seed {seed}: step {done}/{recipe.steps}  val PSNR {val:.2f} dB "
              f"(TV {log['baseline_val_psnr']:.2f})  loss {log['curve'][-1]['train_loss']:.3g}  "
              f"{log['elapsed_s'] / 60:.1f} min", flush=True)
        if done == recipe.steps:
            zoo.save_weights(nets[first], recipe.weights(seed))
        else:
            zoo.atomic_save({**state, "generator": gen.get_state(), "step": done}, recipe.checkpoint(seed))
        _write_json(recipe.log(seed), log)
        if done == recipe.steps:
            recipe.checkpoint(seed).unlink(missing_ok=True)
        elif now - began > stop_after_s:
            return False
    return True


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)
