"""The stable compressed-sensing reference g that every check compares a network with.

The paper runs each test on a CS method too, so that an instability is shown to be the network's and not
the inverse problem's. ``baseline`` in every check is one of:

* ``"tv"``: isotropic TV (Chambolle–Pock), :class:`~pytest_stability.baselines.TVReconstruction`;
* ``"wavelet"``: Daubechies wavelet-l1 (FISTA), :class:`~pytest_stability.baselines.WaveletReconstruction`;
* ``None``: no reference (verdicts then rest on absolute limits alone);
* a model or callable y ↦ x̂ taking the operator's measurements, or a ready :class:`Reconstructor`.
"""

from __future__ import annotations

from typing import Any

from ..models import Reconstructor
from ..names import BASELINES
from ..operators import LinearOperator

# The attacked baseline runs a fixed number of iterations from its usual start, differentiated exactly through
# them: close to the converged reconstruction (measured: within ~1 dB at 64-128² MRI) at a tenth of the cost of
# unrolling the full solve, which a search would pay at every step.
ATTACK_ITERATIONS = 100


def reference(baseline: Any, operator: LinearOperator, *, differentiable: bool = False) -> Reconstructor | None:
    """The reference reconstructor for ``operator``; ``differentiable`` unrolls the solver's last iterations
    so a search can attack the reference itself (built-in baselines only)."""
    if baseline is None:
        return None
    if isinstance(baseline, Reconstructor):
        return baseline
    if isinstance(baseline, str):
        from ..baselines import TVReconstruction, WaveletReconstruction

        solvers = {"tv": (TVReconstruction, "TV"), "wavelet": (WaveletReconstruction, "wavelet-l1")}
        if baseline not in solvers:
            raise ValueError(f"baseline={baseline!r} is not one of {BASELINES}, None, or a model y -> x.")
        cls, label = solvers[baseline]
        solver = cls(operator, differentiable=True, max_iter=ATTACK_ITERATIONS) if differentiable else cls(operator)
        return Reconstructor(solver, operator, inputs="y", name=f"{label} (CS baseline)")
    if callable(baseline):
        return Reconstructor(baseline, operator, inputs="y", name=getattr(baseline, "__name__", None))
    raise TypeError(f"baseline must be 'tv', 'wavelet', None, a Reconstructor or a callable y -> x, got "
                    f"{type(baseline).__name__}.")


def is_differentiable_baseline(baseline: Any) -> bool:
    """Whether :func:`reference` can build an attackable (unrolled) version of ``baseline``."""
    return isinstance(baseline, str) and baseline in BASELINES
