"""Controls that put a worst case in context: random noise of the same size, and the paper's persistence test.

* :func:`noise_control`: the instability ratio of Gaussian perturbations with the worst case's norm, in the
  same domain (image r, or measurement e projected onto the measurement space). A network whose worst case
  is far above its noise ratio is unstable in specific, adversarial directions, as the paper reports.
* :func:`persistence`: the paper's Fig. 2 ("instabilities are stable"): add v = A* e with e Gaussian,
  rescaled to ‖v‖ = ‖r‖/4, to x + r and count how often the artefact survives, i.e.
  ‖f(A(x + r + v)) − f(Ax)‖ stays above half of ‖f(A(x + r)) − f(Ax)‖. In the measurement domain e' is
  Gaussian in the measurement space with ‖e'‖ = ‖e‖/4. A fraction near 1 says the artefact is not a
  knife-edge event: a ball of perturbations around r produces it.

Both evaluate every (eps, image, draw) in one no-grad batch.
"""

from __future__ import annotations

import torch

from ..metrics import l2_norm
from ..operators import for_images
from ..tensors import normalize, per_sample, randn
from .map import PerturbationMap
from .result import SearchResult


def _draws(pm: PerturbationMap, base: torch.Tensor, draws: int, seed: int, index: torch.Tensor, *,
           through_adjoint: bool) -> torch.Tensor:
    """Unit-norm Gaussian directions, ``draws`` per row of ``base`` (n, ...) → (draws·n, ...); row i belongs to
    image ``index[i]`` (draws·n,)."""
    gen = torch.Generator().manual_seed(seed)
    shape = (draws * base.shape[0], *base.shape[1:])
    if through_adjoint and pm.domain == "image":
        meas = pm.project(randn((shape[0], *pm.y.shape[1:]), pm.y, gen))
        v = for_images(pm.A, index).adjoint(meas)
        v = v if base.is_complex() else v.real.to(base.dtype)
    else:
        v = pm.project(randn(shape, base, gen))
    return normalize(v)


def noise_control(pm: PerturbationMap, result: SearchResult, *, draws: int = 4, seed: int = 0) -> torch.Tensor:
    """Mean instability ratio (K, B) of Gaussian perturbations with the norm of each worst case."""
    k, b = result.ratio.shape
    z = result.perturbations.reshape(k * b, *result.perturbations.shape[2:]).to(pm.reference.device)
    index = torch.arange(b).repeat(k * draws)
    norms = l2_norm(z).repeat(draws)
    directions = _draws(pm, z, draws, seed, index, through_adjoint=False)
    noise = directions * per_sample(norms, directions)
    with torch.no_grad():
        change = pm.change(pm.evaluate(noise, index), index)
    return (change / norms).view(draws, k, b).mean(dim=0).cpu()


def persistence(pm: PerturbationMap, result: SearchResult, *, draws: int = 8, seed: int = 1) -> torch.Tensor:
    """Fraction of draws (K, B) for which the worst-case artefact persists under v = A* e, ‖v‖ = ‖r‖/4."""
    k, b = result.ratio.shape
    z = result.perturbations.reshape(k * b, *result.perturbations.shape[2:]).to(pm.reference.device)
    reps = z.repeat(draws, *[1] * (z.dim() - 1))
    index = torch.arange(b).repeat(k * draws)
    v = _draws(pm, z, draws, seed, index, through_adjoint=True) * per_sample(l2_norm(reps) / 4, reps)
    with torch.no_grad():
        change = pm.change(pm.evaluate(reps + v, index), index).view(draws, k, b)
    kept = change > 0.5 * result.output_change.to(change.device).view(1, k, b)
    return kept.float().mean(dim=0).cpu()
