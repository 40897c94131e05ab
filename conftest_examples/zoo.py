"""What the example model repositories share: their test images and how weights are stored.

Test and validation images are shipped (``data/mni152_128.npz``, written by ``data/make_test_images.py`` from the
MNI152 template that nilearn ships), so tests and the demo need neither nilearn nor a download; the training
images are made from the template at training time (:mod:`conftest_examples.datasets`). Weights are float16 state
dicts (matrices of :data:`INT8_MATRIX` entries or more in 8 bits, see :func:`save_weights`), loaded with
``torch.load(weights_only=True)``; each network has one file per training seed, ``weights-seed{k}.pt``, and the demo
tests seed :data:`SHIPPED_SEED`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).with_name("data") / "mni152_128.npz"
SEEDS = (0, 1, 2)
SHIPPED_SEED = 0
INT8_MATRIX = 1 << 20
SCALE = ".int8_row_scale"


def _images(key: str, size: int) -> torch.Tensor:
    with np.load(DATA) as data:
        x = torch.from_numpy(data[key].astype(np.float32)).unsqueeze(1)
    if size != x.shape[-1]:
        x = torch.nn.functional.avg_pool2d(x, x.shape[-1] // size)
    return x / x.amax(dim=(1, 2, 3), keepdim=True)


def brain_slices(split: str = "test", size: int = 128) -> torch.Tensor:
    """MNI152 T1 slices (N, 1, size, size), each scaled to max 1: ``split`` "test" (4 axial slices, the demo's
    images) or "val" (8 slices of three orientations, the training curves' images); ``size`` 128 or 64 (2 × 2
    averaged)."""
    return _images(f"{split}_t1", size)


def ct_slices(split: str = "test") -> torch.Tensor:
    """CT attenuation images (N, 1, 128, 128) made from the same slices' tissue maps (``datasets.ct_images``)."""
    return _images(f"{split}_ct", 128)


def atomic_save(obj: object, path: Path) -> None:
    """torch.save through a temporary file and a rename: a killed process never leaves a torn file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def save_weights(model: torch.nn.Module, path: Path) -> None:
    """Store the state dict in float16 (half the size; the networks are evaluated in float32), and every matrix of
    :data:`INT8_MATRIX` entries or more in 8 bits: symmetric per row, w ≈ q · s with q int8 and s = max|w_row| / 127
    (stored as ``name + SCALE``). Only AUTOMAP's dense layers are that large; in float16 they would make a 37 MB
    file, over the repository's 20 MB per file. The network the tests measure is the one loaded back, so every
    verdict is about the stored weights."""
    state: dict[str, torch.Tensor] = {}
    for k, v in model.state_dict().items():
        if v.is_floating_point() and v.dim() == 2 and v.numel() >= INT8_MATRIX:
            scale = v.float().abs().amax(dim=1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny) / 127
            state[k], state[k + SCALE] = torch.round(v.float() / scale).to(torch.int8), scale
        else:
            state[k] = v.half() if v.is_floating_point() else v
    atomic_save(state, path)


def load_weights(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    """Load weights saved by :func:`save_weights` (``weights_only=True``) into ``model``, in eval mode.

    A seed not trained yet skips its tests with the command that trains it: training takes hours and is never
    part of tests or the demo, and an untrained network's verdicts would say nothing about the paper's."""
    if not path.exists():
        import pytest

        name, seed = path.parent.name, path.stem.removeprefix("weights-seed")
        pytest.skip(f"{name}: seed {seed} is not trained yet ({path.name} missing); train it with "
                    f"`python -m conftest_examples {name}:{seed}` (hours on CPU, resumable)")
    state = torch.load(path, weights_only=True, map_location="cpu")
    scales = {k.removesuffix(SCALE): state.pop(k) for k in [k for k in state if k.endswith(SCALE)]}
    model.load_state_dict({k: v.float() * scales[k] if k in scales else v.float() if v.is_floating_point() else v
                           for k, v in state.items()})
    return model.eval()


def seed_from_env() -> int:
    """The training seed whose weights the examples' fixtures load: ``STABILITY_ZOO_SEED`` (default the shipped
    seed), so the same tests measure every seed: ``STABILITY_ZOO_SEED=1 pytest --stability conftest_examples``."""
    seed = int(os.environ.get("STABILITY_ZOO_SEED", SHIPPED_SEED))
    if seed not in SEEDS:
        raise ValueError(f"STABILITY_ZOO_SEED must be one of {SEEDS}, got {seed}.")
    return seed
