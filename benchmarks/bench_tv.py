"""TV reconstruction: pytest-stability's Chambolle–Pock against deepinv and sigpy, side by side.

For each problem (MRI 256² Shepp–Logan from a 33 % variable-density mask; CT 256² with 50 views), with
1 % complex (MRI) or real (CT) Gaussian noise on the measurements (‖e‖ = 0.01‖y‖; noiseless TV keeps
gaining PSNR for thousands of iterations, so "converged" would mean nothing), every method solves

    min_x ½‖A x − y‖² + λ TV(x),   λ = 1e-3 · max|A* y|   (our default, given to all three),

from the same start (the operator's naive reconstruction) with the same operator (ours, wrapped for
deepinv as a LinearPhysics and for sigpy as a Linop), and we record the PSNR of every iterate. A method's
*converged* PSNR is that of its last iterate; the table reports the time until the PSNR stays within
0.1 dB of it, and the time to reach a common target (the lowest converged PSNR of all, minus 0.1 dB).
Times exclude the PSNR bookkeeping and include each method's setup (power iterations for ‖A‖).

The TVs differ, and we say how: ours is isotropic with the complex modulus (Neumann boundary); deepinv's
TVPrior is isotropic per real channel (real and imaginary parts separately); sigpy's TV recon
(``L1Reg`` on ``FiniteDifference``, as ``sigpy.mri.app.TotalVariationRecon``) is anisotropic and periodic.
Ours also runs with ``anisotropic=True``, sigpy's TV but with Neumann boundaries, for a like-for-like PSNR.
Solvers: ours Chambolle–Pock (defaults); deepinv FISTA + TVPrior with 20 inner iterations (its default
1000 costs ~9 s per outer iteration), step 1/‖A‖²; sigpy PDHG (``LinearLeastSquares`` with G = ∇).

Run ``python benchmarks/bench_tv.py`` (headline: 1 thread, 3 interleaved repetitions, medians) or with
``--quick`` (1 repetition, shorter runs).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import deepinv as dinv
import numpy as np
import sigpy as sp
import torch

from pytest_stability.baselines import TVReconstruction
from pytest_stability.masks import variable_density_mask
from pytest_stability.operators import LinearOperator, ParallelBeamRadon, SingleCoilMRI
from pytest_stability.phantoms import shepp_logan

LAM_REL = 1e-3
NOISE = 0.01


def psnr(x_hat: torch.Tensor, x: torch.Tensor) -> float:
    return float(10 * torch.log10(x.abs().max() ** 2 / ((x_hat.abs() - x.abs()) ** 2).mean()))


class Trace:
    """PSNR of every iterate against the clock, with the bookkeeping's own time taken out."""

    def __init__(self, truth: torch.Tensor):
        self.truth = truth
        self.start = time.perf_counter()
        self.overhead = 0.0
        self.times: list[float] = []
        self.psnrs: list[float] = []

    def __call__(self, image: torch.Tensor) -> None:
        entered = time.perf_counter()
        self.times.append(entered - self.start - self.overhead)
        self.psnrs.append(psnr(image.reshape(self.truth.shape), self.truth))
        self.overhead += time.perf_counter() - entered

    def time_to(self, target: float) -> tuple[float, int]:
        """(seconds, iterations) until the PSNR is >= target and stays there; (inf, -1) if never."""
        index = len(self.psnrs)
        while index > 0 and self.psnrs[index - 1] >= target:
            index -= 1
        if index == len(self.psnrs):
            return math.inf, -1
        return self.times[index], index + 1


# -- the three methods, each: run(problem, iterations, trace) -----------------------------------------
def run_ours(problem: dict, iterations: int, trace: Trace, anisotropic: bool = False) -> None:
    operator = problem["make_operator"]()  # fresh: its ‖A‖ power iteration counts as setup
    model = TVReconstruction(operator, lam=problem["lam"], max_iter=iterations, tol=0.0, anisotropic=anisotropic)
    model(problem["y"], x0=problem["x0"], callback=lambda k, x: trace(x))


def run_ours_anisotropic(problem: dict, iterations: int, trace: Trace) -> None:
    run_ours(problem, iterations, trace, anisotropic=True)


