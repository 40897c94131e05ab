"""A long search's progress on the ``pytest_stability`` logger, so that a search of minutes shows signs of life.

At INFO, every ``every`` seconds: the step, the best κ so far per eps, the model evaluations and the time spent;
one line when the search starts and one when it ends. ``pytest --log-cli-level=INFO`` shows the lines live (under
xdist, in each item's captured log). Nothing is computed for a line unless INFO is enabled for the logger.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

LOG = logging.getLogger("pytest_stability")


class Progress:
    """Progress lines of one search of model ``name`` over ``steps`` steps at budgets ``eps``."""

    def __init__(self, name: str, mode: str, eps: Sequence[float], steps: int, images: int, every: float):
        self.name, self.eps, self.steps, self.every = name, tuple(eps), steps, every
        self.started = self.last = time.monotonic()
        self.enabled = LOG.isEnabledFor(logging.INFO)
        if self.enabled:
            LOG.info("worst-case search of %r (%s): %d image(s), eps %s, up to %d steps", name, mode, images,
                     ", ".join(f"{e:g}" for e in self.eps), steps)

    def step(self, step: int, best: Callable[[], Sequence[float]], evaluations: dict[str, int]) -> None:
        """After step ``step`` (0-based): a line when ``every`` seconds have passed; ``best()`` gives the best κ
        so far per eps (called only then)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        LOG.info("worst-case search of %r: step %d/%d, best κ %s, %d forward and %d backward passes, %.1f s",
                 self.name, step + 1, self.steps, self._kappas(best()), evaluations.get("forward", 0),
                 evaluations.get("backward", 0), now - self.started)

    def done(self, steps: int, best: Sequence[float], evaluations: dict[str, int]) -> None:
        if self.enabled:
            LOG.info("worst-case search of %r done after %d steps in %.1f s: best κ %s, %d forward and %d backward "
                     "passes", self.name, steps, time.monotonic() - self.started, self._kappas(best),
                     evaluations.get("forward", 0), evaluations.get("backward", 0))

    def _kappas(self, best: Sequence[float]) -> str:
        if len(best) != len(self.eps):
            return ", ".join(f"{k:.3g}" for k in best)
        return ", ".join(f"{k:.3g} (eps {e:g})" for k, e in zip(best, self.eps, strict=True))


__all__ = ["LOG", "Progress"]
