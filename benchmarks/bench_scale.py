"""The full @stable suite at fastMRI's scale: what each item costs in time and memory.

Two settings, 4 images each (the MNI152 test slices interpolated to the grid), random weights (the cost does not
depend on them, except where a trained network's search stops early):

* **U-Net, single coil**: fastMRI's U-Net at its released size (``Unet(1, 1, chans=32, num_pool_layers=4)``,
  7.8 M parameters) in fastMRI's pipeline (:class:`~pytest_stability.FastMRIUnet`, ``inputs="fastmri"``), 320 × 320
  single-coil k-space, fastMRI's ``RandomMaskFunc`` (centre fraction 0.08) at 4× (25 %);
* **VarNet, 15 coils**: fastMRI's E2E-VarNet at its released size (12 cascades, 18 channels, 4 pools; sensitivity
  net 8 channels, 4 pools), 320 × 320 with 15 simulated coils, the same masks.

The suite of each: the worst case at two eps (0.01, 0.02; 40 steps, the TV baseline's own worst case), the six
details, and a four-ratio sweep (1/8, 1/4, 1/3, 1/2); ``--items evaluation`` times the search's unit instead, one
forward + backward of the 4 images through the network and through the TV baseline unrolled as the search attacks
it (what a worst case too long to run costs per step). Each check runs in its own process (``--item``), so its
peak memory (``ru_maxrss``) is its own. The worst case reports where its time goes: the TV baseline's own worst
case, the network's search and the rest (TV on the network's perturbation, the noise and persistence controls).

    python benchmarks/bench_scale.py                    # everything, 2 torch threads (the machine's cores)
    python benchmarks/bench_scale.py --size 64 --quick  # a smoke run
    python benchmarks/bench_scale.py --only varnet --items evaluation --max-batch 4
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

from pytest_stability.checks.references import ATTACK_ITERATIONS

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ("unet", "varnet")
ITEMS = ("worst_case", "structure", "samples", "evaluation")
RATIOS = (1 / 8, 1 / 4, 1 / 3, 1 / 2)


def images(size: int) -> torch.Tensor:
    """The 4 MNI152 test slices (128²) interpolated to size², in [0, 1]."""
    sys.path.insert(0, str(ROOT))
    from conftest_examples import zoo

    x = torch.nn.functional.interpolate(zoo.brain_slices("test"), size=(size, size), mode="bicubic",
                                        align_corners=False).clamp_min(0)
    return x / x.amax(dim=(1, 2, 3), keepdim=True)


def setting(name: str, size: int, quick: bool):
    """(model, operator family, trained ratio) of one setting."""
    from fastmri.data.subsample import RandomMaskFunc
    from fastmri.models import Unet, VarNet

    from pytest_stability import FastMRIUnet, fastmri_family
    from pytest_stability.operators import simulate_coil_maps

    torch.manual_seed(0)
    if name == "unet":
        model = FastMRIUnet(Unet(1, 1, chans=8 if quick else 32, num_pool_layers=2 if quick else 4))
        family = fastmri_family(RandomMaskFunc, (size, size), center_fraction=0.08, seed=0)
    else:
        model = VarNet(num_cascades=2 if quick else 12, chans=4 if quick else 18, pools=2 if quick else 4,
                       sens_chans=4 if quick else 8, sens_pools=2 if quick else 4)
        family = fastmri_family(RandomMaskFunc, (size, size), center_fraction=0.08, seed=0,
                                coil_maps=simulate_coil_maps(15, (size, size)))
    return model.eval(), family, 0.25


def run_item(name: str, item: str, size: int, quick: bool, max_batch: int | None = None) -> dict:
    """One check of one setting, in this process; returns its times and peak memory."""
    from pytest_stability import PerturbationSearch, sample_sweep, structural
    from pytest_stability.checks import worst_case
    from pytest_stability.checks.worst_case import baseline_worst_case

    model, family, ratio = setting(name, size, quick)
    x = images(size)
    operator = family(ratio)
    out: dict = {"setting": name, "item": item, "size": size, "params": sum(p.numel() for p in model.parameters())}
    started = time.perf_counter()
    if item == "worst_case":
        search = PerturbationSearch(eps=(0.01, 0.02), steps=4 if quick else 40, seed=0)
        t = time.perf_counter()
        ratios_g = baseline_worst_case("tv", operator, x, search)
        out["baseline_worst_case_s"] = time.perf_counter() - t
        t = time.perf_counter()
        results = worst_case(model, x, operator, inputs="fastmri", search=search, baseline_ratios=ratios_g,
                             max_batch=max_batch)
        out["network_and_controls_s"] = time.perf_counter() - t
        out["evaluations"] = results[0].numbers["evaluations"]
        out["verdicts"] = [r.verdict for r in results]
    elif item == "structure":
        results = structural(model, x, operator, inputs="fastmri", max_batch=max_batch)
        out["verdicts"] = [r.verdict for r in results]
    elif item == "evaluation":
        # the worst-case search's unit: one forward + backward of 4 images (capped at max_batch per call), of the
        # network and of the TV baseline unrolled as the search attacks it
        from pytest_stability import Reconstructor
        from pytest_stability.checks.references import reference

        for label, f in (("network", Reconstructor(model, operator, inputs="fastmri")),
                         ("tv_unrolled", reference("tv", operator, differentiable=True))):
            t = time.perf_counter()
            for index in torch.arange(len(x)).split(max_batch or len(x)):  # as the search splits a batch
                g = f.for_images(index)
                g(g.operator(x[index].clone().requires_grad_(True))).abs().sum().backward()
            out[f"{label}_forward_backward_s"] = time.perf_counter() - t
        out["verdicts"] = []
    else:
        result = sample_sweep(model, x, family, RATIOS, inputs="fastmri", trained_ratio=ratio, max_batch=max_batch)
        out["verdicts"] = [result.verdict]
        out["ratios"] = result.numbers["ratios"]
    out["seconds"] = time.perf_counter() - started
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="small networks and searches (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument("--items", nargs="+", choices=ITEMS, default=list(ITEMS))
    parser.add_argument("--max-batch", type=int, help="the plugin's max_batch: the most inputs per model call")
    parser.add_argument("--item", nargs=2, metavar=("SETTING", "CHECK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.item:
        print(json.dumps(run_item(*args.item, args.size, args.quick, args.max_batch)))
        return
    quick = ", --quick" if args.quick else ""
    cap = f", max_batch {args.max_batch}" if args.max_batch else ""
    print(f"torch {torch.__version__}, {args.threads} threads, {args.size}², 4 images{quick}{cap}\n")
    print("| setting | item | wall time | peak memory | where the time goes | verdicts |")
    print("|---|---|---|---|---|---|")
    for name in args.only:
        for item in args.items:
            command = [sys.executable, __file__, "--item", name, item, "--size", str(args.size), "--threads",
                       str(args.threads)] + (["--quick"] if args.quick else []) + \
                      (["--max-batch", str(args.max_batch)] if args.max_batch else [])
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode:
                print(f"| {name} | {item} | failed: {done.stderr.strip().splitlines()[-1]} | | | |", flush=True)
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            where = ""
            if item == "evaluation":
                where = (f"one forward + backward of the 4 images: network {r['network_forward_backward_s']:.0f} s, "
                         f"TV unrolled ({ATTACK_ITERATIONS} iterations) {r['tv_unrolled_forward_backward_s']:.0f} s")
            if item == "worst_case":
                where = (f"TV's own worst case {r['baseline_worst_case_s']:.0f} s; network search and controls "
                         f"{r['network_and_controls_s']:.0f} s ({r['evaluations']['forward']} forward, "
                         f"{r['evaluations']['backward']} backward calls)")
            print(f"| {name} ({r['params'] / 1e6:.1f} M parameters) | {item} | {r['seconds']:.0f} s | "
                  f"{r['peak_rss_gib']:.1f} GiB | {where} | {', '.join(r['verdicts'])} |", flush=True)


if __name__ == "__main__":
    main()
