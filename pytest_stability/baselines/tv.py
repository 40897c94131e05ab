"""Total-variation reconstruction solved by Chambolle–Pock: the default stable reference g.

Problem (per image, see :mod:`.reconstruction` for λ and η):

    min_x ½‖A x − y‖² + λ TV(x)          or          min_x TV(x)  s.t.  ‖A x − y‖ ≤ η,
    TV(x) = Σ_ij sqrt(|∇_h x_ij|² + |∇_v x_ij|²),

isotropic, with |·| the complex modulus for complex images (forward differences, Neumann boundary). We
penalise the real and imaginary parts *jointly* because an edge of an MRI image is one edge whatever its
phase: the joint (vectorial) TV is invariant to a global phase of the data, so is the reconstruction.
deepinv's TVPrior instead sums the TVs of the real and imaginary channels (PERFORMANCE.md §2 found it
settles about 1 dB higher on its test image); sigpy's TV recon is anisotropic (Σ|∇_h x| + |∇_v x|).
``anisotropic=True`` solves that one instead, TV(x) = Σ_ij |∇_h x_ij| + |∇_v x_ij| (still with Neumann
boundaries, where sigpy's are periodic): it favours edges along the grid axes, which suits axis-aligned
phantoms (docs/performance.md compares both with sigpy) but is not rotation invariant.

Solver: Chambolle–Pock with K = [A; ∇], f₁ = ½‖· − y‖² (or the indicator of the ball ‖· − y‖ ≤ η),
f₂ = λ‖·‖_{2,1}, g = 0 (or the indicator of x ≥ 0). The dual steps are set per block,
σ_data = w/(τ‖A‖²) and σ_∇ = (1 − w)/(τ‖∇‖²) with w = 1/2, ‖∇‖² ≤ 8 and ‖A‖ from ``operator.norm()``,
so that τ(σ_data‖A‖² + σ_∇·8) = 0.99 < 1; the primal step τ follows the scales of the problem per image
(:meth:`~.reconstruction.SparseReconstruction.primal_dual_step`). w = 0.2 or 0.8 cost up to 2× more
iterations on one of the calibration problems and saved at most 27 % on another.

Calibration of ``lam_rel`` (PSNR in dB of the converged reconstruction of 256² Shepp–Logan, tol 1e-5):

    lam_rel                   1e-4   3e-4   1e-3   3e-3   1e-2
    MRI 33 % VD, noiseless    77.1   71.0   61.7   52.9   44.0
    MRI 33 % VD, 1 % noise    51.8   52.6   54.3   51.9   43.9
    MRI 33 % VD, 3 % noise    42.2   42.5   43.4   45.3   43.1
    CT 50 views, noiseless    54.2   46.2   38.5   33.1   27.7
    CT 50 views, 1 % noise    34.5   36.4   36.6   32.8   27.6
    CT 50 views, 3 % noise    24.9   26.2   28.9   30.7   27.4

(noise: ‖e‖ = p·‖y‖ on the sampled entries). We chose ``lam_rel = 1e-3``: best or within 0.1 dB of it at
1 % noise in both modalities, within 2 dB at 3 %, and still 61.7 dB (MRI) / 38.5 dB (CT, FBP 22.1 dB)
on noiseless data, where smaller λ gains PSNR but converges more slowly. For noisier data pass ``lam_rel``
(≈ 3e-3 at 3 % noise) or the constrained form with η = the noise norm.
"""

from __future__ import annotations

import torch

from ..operators.base import LinearOperator
from .algorithms import Callback, SolverInfo
from .prox import GRADIENT_NORM_SQUARED_BOUND, clip_magnitude, gradient, gradient_adjoint, project_l2inf_ball
from .reconstruction import Problem, SolverState, SparseReconstruction

__all__ = ["TVReconstruction"]


class TVReconstruction(SparseReconstruction):
    """y ↦ argmin_x ½‖A x − y‖² + λ TV(x) (or min TV s.t. ‖A x − y‖ ≤ η), batched, as an ``nn.Module``.

    Parameters (all keyword except ``operator`` and ``lam``):

    * ``operator``: a :class:`~pytest_stability.operators.LinearOperator` (MRI, CT, your own).
    * ``lam``: λ, a number or one per image (B,); default ``lam_rel · max|A* y|`` per image with
      ``lam_rel = 1e-3`` (calibrated on Shepp–Logan MRI and CT: see the module docstring).
    * ``eta`` / ``eta_rel``: solve the constrained form with η absolute or ``eta_rel · ‖y‖``.
    * ``real``: x real (default: the operator's domain, real for CT); ``nonneg``: x ≥ 0.
    * ``max_iter`` (default 1000), ``tol`` (default 1e-4): per-image stop on the relative change.
    * ``differentiable``: keep the autograd graph through ``max_iter`` iterations (see :mod:`.reconstruction`).
    * ``anisotropic``: TV(x) = Σ |∇_h x| + |∇_v x| instead of the isotropic Σ sqrt(|∇_h x|² + |∇_v x|²).

    ``forward(y, x0=None)`` returns x̂ (B, C, H, W); ``iterations``, ``relative_change``, ``lam`` and
    ``state`` describe the last call.
    """

    default_lam_rel = 1e-3
    default_max_iter = 1000
    default_tol = 1e-4

    def __init__(self, operator: LinearOperator, lam: float | torch.Tensor | None = None, *,
                 anisotropic: bool = False, **settings):
        super().__init__(operator, lam, **settings)
        self.anisotropic = bool(anisotropic)
        self.settings["anisotropic"] = self.anisotropic

    def _zero_duals(self, problem: Problem, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.zeros_like(problem.y), torch.zeros_like(gradient(x)))

    def _solve(self, problem: Problem, state: SolverState, max_iter: int, tol: float | None,
               callback: Callback | None, checkpoint_every: int | None) -> tuple[SolverState, SolverInfo]:
        weight = problem.weight.reshape(-1, 1, 1, 1)
        if self.anisotropic:  # the dual ball of Σ|q_h| + |q_v|: each component within the weight
            weight = weight.unsqueeze(-1)
            project = lambda v, s: clip_magnitude(v, weight)  # noqa: E731
        else:  # the dual ball of Σ sqrt(|q_h|² + |q_v|²): each pixel's vector within the weight
            project = lambda v, s: project_l2inf_ball(v, weight)  # noqa: E731
        return self._primal_dual_solve(problem, state, (gradient, gradient_adjoint), GRADIENT_NORM_SQUARED_BOUND,
                                       project, max_iter, tol, callback, checkpoint_every)
