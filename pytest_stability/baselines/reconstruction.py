"""The shared shape of a compressed-sensing reconstruction model y ↦ x̂ (the ``app`` layer's base).

A subclass names a regulariser R and solves, per image b of a batch (B, C, ...) of measurements,

    Lagrangian form (default):   min_x ½‖A x − y_b‖² + λ_b R(x)
    constrained form (η given):  min_x R(x)  subject to  ‖A x − y_b‖ ≤ η_b

with norms over the whole image/measurement. Defaults depend on the data, not on its intensity scale:
λ_b = ``lam_rel`` · max|A* y_b| (the paper's baselines normalised the data by the same max|A* y| before
solving), so scaling y by s scales x̂ by s; since A* y ≈ A* A x grows like ‖A‖², the same ``lam_rel`` also
serves operators of any norm. η_b is given absolutely (``eta``) or relative to the data (``eta_rel`` ·
‖y_b‖). ``real=True`` constrains x to real images (the default for operators whose domain is real, CT);
``nonneg=True`` to non-negative ones.

The model is an ``nn.Module`` whose ``forward(y)`` returns images (B, C, H, W), so every stability check
runs on it as on a network. By default (``differentiable=False``) it solves under ``torch.no_grad`` and
keeps no graph, stopping each image when ‖x_k − x_{k−1}‖/‖x_k‖ < ``tol`` (at most ``max_iter``
iterations). With ``differentiable=True`` (and grad mode on; under ``torch.no_grad`` it behaves as
``differentiable=False``) it runs exactly ``max_iter`` iterations with autograd on — no
data-dependent stop, the steps and the default λ included in the graph — so the gradient is exact for
the map y ↦ x̂ it computes and a perturbation search can attack the baseline itself. The graph is
checkpointed every ``checkpoint_every`` iterations (memory for max_iter/25 + 25 iterates, one extra
forward pass in the backward). Choose ``max_iter`` so the solve converges (about 300 for 256² MRI);
warm-starting from the ``state`` of a previous call (e.g. the unperturbed y) converges in fewer.
(Unrolling only a few iterations from a converged, detached start gives a poor gradient of the solution
map here: Chambolle–Pock's linearisation oscillates, and 100 steps got even the sign wrong.)

After each call, ``iterations`` (B,), ``relative_change`` (B,), ``converged`` (B,), ``lam`` / ``eta``
(B,) (the one in use; the other is None) and ``state`` (a :class:`SolverState` to pass back as ``x0``,
warm-starting the next solve, duals included) describe the solve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..metrics import l2_norm
from ..operators.base import LinearOperator, real_dtype
from .algorithms import Block, Callback, DualProx, LinearMap, SolverInfo, chambolle_pock, primal_dual_steps
from .prox import real_view, shrink_l2, squared_magnitude

__all__ = ["SolverState", "SparseReconstruction"]


@dataclass
class SolverState:
    """Where a solve ended: the images x (B, C, H, W), and for a primal-dual solver its duals and primal steps (B,).

    Resuming from a state with the same steps continues the same iteration, so a converged state stops
    at once; the steps are set from the start of the first solve (see ``primal_dual_step``).
    """

    x: torch.Tensor
    duals: tuple[torch.Tensor, ...] = ()
    steps: torch.Tensor | None = None

    def detach(self) -> SolverState:
        steps = None if self.steps is None else self.steps.detach()
        return SolverState(self.x.detach(), tuple(d.detach() for d in self.duals), steps)


@dataclass
class Problem:
    """One batch's data for a solver: measurements, per-image weights, the operator's norm, the image domain.

    ``weight`` (B,) is λ_b in Lagrangian form, or the (solution-invariant) scale given to R in constrained
    form so that the dual variables have the same size in both forms; ``eta`` (B,) is None in Lagrangian form.
    """

    y: torch.Tensor
    weight: torch.Tensor
    eta: torch.Tensor | None
    norm_squared: float
    real: bool
    nonneg: bool

    def adjoint(self, operator: LinearOperator) -> LinearMap:
        """A* restricted to the image domain: Re(A* p) for real images (the adjoint of A on R^N)."""
        if self.real:
            return lambda p: _real_part(operator.adjoint(p))
        return operator.adjoint

    def data_dual_prox(self) -> DualProx:
        """prox of σ f* for the data term f of the measurements (Chambolle–Pock's dual step on the A block).

        Lagrangian, f = ½‖· − y‖²: (v − σ y) / (1 + σ). Constrained, f = indicator of ‖· − y‖ ≤ η: by
        Moreau, v − σ P_ball(v/σ) = shrink_l2(v − σ y, σ η). ``v`` is a fresh tensor, updated in place.
        """
        y, eta = self.y, self.eta
        if eta is None:
            return lambda v, s: torch.addcmul(v, s, y, value=-1).mul_(1.0 / (1.0 + s))
        return lambda v, s: shrink_l2(torch.addcmul(v, s, y, value=-1), s.reshape(-1) * eta)

    def primal_prox(self) -> LinearMap | None:
        """Projection onto x ≥ 0 when ``nonneg`` (realness is kept by taking Re of A*), else None."""
        return (lambda x: torch.clamp(x, min=0)) if self.nonneg else None


def _real_part(t: torch.Tensor) -> torch.Tensor:
    return t.real if t.is_complex() else t


def _per_image(name: str, value: float | torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
    """A non-negative scalar or (B,) tensor as a (B,) tensor on ``like``'s device and real dtype."""
    dtype = real_dtype(like.dtype)
    if isinstance(value, torch.Tensor):
        if value.dim() > 1 or (value.dim() == 1 and value.shape[0] not in (1, batch)):
            raise ValueError(f"{name} must be a number or a tensor of shape ({batch},) (one per image), "
                             f"got shape {tuple(value.shape)}.")
        t = value.to(device=like.device, dtype=dtype).reshape(-1).expand(batch)
        bad = not bool(torch.isfinite(t).all()) or bool((t < 0).any())
    else:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number or a (B,) tensor, got {type(value).__name__}.")
        bad = not math.isfinite(value) or value < 0
        t = torch.full((batch,), float(value), device=like.device, dtype=dtype)
    if bad:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}; it is a weight (λ) or a noise level "
                         f"(η), e.g. {name}=0.01.")
    return t


