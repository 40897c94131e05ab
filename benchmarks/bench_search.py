"""Worst-case perturbation search: the cost of a step, the gain from batching, and κ per model evaluation.

Run ``python benchmarks/bench_search.py`` (``--quick`` for a short run, ``--threads N`` to change the
headline's one torch thread, ``--only step batching kappa`` to pick sections, ``--device cuda`` on a GPU).
The network is a fastMRI-style U-Net (``benchmarks/unet.py``: 4 pooling levels, 32 channels at the top,
InstanceNorm + LeakyReLU, 7.8 M parameters) behind single-coil Cartesian MRI
(:class:`~pytest_stability.operators.SingleCoilMRI` with a 25 % :func:`~pytest_stability.masks.cartesian_mask`),
fed the zero-filled image A*y as two real channels (``Reconstructor(model, A, inputs="naive",
complex_as_channels=True)``). Every comparison runs in this process, repetitions interleaved, medians.

1. **Step cost.** One step of :class:`~pytest_stability.search.PerturbationSearch` (corrected mode) against one
   bare forward + backward pass: r requiring grad, y = A(x + r), out = model(channels(A*y)),
   loss = ½‖out − f(Ax)‖², ``torch.autograd.grad(loss, r)``, weights not requiring grad (the baseline, 1.00);
   also with the weights requiring grad (``autograd.grad`` w.r.t. r, and ``loss.backward()``). The search's
   per-step cost is (T(S steps) − T(S0 steps)) / (S − S0), paired per repetition, with power_iterations=0 and
   a patience no element reaches, so every element takes every step and set-up costs cancel. The cost of one
   power iteration (jvp + vjp) is measured the same way from two power-iteration counts. Goal: ≤ 1.10×.
2. **Batching.** 8 images searched in one batch against 8 single-image searches, same steps per image.
3. **κ per evaluation.** On a U-Net trained here (residual, 64², random ellipses, deterministic), the corrected
   search (from the Jacobian's top singular vector v1, and from noise) against the paper's heavy-ball ascent
   (mode="faithful"), at N = 10, 20, 40, 80 steps. The faithful ascent has no budget; its perturbation grows.
   To compare like with like, each image's corrected search gets the relative budget eps = ‖r_N‖/‖x‖ that
   the faithful ascent reached on that image after N steps, so both report κ = ‖f(A(x + r)) − f(Ax)‖/‖r‖ at
   the same perturbation size. Evaluations are the model's forward and backward passes per image (a
   forward-mode jvp counts as one forward, though it costs more; the times column shows it).
4. **κ on the example networks.** The same race on two trained networks of the example zoo
   (``conftest_examples/``): the DAGAN analogue (U-Net on the zero-filled magnitude, 20 % lines) and the Deep
   MRI analogue (cascade with data consistency, 33 % lines), on their 4 held-out brain slices.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from pytest_stability.masks import cartesian_mask
from pytest_stability.metrics import psnr
from pytest_stability.models import Reconstructor
from pytest_stability.operators import SingleCoilMRI
from pytest_stability.phantoms import random_ellipses
from pytest_stability.search import PerturbationSearch, SearchResult

sys.path.insert(0, str(Path(__file__).resolve().parent))
from unet import UNet  # noqa: E402

SECTIONS = ("step", "batching", "kappa", "zoo")
NEVER = 10**9  # a patience no element reaches: every element takes every step


def channels(z: torch.Tensor) -> torch.Tensor:
    """Complex (B, C, H, W) as real (B, 2C, H, W): real parts, then imaginary parts."""
    return torch.cat([z.real, z.imag], dim=1)


def setup(size: int, batch: int, device: str, *, residual: bool = False, seed: int = 1):
    """Model (untrained, seeded), operator, reconstructor and a batch of random-ellipse images."""
    torch.manual_seed(0)
    model = UNet(in_chans=2, out_chans=2, residual=residual).to(device).eval()
    operator = SingleCoilMRI(cartesian_mask((size, size), 0.25, seed=0))
    f = Reconstructor(model, operator, inputs="naive", complex_as_channels=True)
    x = random_ellipses(batch, size, seed=seed, device=device)
    return model, operator, f, x


class Clock:
    """Wall time of a call, synchronising the GPU around it."""

    def __init__(self, device: str):
        self.cuda = torch.device(device).type == "cuda"

    def __call__(self, fn: Callable[[], object]) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - start


def search_time(clock: Clock, f: Reconstructor, x: torch.Tensor, **kwargs) -> float:
    search = PerturbationSearch(eps=(0.02,), patience=NEVER, **kwargs)
    return clock(lambda: search.run(f, x))


# -- 1. the cost of one step -------------------------------------------------------------------------
def bare_step(model: torch.nn.Module, operator: SingleCoilMRI, x: torch.Tensor, r0: torch.Tensor,
              reference: torch.Tensor, *, backward: bool) -> torch.Tensor:
    """∂/∂r ½‖model(channels(A*A(x + r))) − reference‖² at r0, by autograd.grad or loss.backward()."""
    r = r0.clone().requires_grad_(True)
    out = model(channels(operator.naive(operator(x + r))))
    loss = 0.5 * (out - reference).square().sum()
    if backward:
        model.zero_grad(set_to_none=True)
        loss.backward()
        return r.grad
    return torch.autograd.grad(loss, r)[0]


def step_cost(batch: int, size: int, rounds: int, steps: tuple[int, int], power: tuple[int, int] | None,
              device: str) -> dict[str, list[float]]:
    """name -> seconds per step in each interleaved round."""
    model, operator, f, x = setup(size, batch, device)
    clock = Clock(device)
    r0 = 1e-3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2)).to(device)
    with torch.no_grad():
        reference = model(channels(operator.naive(operator(x))))
    params = list(model.parameters())

    def bare(weights_grad: bool, backward: bool) -> float:
        for p in params:
            p.requires_grad_(weights_grad)
        return clock(lambda: bare_step(model, operator, x, r0, reference, backward=backward))

    s0, s1 = steps
    samples: dict[str, list[float]] = {}
    bare(False, False)  # warm-up: allocator, lazy initialisation, the operator's cached mask
    search_time(clock, f, x, steps=1, power_iterations=power[0] if power else 0)
    for _ in range(rounds):
        row = {
            "bare": bare(False, False),
            "weights require grad, autograd.grad w.r.t. r": bare(True, False),
            "weights require grad, loss.backward()": bare(True, True),
            "search step": (search_time(clock, f, x, steps=s1, power_iterations=0)
                            - search_time(clock, f, x, steps=s0, power_iterations=0)) / (s1 - s0),
        }
        if power:
            p0, p1 = power
            row["power iteration (jvp + vjp)"] = (search_time(clock, f, x, steps=1, power_iterations=p1)
                                                  - search_time(clock, f, x, steps=1, power_iterations=p0)) / (p1 - p0)
        for name, value in row.items():
            samples.setdefault(name, []).append(value)
    for p in params:
        p.requires_grad_(True)
    return samples


def default_search(batch: int, size: int, device: str) -> tuple[float, SearchResult]:
    """Seconds and result of one search with the library's defaults (what one worst-case check runs per eps)."""
    _, _, f, x = setup(size, batch, device)
    clock = Clock(device)
    search = PerturbationSearch(eps=(0.02,))
    result = []
    seconds = clock(lambda: result.append(search.run(f, x)))
    return seconds, result[0]