def run_deepinv(problem: dict, iterations: int, trace: Trace) -> None:
    operator: LinearOperator = problem["operator"]
    complex_images = problem["complex"]

    def forward(x: torch.Tensor) -> torch.Tensor:
        y = operator(torch.complex(x[:, :1], x[:, 1:]) if complex_images else x)
        return torch.view_as_real(y) if y.is_complex() else y

    def adjoint(y: torch.Tensor) -> torch.Tensor:
        x = operator.adjoint(torch.view_as_complex(y.contiguous()) if complex_images else y)
        return torch.cat([x.real, x.imag], dim=1) if complex_images else x

    physics = dinv.physics.LinearPhysics(A=forward, A_adjoint=adjoint)
    y = torch.view_as_real(problem["y"]) if complex_images else problem["y"]
    x0 = problem["x0"]
    x0 = torch.cat([x0.real, x0.imag], dim=1) if complex_images else x0

    def record(_history, _previous, x):
        trace(torch.complex(x[:1], x[1:]) if complex_images else x)
        return 0.0

    model = dinv.optim.FISTA(data_fidelity=dinv.optim.L2(), prior=dinv.optim.TVPrior(n_it_max=20),
                             stepsize=1.0 / operator.norm() ** 2, lambda_reg=problem["lam"], max_iter=iterations,
                             early_stop=False, custom_metrics={"trace": record})
    model(y, physics, init=(x0, x0.clone()), compute_metrics=True)  # FISTA starts from (x₀, z₀)


def run_sigpy(problem: dict, iterations: int, trace: Trace) -> None:
    operator: LinearOperator = problem["operator"]
    shape = operator.image_shape
    dtype = np.complex64  # sigpy's L1Reg prox returns complex128 for real float32 input; real data stay real
    if isinstance(operator, SingleCoilMRI):
        linop = sp.linop.Multiply(shape, operator.mask.numpy().astype(np.float32)) * sp.linop.FFT(shape, center=True)
    else:
        linop = TorchLinop(operator, dtype)
    gradient = sp.linop.FiniteDifference(shape)
    y = problem["y"][0, 0].numpy().astype(dtype)
    app = sp.app.LinearLeastSquares(linop, y, x=problem["x0"][0, 0].numpy().astype(dtype).copy(),
                                    proxg=sp.prox.L1Reg(gradient.oshape, problem["lam"]), G=gradient,
                                    max_iter=iterations, show_pbar=False)
    for _ in range(iterations):
        app.alg.update()
        trace(torch.from_numpy(app.x) if problem["complex"] else torch.from_numpy(app.x.real))


class TorchLinop(sp.linop.Linop):
    """A pytest-stability operator (or its adjoint) as a sigpy Linop on one (H, W) image, numpy in and out."""

    def __init__(self, operator: LinearOperator, dtype: type, adjoint: bool = False):
        image, data = operator.image_shape, operator.measurement_trailing
        super().__init__(image if adjoint else data, data if adjoint else image)
        self.operator, self.dtype, self.is_adjoint = operator, dtype, adjoint

    def _apply(self, value: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(value, dtype=self.dtype))[None, None]
        return (self.operator.adjoint(batch) if self.is_adjoint else self.operator(batch))[0, 0].numpy()

    def _adjoint_linop(self) -> TorchLinop:
        return TorchLinop(self.operator, self.dtype, not self.is_adjoint)


METHODS: dict[str, Callable[[dict, int, Trace], None]] = {
    "pytest-stability CP": run_ours, "deepinv FISTA+TVPrior(20)": run_deepinv, "sigpy PDHG": run_sigpy,
    "pytest-stability CP, anisotropic": run_ours_anisotropic,
}


