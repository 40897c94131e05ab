"""Train the zoo: ``python -m conftest_examples NAME:SEED [NAME:SEED ...] [--stop-after-min M]``.

Runs the named trainings one after the other (e.g. ``deep_mri:0 deep_mri:1 ell50:0``), each resumed from its
checkpoint when one exists, with one torch thread; ``--stop-after-min`` ends at the first checkpoint after M
minutes (to be resumed later). NAME is an example folder with a ``train.py`` that defines ``RECIPE``.
"""

from __future__ import annotations

import argparse
import importlib
import math

import torch

from .training import run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME:SEED")
    parser.add_argument("--stop-after-min", type=float, default=math.inf)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for spec in args.runs:
        name, _, seed = spec.partition(":")
        recipe = importlib.import_module(f"conftest_examples.{name}.train").RECIPE
        if not run(recipe, int(seed or 0), device=args.device, stop_after_s=60 * args.stop_after_min):
            break


if __name__ == "__main__":
    main()