def print_step_table(results: dict[int, dict[str, list[float]]], size: int, plan: str,
                     default: dict[int, tuple[float, SearchResult]]) -> None:
    """Median ms per row, and the median over rounds of each round's ratio to that round's bare step (a ratio
    within one round is what survives the load of a shared machine)."""
    batches = sorted(results)
    labels = {"bare": "bare fwd+bwd, weights frozen, autograd.grad w.r.t. r",
              "search step": "PerturbationSearch step (corrected), (T(S) − T(S0)) / (S − S0)"}
    ratios = {b: {name: [v / bare for v, bare in zip(values, results[b]["bare"], strict=True)]
                  for name, values in results[b].items()} for b in batches}
    print(f"## 1. One search step vs one bare forward + backward (U-Net, {size}², single-coil MRI 25 %)\n")
    print(plan + "\n")
    print("| step | " + " | ".join(f"batch {b}: ms | × bare (min–max)" for b in batches) + " |")
    print("|---|" + "---|---|" * len(batches))
    for name in results[batches[0]]:
        cells = []
        for b in batches:
            if name not in results[b]:
                cells += ["–", "–"]
                continue
            r = ratios[b][name]
            cells += [f"{1e3 * statistics.median(results[b][name]):.0f}",
                      f"**{statistics.median(r):.2f}** ({min(r):.2f}–{max(r):.2f})"]
        print(f"| {labels.get(name, name)} | " + " | ".join(cells) + " |")
    verdict = ", ".join(f"batch {b}: {statistics.median(ratios[b]['search step']):.2f}×" for b in batches)
    print(f"\nGoal: a search step ≤ 1.10× the bare forward + backward. Measured: {verdict}.\n")
    for b, (seconds, result) in default.items():
        bare = statistics.median(results[b]["bare"])
        print(f"A whole default search (eps = 0.02, steps = 40, power_iterations = 10, patience = 8), batch {b}, run "
              f"once: {seconds:.1f} s = {seconds / bare:.0f} bare steps, {evaluations(result) / b:.0f} evaluations per "
              f"image ({result.evaluations['forward']} forward and {result.evaluations['backward']} backward calls), "
              f"κ = {float(result.ratio.median()):.3f}, σ1 = {float(result.sigma1.median()):.3f} (untrained U-Net).")
    print()


