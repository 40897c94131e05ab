"""Radon forward + adjoint, 256², 50 and 180 views: ParallelBeamRadon vs scikit-image vs deepinv.

Run ``python benchmarks/bench_radon.py`` (``--quick`` for fewer repetitions, ``--threads N`` to change the
headline's one torch thread). Every method runs in this process, repetitions interleaved (one forward
and one adjoint of each method per round), and the table reports medians:

* ours: :class:`pytest_stability.operators.radon.ParallelBeamRadon` (float32, Joseph's projector as a
  CSR matrix of the canonical angles, applied to four symmetric copies of the image);
* scikit-image: ``radon(circle=True)`` and, as the adjoint, the unfiltered back-projection
  ``iradon(filter_name=None)`` rescaled by 2 n_angles / π (it is an approximate adjoint only);
* deepinv: ``Tomography(circle=True, normalize=False)`` with its default exact adjoint (autograd through
  the forward), and with ``adjoint_via_backprop=False`` (its analytic, approximate back-projection).

Also reported: each method's dot-product adjoint error |⟨Ax, y⟩ − ⟨x, A*y⟩| / |⟨Ax, y⟩| (random x inside the
reconstruction circle, random y), the relative l2 difference of its Shepp–Logan sinogram from
scikit-image's, and the build time, size and numpy build peak of our matrices.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
import warnings
from collections.abc import Callable

import numpy as np
import torch

from pytest_stability.operators.radon import ParallelBeamRadon, clear_projector_cache
from pytest_stability.phantoms import shepp_logan

SIZE = 256


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _methods(n_views: int) -> tuple[dict[str, tuple[Callable, Callable, Callable, Callable]], dict[str, float]]:
    """name -> (forward, adjoint, to_array(sinogram) as (n_angles, n_det), from_array) and our build facts."""
    angles = torch.arange(n_views, dtype=torch.float64) * (180.0 / n_views)
    clear_projector_cache()
    tracemalloc.start()
    start = time.perf_counter()
    ours = ParallelBeamRadon(SIZE, angles)
    nbytes = ours.matrix_nbytes(torch.float32)
    build = {"build_s": time.perf_counter() - start, "peak_mb": tracemalloc.get_traced_memory()[1] / 2**20,
             "matrix_mb": nbytes / 2**20, "canonical": len(ours._canonical_angles)}
    tracemalloc.stop()
    methods = {"ours (ParallelBeamRadon)": (ours.forward, ours.adjoint, lambda y: y[0, 0].double().numpy(),
                                            lambda a: torch.from_numpy(a).float()[None, None])}

    from skimage.transform import iradon, radon
    theta = angles.numpy()
    methods["scikit-image radon / iradon(filter_name=None)"] = (
        lambda x: radon(x, theta, circle=True),
        lambda y: iradon(y, theta, filter_name=None, circle=True) * (2 * n_views / np.pi),
        lambda y: np.asarray(y, dtype=np.float64).T,
        lambda a: np.ascontiguousarray(a.T, dtype=np.float32))
    try:
        from deepinv.physics import Tomography
    except ImportError:
        return methods, build
    for exact in (True, False):
        physics = Tomography(angles.float(), SIZE, circle=True, normalize=False, adjoint_via_backprop=exact,
                             device="cpu")
        name = "deepinv Tomography" + ("" if exact else " (adjoint_via_backprop=False)")
        methods[name] = (physics.A, physics.A_adjoint, lambda y: y[0, 0].double().numpy().T,
                         lambda a: torch.from_numpy(np.ascontiguousarray(a.T)).float()[None, None])
    return methods, build


def _as_input(name: str, image: np.ndarray):
    return image.astype(np.float32) if name.startswith("scikit") else torch.from_numpy(image).float()[None, None]


def _dot_test(name: str, forward: Callable, adjoint: Callable, to_array: Callable, from_array: Callable,
              n_views: int) -> float:
    rng = np.random.default_rng(0)
    v, u = np.ogrid[:SIZE, :SIZE]
    inside = (u - SIZE // 2) ** 2 + (v - SIZE // 2) ** 2 <= (SIZE // 2) ** 2
    x = rng.standard_normal((SIZE, SIZE)) * inside
    y = rng.standard_normal((n_views, SIZE))
    with torch.no_grad():
        ax = to_array(forward(_as_input(name, x)))
        aty = adjoint(from_array(y))
    aty = aty if isinstance(aty, np.ndarray) else aty[0, 0].double().numpy()
    lhs, rhs = float((ax * y).sum()), float((x * aty).sum())
    return abs(lhs - rhs) / abs(lhs)


def run(n_views: int, repeats: int) -> tuple[list[tuple], dict[str, float]]:
    methods, build = _methods(n_views)
    phantom = shepp_logan(SIZE, dtype=torch.float64)[0, 0].numpy()
    reference = None
    inputs, sinograms, arrays = {}, {}, {}
    for name, (forward, _, to_array, _) in methods.items():
        x = _as_input(name, phantom)
        with torch.no_grad():
            sinograms[name] = forward(x)
        inputs[name] = x
        array = to_array(sinograms[name])
        reference = array if reference is None and name.startswith("scikit") else reference
        arrays[name] = array
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in methods}
    with torch.no_grad():
        for name, (_, adjoint, _, _) in methods.items():   # warm-up (deepinv builds its adjoint lazily)
            adjoint(sinograms[name])
        for _ in range(repeats):
            for name, (forward, adjoint, _, _) in methods.items():
                times[name][0].append(_timed(lambda f=forward, x=inputs[name]: f(x)))
                times[name][1].append(_timed(lambda a=adjoint, y=sinograms[name]: a(y)))
    rows = []
    for name, (forward, adjoint, to_array, from_array) in methods.items():
        fwd, adj = (statistics.median(t) * 1e3 for t in times[name])
        sino_diff = np.linalg.norm(arrays[name] - reference) / np.linalg.norm(reference)
        rows.append((name, fwd, adj, _dot_test(name, forward, adjoint, to_array, from_array, n_views), sino_diff))
    return rows, build


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 repetitions instead of 25")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the headline)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*normalize.*")   # deepinv's notice about its default scaling
    repeats = 5 if args.quick else 25
    print(f"# Radon transform, {SIZE}x{SIZE}, float32, torch threads = {args.threads}, batch 1, "
          f"{repeats} interleaved repetitions, medians\n")
    for n_views in (50, 180):
        rows, build = run(n_views, repeats)
        sk = next(r for r in rows if r[0].startswith("scikit"))
        dinv = next((r for r in rows if r[0] == "deepinv Tomography"), None)
        print(f"## {n_views} views\n")
        print("| method | forward ms | adjoint ms | fwd+adj ms | speed-up vs scikit-image | vs deepinv | "
              "adjoint error (dot test) | sinogram diff vs scikit-image |")
        print("|---|---|---|---|---|---|---|---|")
        for name, fwd, adj, dot, diff in rows:
            total = fwd + adj
            vs_dinv = f"{(dinv[1] + dinv[2]) / total:.1f}x" if dinv else "n/a"
            print(f"| {name} | {fwd:.1f} | {adj:.1f} | {total:.1f} | {(sk[1] + sk[2]) / total:.1f}x | {vs_dinv} | "
                  f"{dot:.1e} | {diff:.2%} |")
        print(f"\nours: build {build['build_s']:.2f} s (numpy/scipy peak {build['peak_mb']:.0f} MiB), "
              f"{build['canonical']} canonical angles, matrix + transpose {build['matrix_mb']:.0f} MiB in float32\n")


if __name__ == "__main__":
    main()
