"""Rates with confidence: how often an event happens among n independent draws, with its 95 % interval.

The persistence of a worst-case artefact under added noise and the failure rate of fuzzed inputs are binomial
proportions: k successes in n draws. A point estimate k/n alone says nothing about how much it can be trusted
(8 draws give 100 % as readily as 400 do), so every rate comes with the Wilson score interval (Wilson 1927),
whose coverage stays close to its nominal level down to small n and at rates near 0 or 1, where the textbook
Wald interval collapses to a single point. Its width at 95 % is largest at k/n = 1/2, where it is about
1.96/√n: 381 draws guarantee a width ≤ 0.1 whatever the rate (:data:`DRAWS_FOR_WIDTH`), and far fewer suffice
near 0 or 1 (35 draws with no failure already give [0, 0.099]).
"""

from __future__ import annotations

import torch

__all__ = ["DRAWS_FOR_WIDTH", "Z95", "rate_numbers", "unsettled", "wilson", "wilson_width"]

Z95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""

DRAWS_FOR_WIDTH = 381
"""Draws after which the 95 % Wilson interval is at most 0.1 wide for any rate (its width at k/n = ½ is
z/√(n + z²) ≤ 0.1 for n ≥ 381)."""


def wilson(successes: torch.Tensor | int, draws: torch.Tensor | int,
           z: float = Z95) -> tuple[torch.Tensor, torch.Tensor]:
    """The Wilson score interval (lo, hi) of the proportion successes/draws, elementwise (float64).

    ``draws`` must be ≥ 1 and ``successes`` in [0, draws]; both broadcast (tensors or ints).
    """
    k = torch.as_tensor(successes, dtype=torch.float64)
    n = torch.as_tensor(draws, dtype=torch.float64)
    if bool((n < 1).any()) or bool((k < 0).any()) or bool((k > n).any()):
        raise ValueError(f"a rate needs draws >= 1 and 0 <= successes <= draws, got {successes!r} of {draws!r}.")
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * torch.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (centre - half).clamp(0.0, 1.0), (centre + half).clamp(0.0, 1.0)


def wilson_width(successes: torch.Tensor | int, draws: torch.Tensor | int, z: float = Z95) -> torch.Tensor:
    """hi − lo of :func:`wilson`."""
    lo, hi = wilson(successes, draws, z)
    return hi - lo


def unsettled(successes: torch.Tensor, draws: torch.Tensor, width: float = 0.1,
              max_draws: int = DRAWS_FOR_WIDTH) -> torch.Tensor:
    """Which rates need more draws: none drawn yet, or a Wilson interval wider than ``width`` with fewer than
    ``max_draws`` drawn. Drawing in rounds until none is unsettled is a sequential rule (it looks at the data);
    simulated with rounds of 36 (20000 runs per rate), its 95 % intervals covered the true rate in 93.6–98.3 % of
    runs for rates from 0.02 to 0.98 (tests/test_rates.py checks the worst case, 0.9)."""
    return (draws < max_draws) & ((draws == 0) | (wilson_width(successes, draws.clamp_min(1)) > width))


def rate_numbers(successes: int, draws: int) -> tuple[float | None, list[float] | None]:
    """(k/n, [lo, hi]) for a record, or (None, None) when nothing was drawn."""
    if draws < 1:
        return None, None
    lo, hi = wilson(successes, draws)
    return successes / draws, [float(lo), float(hi)]