# -- 2. batching --------------------------------------------------------------------------------------
def batching(size: int, steps: int, rounds: int, device: str) -> tuple[float, float]:
    """Median seconds: one search over 8 images, and 8 single-image searches, same steps per image."""
    _, _, f, x = setup(size, 8, device)
    clock = Clock(device)

    def batched() -> float:
        return search_time(clock, f, x, steps=steps, power_iterations=0)

    def sequential() -> float:
        return sum(search_time(clock, f, x[i:i + 1], steps=steps, power_iterations=0) for i in range(8))

    batched()
    one, eight = [], []
    for _ in range(rounds):
        one.append(batched())
        eight.append(sequential())
    return statistics.median(one), statistics.median(eight)


# -- 3. κ against steps and model evaluations -----------------------------------------------------
def train(size: int, steps: int, device: str) -> tuple[Reconstructor, torch.Tensor, float, float, float]:
    """A residual U-Net trained by Adam on random ellipses (zero-filled input, 25 % Cartesian); held-out images.

    Returns the reconstructor, 4 held-out images, the training time and the held-out median PSNR of the
    zero-filled input and of the network (dB, magnitude, peak of the truth).
    """
    model, operator, f, _ = setup(size, 1, device, residual=True)
    model.train()
    pool = random_ellipses(256, size, seed=10, device=device)
    test = random_ellipses(4, size, seed=99, device=device)
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(steps):
        xb = pool[torch.randint(pool.shape[0], (8,), generator=gen).to(device)]
        with torch.no_grad():
            zero_filled = channels(operator.naive(operator(xb)))
        loss = (model(zero_filled) - torch.cat([xb, torch.zeros_like(xb)], dim=1)).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - start
    model.eval()
    with torch.no_grad():
        zero_filled = operator.naive(operator(test))
        out = f(operator(test))
    truth = test.to(zero_filled.dtype)
    return (f, test, seconds, float(psnr(zero_filled, truth).median()), float(psnr(out, truth).median()))


def evaluations(result: SearchResult) -> int:
    """Forward plus backward passes of the model, counted per image."""
    return result.evaluations["forward_images"] + result.evaluations["backward_images"]


