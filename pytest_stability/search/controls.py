"""Controls that put a worst case in context: random noise of the same size, and the paper's persistence test.

* :func:`noise_control`: the instability ratio of Gaussian perturbations with the worst case's norm, in the
  same domain (image r, or measurement e projected onto the measurement space). A network whose worst case
  is far above its noise ratio is unstable in specific, adversarial directions, as the paper reports.
* :func:`persistence_curve`: the paper's Fig. 2 ("instabilities are stable") as a rate with confidence: add
  v = A* e with e Gaussian, rescaled to ‖v‖ = ¼, ½ and 1 × ‖r‖, to x + r and count how often the artefact
  survives, i.e. ‖f(A(x + r + v)) − f(Ax)‖ stays above half of ‖f(A(x + r)) − f(Ax)‖, with enough draws for
  a 95 % interval of width ≤ 0.1 at each level. In the measurement domain e' is Gaussian in the measurement
  space with ‖e'‖ = level × ‖e‖. A rate near 1 says the artefact is not a knife-edge event: a ball of
  perturbations around r produces it, and a random perturbation near r is likely to be bad (the paper's
  conclusion 4).

Both run batched and without gradients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..metrics import l2_norm
from ..operators import for_images
from ..rates import DRAWS_FOR_WIDTH, unsettled, wilson
from ..tensors import normalize, per_sample, randn
from .map import PerturbationMap
from .result import SearchResult

PERSISTENCE_LEVELS = (0.25, 0.5, 1.0)
"""Noise levels of the persistence curve, as multiples of the worst case's norm (the paper's Fig. 2 used ¼)."""


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


@dataclass
class PersistenceCurve:
    """How often the worst-case artefact survives added noise, per eps (K) and noise level (L).

    ``levels`` are ‖v‖/‖r‖ (‖e'‖/‖e‖ in the measurement domain); ``kept`` and ``draws`` (K, L) count the draws in
    which the artefact survived and all draws; ``images`` (K,) the image each eps was measured on (its worst).
    """

    levels: tuple[float, ...]
    kept: torch.Tensor
    draws: torch.Tensor
    images: torch.Tensor

    def entries(self, k: int) -> list[dict[str, Any]]:
        """The curve of eps ``k`` as the record holds it: [{noise, rate, ci: [lo, hi], draws}] by noise level."""
        lo, hi = wilson(self.kept[k], self.draws[k])
        return [{"noise": level, "rate": float(self.kept[k, i] / self.draws[k, i]),
                 "ci": [float(lo[i]), float(hi[i])], "draws": int(self.draws[k, i])}
                for i, level in enumerate(self.levels)]


def persistence_curve(pm: PerturbationMap, result: SearchResult, images: torch.Tensor, *,
                      levels: Sequence[float] = PERSISTENCE_LEVELS, width: float = 0.1, round_draws: int = 36,
                      max_draws: int = DRAWS_FOR_WIDTH, seed: int = 1) -> PersistenceCurve:
    """The persistence of the worst case of image ``images[k]`` at eps k under noise of each level × its norm.

    Draws come in rounds of ``round_draws`` per (eps, level), one batched no-grad forward per level and round,
    until the 95 % Wilson interval of every rate is at most ``width`` wide or ``max_draws`` were drawn (the
    default, :data:`~pytest_stability.rates.DRAWS_FOR_WIDTH`, guarantees the width at any rate; a rate near 0
    or 1 is settled by the first round). A draw keeps the artefact when
    ‖f(A(x + r + v)) − f(Ax)‖ > ½ ‖f(A(x + r)) − f(Ax)‖.
    """
    if not levels or any(not level > 0 for level in levels):
        raise ValueError(f"persistence levels must be positive multiples of ‖r‖, got {tuple(levels)!r}.")
    if not 0 < width < 1:
        raise ValueError(f"the persistence interval width must lie in (0, 1), got {width!r}.")
    k = result.ratio.shape[0]
    ks = torch.arange(k)
    z = result.perturbations[ks, images].to(pm.reference.device)  # (K, ...): each eps's worst image
    norms = l2_norm(z)
    threshold = 0.5 * result.output_change[ks, images].to(pm.reference.device)
    kept = torch.zeros(k, len(levels), dtype=torch.long)
    draws = torch.zeros(k, len(levels), dtype=torch.long)
    gen_seed = seed
    while True:
        open_ = unsettled(kept, draws, width, max_draws)
        if not bool(open_.any()):
            break
        for i, level in enumerate(levels):
            rows = torch.nonzero(open_[:, i]).flatten()
            if rows.numel() == 0:
                continue
            n = min(round_draws, max_draws - int(draws[rows, i].max()))
            reps = z[rows].repeat(n, *[1] * (z.dim() - 1))
            index = images[rows].repeat(n)
            v = _draws(pm, z[rows], n, gen_seed, index, through_adjoint=True)
            gen_seed += 1
            v = v * per_sample(level * norms[rows].repeat(n), v)
            with torch.no_grad():
                change = pm.change(pm.evaluate(reps + v, index), index).view(n, rows.numel())
            kept[rows, i] += (change > threshold[rows].view(1, -1)).sum(dim=0).cpu()
            draws[rows, i] += n
    return PersistenceCurve(tuple(float(level) for level in levels), kept, draws, images.cpu())