class SparseReconstruction(torch.nn.Module):
    """Base class of the CS baselines: validation, λ/η defaults, the start, warm starts, the no-grad/autograd modes.

    Subclasses set ``default_lam_rel``, ``default_max_iter`` and ``default_tol`` and implement
    ``_solve(problem, state, max_iter, tol, callback, checkpoint_every) -> (SolverState, SolverInfo)`` and
    ``_zero_duals``.
    """

    default_lam_rel: float
    default_max_iter: int
    default_tol: float
    tau0 = 0.06
    data_share = 0.5
    checkpoint_every = 25

    def __init__(self, operator: LinearOperator, lam: float | torch.Tensor | None = None, *,
                 lam_rel: float | None = None, eta: float | torch.Tensor | None = None, eta_rel: float | None = None,
                 real: bool | None = None, nonneg: bool = False, max_iter: int | None = None,
                 tol: float | None = None, differentiable: bool = False):
        super().__init__()
        self.settings = {"lam": lam, "lam_rel": lam_rel, "eta": eta, "eta_rel": eta_rel, "real": real,
                         "nonneg": nonneg, "max_iter": max_iter, "tol": tol, "differentiable": differentiable}
        if not isinstance(operator, LinearOperator):
            raise TypeError(f"operator must be a pytest_stability LinearOperator, got {type(operator).__name__}; "
                            "wrap callables, matrices or deepinv physics with pytest_stability.operators."
                            "as_operator(...).")
        if eta is not None and eta_rel is not None:
            raise ValueError("give eta (absolute) or eta_rel (relative to ‖y‖), not both.")
        constrained = eta is not None or eta_rel is not None
        if constrained and lam is not None:
            raise ValueError(f"lam={lam!r} and a noise level η were both given: lam selects the Lagrangian form "
                             "min ½‖Ax − y‖² + λR(x), eta/eta_rel the constrained form min R(x) s.t. ‖Ax − y‖ ≤ η. "
                             "Give one.")
        for name, value in (("lam_rel", lam_rel), ("eta_rel", eta_rel)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
        for name, value in (("lam", lam), ("eta", eta)):
            if value is not None and not isinstance(value, torch.Tensor):
                _per_image(name, value, 1, torch.zeros(1))  # numbers are checked now, tensors per call
        if lam_rel is not None and lam_rel == 0 and constrained:
            raise ValueError("lam_rel=0 with a noise level: the constrained form scales R by lam_rel·max|A*y|, "
                             "which must be positive.")
        if real is None:
            real = not operator.domain_is_complex
        if nonneg and not real:
            raise ValueError("nonneg=True needs real=True: complex images have no sign.")
        if max_iter is not None and (isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0):
            raise ValueError(f"max_iter must be an int >= 0, got {max_iter!r}.")
        if tol is not None and not (isinstance(tol, (int, float)) and tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {tol!r}.")
        self.operator = operator
        self.lam_value = lam
        self.lam_rel = self.default_lam_rel if lam_rel is None else float(lam_rel)
        self.eta_value = eta
        self.eta_rel = eta_rel
        self.real = bool(real)
        self.nonneg = bool(nonneg)
        self.max_iter = self.default_max_iter if max_iter is None else max_iter
        self.tol = self.default_tol if tol is None else float(tol)
        self.differentiable = bool(differentiable)
        self.iterations: torch.Tensor | None = None
        self.relative_change: torch.Tensor | None = None
        self.converged: torch.Tensor | None = None
        self.lam: torch.Tensor | None = None
        self.eta: torch.Tensor | None = None
        self.state: SolverState | None = None

    @property
    def constrained(self) -> bool:
        return self.eta_value is not None or self.eta_rel is not None

    def with_operator(self, operator: LinearOperator) -> SparseReconstruction:
        """The same reconstruction (λ rule, constraints, iterations) for another operator, e.g. another ratio."""
        return type(self)(operator, **self.settings)

    def extra_repr(self) -> str:
        form = (f"eta={self.eta_value!r}" if self.eta_value is not None else f"eta_rel={self.eta_rel}") \
            if self.constrained else (f"lam={self.lam_value!r}" if self.lam_value is not None
                                      else f"lam_rel={self.lam_rel}")
        return (f"{self.operator!r}, {form}, real={self.real}, nonneg={self.nonneg}, max_iter={self.max_iter}, "
                f"tol={self.tol}, differentiable={self.differentiable}")

    # -- the model -------------------------------------------------------------------------------
    def forward(self, y: torch.Tensor, x0: torch.Tensor | SolverState | None = None, *,
                callback: Callback | None = None) -> torch.Tensor:
        """Reconstruct images (B, C, H, W) from measurements y (B, C, ...), optionally warm-started.

        ``x0``: start images (B, C, H, W), or the ``state`` of an earlier call (same batch size) to resume
        with its dual variables; default: the operator's naive reconstruction rescaled per image by the
        least-squares factor Re⟨A x_n, y⟩/‖A x_n‖². ``callback(k, x)`` is called after every iteration.
        """
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"y must be a torch.Tensor of measurements, got {type(y).__name__}.")
        if not bool(torch.isfinite(y).all()):
            raise ValueError(f"y contains NaN or Inf ({int((~torch.isfinite(y)).sum())} of {y.numel()} entries); "
                             "a reconstruction of non-finite data is meaningless: check the measurements "
                             "(or the perturbation added to them).")
        differentiable = self.differentiable and torch.is_grad_enabled()
        with torch.set_grad_enabled(differentiable):
            problem = self._problem(y)
            state = self._initial_state(problem, x0)
            if differentiable:
                state, info = self._solve(problem, state, self.max_iter, None, callback, self.checkpoint_every)
            else:
                state, info = self._solve(problem, state, self.max_iter, self.tol, callback, None)
        self.iterations, self.relative_change, self.converged = info.iterations, info.relative_change, info.converged
        self.lam = None if self.constrained else problem.weight.detach()
        self.eta = None if problem.eta is None else problem.eta.detach()
        self.state = state.detach()
        return state.x

    # -- the pieces subclasses share -------------------------------------------------------------
    def _problem(self, y: torch.Tensor) -> Problem:
        a_star_y = self.operator.adjoint(y)
        batch = y.shape[0]
        scale = a_star_y.abs().reshape(batch, -1).amax(dim=1)
        if self.constrained:
            weight = self.lam_rel * scale
            if self.eta_value is not None:
                eta = _per_image("eta", self.eta_value, batch, y)
            else:
                eta = self.eta_rel * l2_norm(real_view(y))
        else:
            weight = self.lam_rel * scale if self.lam_value is None else _per_image("lam", self.lam_value, batch, y)
            eta = None
        return Problem(y, weight, eta, self.operator.norm() ** 2, self.real, self.nonneg)

    def _initial_state(self, problem: Problem, x0: torch.Tensor | SolverState | None) -> SolverState:
        batch = problem.y.shape[0]
        if isinstance(x0, SolverState):
            if x0.x.shape[0] != batch:
                raise ValueError(f"x0 is a SolverState for {x0.x.shape[0]} images but y holds {batch}; "
                                 "warm-start from the state of a call on the same batch.")
            return self._start(problem, x0.x, x0.duals, x0.steps)
        if x0 is not None:
            if not isinstance(x0, torch.Tensor) or x0.dim() != 4 or x0.shape[0] != batch \
                    or tuple(x0.shape[-2:]) != self.operator.image_shape:
                raise ValueError(f"x0 must be images (B, C, H, W) = ({batch}, C, {self.operator.image_shape[0]}, "
                                 f"{self.operator.image_shape[1]}) or a SolverState, got "
                                 f"{tuple(getattr(x0, 'shape', ())) or type(x0).__name__}.")
            return self._start(problem, x0, (), None)
        x = self.operator.naive(problem.y)
        x = self._to_domain(problem, x)
        ax = self.operator.forward(x)
        scale = torch.sum((ax.conj() * problem.y).real.reshape(batch, -1), dim=1) / torch.clamp(
            l2_norm(real_view(ax)) ** 2, min=torch.finfo(problem.weight.dtype).tiny)
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        return self._start(problem, x * scale.reshape(-1, 1, 1, 1), (), None)

    def _to_domain(self, problem: Problem, x: torch.Tensor) -> torch.Tensor:
        """x as an image of the solver's domain: real part if real, clipped at 0 if nonneg."""
        if problem.real:
            x = _real_part(x)
        if problem.nonneg:
            x = torch.clamp(x, min=0)
        return x

    def primal_dual_step(self, problem: Problem, x: torch.Tensor) -> torch.Tensor:
        """τ_b = τ₀ / (‖A‖² ρ_b sqrt(r_b)): the primal step of Chambolle–Pock, one per image (B,).

        In the problem normalised by ‖A‖² (Â = A/‖A‖, λ̂ = λ/‖A‖²) the dual variable of R lives in a ball
        of radius λ̂ (per pixel for TV, per coefficient for l1) and the image at the scale max|x|; the best
        ratio τ/σ is about the ratio of the primal to the dual scale, and with τσ fixed that makes
        τ ∝ 1/sqrt(r), r_b = λ̂_b / max|x_b|. ρ_b = ‖A x_b‖² / (‖A‖² ‖x_b‖²), the Rayleigh quotient of Â*Â
        at the start, says how strongly the data see the image: about 1 for Fourier sampling, 0.33 for
        50-view CT of Shepp–Logan, where the data pull weakly and a longer primal step pays. τ₀ = 0.06 was
        measured on Shepp–Logan (MRI 33 % variable density and 25 % Cartesian, CT 50 views, 1 % noise) to be
        within 1.5× of the best fixed step in iterations in each case. r is clipped to [1e-6, 1], ρ to [1e-2, 1].
        """
        batch = x.shape[0]
        image_energy = squared_magnitude(x).reshape(batch, -1)
        tiny = torch.finfo(image_energy.dtype).tiny
        ratio = problem.weight / (problem.norm_squared * torch.clamp(image_energy.amax(dim=1).sqrt(), min=tiny))
        data_energy = squared_magnitude(self.operator.forward(x)).reshape(batch, -1).sum(dim=1)
        rayleigh = data_energy / (problem.norm_squared * torch.clamp(image_energy.sum(dim=1), min=tiny))
        ratio = torch.where(ratio > 0, ratio, torch.ones_like(ratio)).clamp(1e-6, 1.0)
        rayleigh = torch.where(rayleigh > 0, rayleigh, torch.ones_like(rayleigh)).clamp(1e-2, 1.0)
        return self.tau0 / (problem.norm_squared * rayleigh * ratio.sqrt())

    def _primal_dual_solve(self, problem: Problem, state: SolverState, block: Block, block_norm_squared: float,
                           block_dual_prox: DualProx, max_iter: int, tol: float | None, callback: Callback | None,
                           checkpoint_every: int | None) -> tuple[SolverState, SolverInfo]:
        """Chambolle–Pock on K = [A; L] for L the regulariser's operator (``block`` = (L, L*), ‖L‖² bound).

        Dual steps σ_A = w/(τ‖A‖²), σ_L = (1 − w)/(τ‖L‖²) with w = ``data_share``, so τ(σ_A‖A‖² + σ_L‖L‖²) = 0.99.
        """
        tau = self.primal_dual_step(problem, state.x) if state.steps is None else state.steps
        sigma = primal_dual_steps((problem.norm_squared, block_norm_squared), (self.data_share, 1.0 - self.data_share),
                                  tau)
        blocks = ((self.operator.forward, problem.adjoint(self.operator)), block)
        x, duals, info = chambolle_pock(state.x, state.duals, blocks, (problem.data_dual_prox(), block_dual_prox),
                                        problem.primal_prox(), tau, sigma, max_iter=max_iter, tol=tol,
                                        callback=callback, checkpoint_every=checkpoint_every)
        return SolverState(x, tuple(duals), tau), info

    def _start(self, problem: Problem, x: torch.Tensor, duals: tuple[torch.Tensor, ...],
               steps: torch.Tensor | None) -> SolverState:
        """The solver's start: x in the image domain; zero duals unless resuming a state (or none are used)."""
        x = self._to_domain(problem, x)
        if duals or not self._uses_duals(problem):
            return SolverState(x, duals, steps)
        return SolverState(x, self._zero_duals(problem, x))

    def _uses_duals(self, problem: Problem) -> bool:
        """Whether this problem is solved primal-dual (True unless a subclass has a primal-only method)."""
        return True

    def _zero_duals(self, problem: Problem, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def _solve(self, problem: Problem, state: SolverState, max_iter: int, tol: float | None,
               callback: Callback | None, checkpoint_every: int | None) -> tuple[SolverState, SolverInfo]:
        raise NotImplementedError