def kappa_race(f: Reconstructor, images: torch.Tensor, budgets: tuple[int, ...], faithful: dict,
               variants: dict[str, int]) -> list[dict]:
    """For every N: the faithful ascent on all images, then per image each corrected variant (name -> power
    iterations) at the size the faithful ascent reached on that image."""
    overhead = {}  # evaluations a corrected search spends before its first ascent step (reference, v1)
    for name, p in variants.items():
        overhead[name] = evaluations(PerturbationSearch(eps=(0.01,), steps=1, power_iterations=p).run(
            f, images[:1])) - 1
    rows = []
    for n in budgets:
        start = time.perf_counter()
        ref = PerturbationSearch(mode="faithful", schedule=(n,), **faithful).run(f, images)
        seconds = time.perf_counter() - start
        target, eps = ref.ratio[0], ref.relative_perturbation[0]
        rows.append({"N": n, "method": "faithful", "eps": eps, "kappa": target,
                     "evals": evaluations(ref) / images.shape[0], "s": seconds, "reach": None})
        for name, p in variants.items():
            kappas, evals, reach, seconds = [], 0, [], 0.0
            for b in range(images.shape[0]):
                search = PerturbationSearch(eps=(float(eps[b]),), steps=n, power_iterations=p)
                start = time.perf_counter()
                res = search.run(f, images[b:b + 1])
                seconds += time.perf_counter() - start
                kappas.append(float(res.ratio[0, 0]))
                evals += evaluations(res)
                hit = torch.nonzero(res.history[0, 0] >= target[b]).flatten()
                # after step s (0-based) the search has made s + 1 forward and s backward passes
                reach.append(overhead[name] + 2 * int(hit[0]) + 1 if hit.numel() else None)
            rows.append({"N": n, "method": name, "eps": eps, "kappa": torch.tensor(kappas),
                         "evals": evals / images.shape[0], "s": seconds, "reach": reach})
    return rows


def print_kappa_table(rows: list[dict], faithful: dict) -> None:
    print("| N steps | method | ‖r‖/‖x‖ | κ | κ / faithful | evals per image | s | "
          "evals to reach faithful's κ, per image | × fewer than faithful |")
    print("|---|---|---|---|---|---|---|---|---|")
    reference: dict[int, dict] = {}
    for r in rows:
        if r["method"] == "faithful":
            reference[r["N"]] = r
        ref = reference[r["N"]]
        gain, reach = "", ""
        if r["reach"] is not None:
            reach = ", ".join("—" if e is None else str(e) for e in r["reach"])
            hits = [e for e in r["reach"] if e is not None]
            gain = (f"{ref['evals'] / max(hits):.1f}×" if len(hits) == len(r["reach"]) else
                    f"{len(hits)}/{len(r['reach'])} images" if hits else "—")
        print(f"| {r['N']} | {r['method']} | {float(r['eps'].median()):.2g} | {float(r['kappa'].median()):.3f} | "
              f"**{float((r['kappa'] / ref['kappa']).median()):.2f}** | {r['evals']:.1f} | {r['s']:.1f} | "
              f"{reach} | {gain} |")
    print("\nκ: median over the images of ‖f(A(x + r)) − f(Ax)‖/‖r‖ (the faithful ascent's: of its iterate r_N); "
          "κ / faithful: median of the per-image ratios; ‖r‖/‖x‖: the faithful ascent's, median (each corrected "
          "search gets its image's value as eps). evals: forward + backward passes per image, power iterations "
          "included (a jvp counts as one forward); s: seconds for all images. Evals to reach: the fewest after "
          "which the corrected search's best κ on that image was at least the faithful ascent's after N steps "
          "(—: not within N steps); × fewer: the faithful ascent's evals over the largest of them.\n")
    print(f"Faithful: η = {faithful['stab_eta']:g}, λ = {faithful['stab_lambda']:g}, μ = {faithful['stab_gamma']:g}, "
          f"τ = {faithful['stab_tau']:g} (the paper's Deep MRI η, λ and μ), schedule (N,).\n")