def make_problem(name: str) -> dict:
    x = shepp_logan(256)
    if name == "MRI":
        mask = variable_density_mask((256, 256), 0.33, seed=0)
        make_operator = lambda: SingleCoilMRI(mask)  # noqa: E731
        label = f"MRI 256², variable density {mask.ratio:.1%}"
    else:
        make_operator = lambda: ParallelBeamRadon(256, 50)  # noqa: E731
        label = "CT 256², 50 views"
    operator = make_operator()
    clean = operator(x)
    gen = torch.Generator().manual_seed(1)
    noise = operator.project(torch.randn(clean.shape, generator=gen, dtype=clean.dtype))
    y = clean + NOISE * noise * torch.linalg.vector_norm(clean) / torch.linalg.vector_norm(noise)
    x0 = operator.naive(y)
    x0 = x0 if operator.domain_is_complex else x0.real
    lam = LAM_REL * float(operator.adjoint(y).abs().max())
    return {"label": label, "x": x, "y": y, "x0": x0, "lam": lam, "operator": operator,
            "make_operator": make_operator, "complex": operator.domain_is_complex}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition and shorter runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (headline numbers: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    repetitions = 1 if args.quick else 3
    iterations = {"pytest-stability CP": 1500 if args.quick else 3000,
                  "deepinv FISTA+TVPrior(20)": 150 if args.quick else 400,
                  "sigpy PDHG": 1500 if args.quick else 3000,
                  "pytest-stability CP, anisotropic": 1500 if args.quick else 3000}
    print(f"torch {torch.__version__}, {args.threads} thread(s), {repetitions} interleaved repetition(s), "
          f"noise {NOISE:.0%}, λ = {LAM_REL:g}·max|A*y|")
    for name in ("MRI", "CT"):
        problem = make_problem(name)
        runs: dict[str, list[Trace]] = {method: [] for method in METHODS}
        for _ in range(repetitions):
            for method, run in METHODS.items():
                trace = Trace(problem["x"])
                run(problem, iterations[method], trace)
                runs[method].append(trace)
        naive = psnr(problem["x0"], problem["x"])
        converged = {m: statistics.median(t.psnrs[-1] for t in traces) for m, traces in runs.items()}
        common = min(converged.values()) - 0.1
        ours_target = converged["pytest-stability CP"] - 0.1
        rows = []
        for method, traces in runs.items():
            own = [t.time_to(t.psnrs[-1] - 0.1) for t in traces]
            reach = [t.time_to(common)[0] for t in traces]
            reach_ours = [t.time_to(ours_target)[0] for t in traces]
            per_iteration = statistics.median((t.times[-1] - t.times[0]) / max(len(t.times) - 1, 1) for t in traces)
            rows.append((method, converged[method], statistics.median(o[1] for o in own),
                         statistics.median(o[0] for o in own), statistics.median(reach),
                         statistics.median(reach_ours), per_iteration, len(traces[0].times)))
        others = [r for r in rows if not r[0].startswith("pytest-stability")]
        best_other = min(r[3] for r in others)
        best_other_common = min(r[4] for r in others)
        best_other_ours = min(r[5] for r in others)
        print(f"\n### {problem['label']} (naive reconstruction {naive:.2f} dB; common target {common:.2f} dB, "
              f"ours' target {ours_target:.2f} dB)\n")
        print("| method | final PSNR | iterations to final −0.1 dB | time to final −0.1 dB | time to common target | "
              "time to ours' target | ms / iteration | iterations run |")
        print("|---|---|---|---|---|---|---|---|")
        for method, value, its, seconds, reach, reach_ours, per_it, total in rows:
            print(f"| {method} | {value:.2f} dB | {its} | {seconds:.2f} s | {reach:.2f} s | {reach_ours:.2f} s "
                  f"| {1e3 * per_it:.1f} | {total} |")
        for ours in (r for r in rows if r[0].startswith("pytest-stability")):
            print(f"\nSpeed-up of {ours[0]} over the faster other method: {best_other / ours[3]:.1f}× to each one's "
                  f"final −0.1 dB, {best_other_common / ours[4]:.1f}× to the common target, "
                  f"{best_other_ours / ours[5]:.1f}× to ours' target (inf: the other never got there).")
        sigpy, anisotropic = converged["sigpy PDHG"], converged["pytest-stability CP, anisotropic"]
        print(f"Same TV as sigpy's (anisotropic; boundaries differ): ours settles at {anisotropic:.2f} dB, sigpy at "
              f"{sigpy:.2f} dB.")


if __name__ == "__main__":
    main()
