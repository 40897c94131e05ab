"""Worst-case perturbation search: the paper's algorithm, a budgeted corrected variant, and a gradient-free one.

For a reconstruction f, an operator A and images x, the search looks for a perturbation that changes the
reconstruction as much as possible while staying small:

* image domain: r with f(A(x + r)) − f(Ax) large, ‖r‖ small (r real when x is real);
* measurement domain: e in the measurement space with f(y + e) − f(y) large, ‖e‖ small (y = Ax).

The number every verdict judges is the instability ratio κ = ‖f(A(x + r)) − f(Ax)‖ / ‖r‖ (or per ‖e‖).

Modes
-----
``corrected`` (default)
    Projected ascent on ½‖f(A(x + r)) − f(Ax)‖² over the ball ‖r‖ ≤ eps·‖x‖ (eps relative, so that it means
    one thing for every image and intensity scale; in the measurement domain ‖e‖ ≤ eps·‖y‖), with the true
    autograd gradient through every input of the model. It starts from the top right-singular vector v1 of
    the Jacobian J of r ↦ f(A(x + r)) at r = 0, found by power iteration on JᵀJ (forward-mode jvp and
    reverse-mode vjp on one retained graph); its singular value σ1 is the local instability constant and is
    reported too. Steps are normalised heavy-ball steps of adaptive length (halved and restarted from the
    best point when the objective drops), several eps values run in one batch and a larger eps adopts the
    scaled direction of the next smaller one when that predicts more damage (warm start). Each element
    stops early once its ratio passes ``stop_ratio`` (its verdict is decided) or it stops improving.
``faithful``
    The paper's heavy-ball ascent v ← μv + η∇Q(r), r ← r + v on Q(r) = ½‖f(A(x+r)) − f(Ax)‖² − (λ/2)‖r‖²,
    from r0 = τ·U[0, 1), no projection, snapshots after each block of ``schedule`` iterations with the
    momentum carried over: the growing perturbations r1 < r2 < r3 of the paper's Fig. 1. Parameters use the
    authors' names (``stab_eta`` η, ``stab_lambda`` λ, ``stab_gamma`` μ, ``stab_tau`` τ). Unlike the authors'
    code it uses the true gradient of Q (theirs skipped inputs for several networks).
``gradient-free``
    SPSA (simultaneous perturbation) gradient estimates inside the same projected ascent, for models without
    autograd (numpy, ONNX runtime, a callable that detaches). Chosen automatically for such models, with a
    :class:`StabilityWarning`: the ratio it finds is a weaker lower bound.

The model is used read-only (:func:`pytest_stability.models.frozen`): gradients are taken with respect to
the perturbation only, never accumulated into the weights, so a step costs one forward and one backward
pass of the model for the whole batch (images × eps values × restarts).
"""

from .ascent import PerturbationSearch, load_forward_ad
from .map import PerturbationMap
from .result import SearchResult

__all__ = ["PerturbationMap", "PerturbationSearch", "SearchResult", "load_forward_ad"]