def zoo_networks(device: str) -> dict[str, tuple[Reconstructor, torch.Tensor]]:
    """name -> (reconstructor, held-out images) for the example networks raced in section 4."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from conftest_examples import zoo
    from conftest_examples.dagan import model as dagan
    from conftest_examples.deep_mri import model as deep_mri
    from conftest_examples.deep_mri import train as deep_mri_train

    brains = zoo.brain_slices("test").to(device)
    return {
        "DAGAN analogue": (Reconstructor(dagan.load().to(device), dagan.family()(dagan.RATIO),
                                         inputs=dagan.naive_magnitude),
                           brains),
        "Deep MRI analogue": (Reconstructor(deep_mri.load().to(device), deep_mri_train.family()(deep_mri_train.RATIO),
                                            inputs="y,mask"), brains),
    }


# -- the run -------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions, fewer steps, small sizes")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the timings (headline: 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run")
    parser.add_argument("--train-steps", type=int, default=None, help="Adam steps for section 3 (default 200)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quick, device = args.quick, args.device
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"torch {torch.__version__}, device {device}, {args.threads} torch thread(s), {os.cpu_count()} CPU cores, "
          f"load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}{', --quick' if quick else ''}")
    malloc = {k: v for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"}
    print(f"allocator settings: {malloc or 'glibc defaults'}\n")

    if "step" in args.only:
        size = 256
        plan = {1: (3 if quick else 7, (1, 4) if quick else (2, 12), (1, 3) if quick else (1, 5)),
                8: (2 if quick else 5, (1, 3) if quick else (1, 6), None)}
        results = {b: step_cost(b, size, rounds, steps, power, device) for b, (rounds, steps, power) in plan.items()}
        default = {1: default_search(1, size, device)}
        text = "; ".join(f"batch {b}: {rounds} rounds, S0 = {s[0]}, S = {s[1]}"
                         + (f", power iterations {p[0]} vs {p[1]}" if p else "")
                         for b, (rounds, s, p) in plan.items())
        print_step_table(results, size, "Interleaved rounds: ms are medians; × bare is the median (min–max) over "
                         f"rounds of the ratio to the same round's bare step; {text}.", default)

    if "batching" in args.only:
        plan = [(128, 3, 2), (64, 6, 2)] if quick else [(256, 3, 3), (128, 6, 5), (64, 12, 5)]
        print("## 2. 8 images in one batched search vs 8 single-image searches (same steps per image)\n")
        print("| size | steps | one batch of 8 | 8 × batch 1 | speed-up of batching |")
        print("|---|---|---|---|---|")
        for size, steps, rounds in plan:
            one, eight = batching(size, steps, rounds, device)
            print(f"| {size}² | {steps} | {one:.2f} s | {eight:.2f} s | **{eight / one:.2f}×** |")
        print(f"\nCorrected mode, power_iterations = 0, no early stop; medians of {plan[-1][2]} interleaved rounds "
              "(3 at 256²).\n")

    if "kappa" in args.only:
        size, images = 64, 4
        train_steps = args.train_steps or (60 if quick else 200)
        budgets = (10, 20) if quick else (10, 20, 40, 80)
        torch.set_num_threads(os.cpu_count() or 1)  # training is set-up, not a measured number
        f, test, seconds, zero_filled, trained = train(size, train_steps, device)
        torch.set_num_threads(args.threads)
        faithful = {"stab_eta": 1e-2, "stab_lambda": 1e-3, "stab_gamma": 0.9, "stab_tau": 1e-3}
        variants = {"corrected from noise (0 power it.)": 0, "corrected from v1 (3 power it.)": 3,
                    "corrected from v1 (10 power it., default)": 10}
        print(f"## 3. κ after N steps: corrected search vs the paper's heavy-ball ascent ({size}², {images} images)\n")
        print(f"Residual U-Net trained {train_steps} Adam steps (batch 8, lr 1e-3, {os.cpu_count()} threads, "
              f"{seconds:.0f} s) on random ellipses; held-out median PSNR: zero-filled {zero_filled:.1f} dB, "
              f"network {trained:.1f} dB.\n")
        rows = kappa_race(f, test, budgets, faithful, variants)
        print_kappa_table(rows, faithful)

    if "zoo" in args.only:
        budgets = (10, 20) if quick else (10, 20, 40)
        faithful = {"stab_eta": 1e-2, "stab_lambda": 1e-3, "stab_gamma": 0.9, "stab_tau": 1e-3}
        variants = {"corrected from noise (0 power it.)": 0, "corrected from v1 (10 power it., default)": 10}
        for name, (f, images) in zoo_networks(device).items():
            print(f"## 4. κ after N steps on the example networks: {name} (64², {images.shape[0]} held-out slices)\n")
            print_kappa_table(kappa_race(f, images, budgets, faithful, variants), faithful)


if __name__ == "__main__":
    main()
