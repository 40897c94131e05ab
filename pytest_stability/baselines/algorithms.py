"""First-order convex solvers that know nothing about MRI or CT (sigpy's ``alg`` layer).

* :func:`chambolle_pock` — the primal-dual hybrid gradient method of Chambolle & Pock (2011) for
  min_x g(x) + Σ_i f_i(K_i x), with one dual step σ_i per block (block-diagonal preconditioning in the
  sense of Pock & Chambolle, ICCV 2011). It converges when τ · Σ_i σ_i ‖K_i‖² ≤ 1 (the sufficient form
  of τ ‖Σ^{1/2} K‖² ≤ 1 that :func:`primal_dual_steps` enforces).
* :func:`fista` — Beck & Teboulle's (2009) accelerated proximal gradient for min_x f(x) + g(x) with
  ∇f Lipschitz, step ≤ 1/L.

Both are batched over the leading dimension of x: every image runs the same iterations but stops on its
own, when its relative change ‖x_k − x_{k−1}‖ / ‖x_k‖ falls below ``tol`` (checked every iteration);
a stopped image's state is frozen, so a batch returns what each image would return alone. ``tol=None``
runs exactly ``max_iter`` iterations with no data-dependent branch, which is what autograd unrolls;
``checkpoint_every=n`` then keeps only every n-th iterate for the backward pass and recomputes the
others (``torch.utils.checkpoint``), so unrolling K iterations costs memory for K/n + n states, not K.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.checkpoint import checkpoint

from ..metrics import l2_norm
from .prox import real_view

__all__ = ["SolverInfo", "chambolle_pock", "fista", "primal_dual_steps"]

Callback = Callable[[int, torch.Tensor], None]
LinearMap = Callable[[torch.Tensor], torch.Tensor]
Block = tuple[LinearMap, LinearMap]
"""A block K_i of the primal-dual operator: the pair (K_i, K_i*)."""
DualProx = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""prox_{σ f*}(v, σ): a dual proximal step, σ shaped to broadcast against v."""


@dataclass
class SolverInfo:
    """How a batched solve went, one entry per image.

    ``iterations`` (B,) int64: iterations run until the image stopped (``max_iter`` if it never did);
    ``relative_change`` (B,): its last ‖x_k − x_{k−1}‖ / ‖x_k‖; ``converged`` (B,) bool: that value < tol.
    """

    iterations: torch.Tensor
    relative_change: torch.Tensor
    converged: torch.Tensor


class _Stopping:
    """Per-image stopping on the relative change, with frozen state for the images that stopped."""

    def __init__(self, x: torch.Tensor, max_iter: int, tol: float | None):
        if max_iter < 0:
            raise ValueError(f"max_iter must be >= 0, got {max_iter}.")
        if tol is not None and not tol >= 0:
            raise ValueError(f"tol must be >= 0 or None (run exactly max_iter iterations), got {tol}.")
        batch = x.shape[0]
        self.tol = tol
        self.max_iter = max_iter
        self.active = torch.ones(batch, dtype=torch.bool, device=x.device)
        self.all_active = True
        self.iterations = torch.full((batch,), max_iter, dtype=torch.int64, device=x.device)
        self.change = torch.full((batch,), math.inf, dtype=x.real.dtype, device=x.device)

    def freeze(self, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
        """``new`` for the images still running, ``old`` for those that stopped."""
        if self.all_active:
            return new
        return torch.where(self.active.reshape(-1, *([1] * (new.dim() - 1))), new, old)

    def measure(self, k: int, x_new: torch.Tensor, x_old: torch.Tensor) -> bool:
        """Record the relative change of iteration k (1-based); True when every image has stopped.

        With ``tol=None`` only the last iteration is measured (for the record): no sync, no branch.
        """
        if self.tol is None and k < self.max_iter:
            return False
        with torch.no_grad():
            change = l2_norm(real_view(x_new - x_old)) / torch.clamp(l2_norm(real_view(x_new)),
                                                                    min=torch.finfo(self.change.dtype).tiny)
            self.change = torch.where(self.active, change, self.change)
            if self.tol is None:
                return False
            stopped = self.active & (change < self.tol)
            self.iterations = torch.where(stopped, torch.full_like(self.iterations, k), self.iterations)
            self.active = self.active & ~stopped
            self.all_active = bool(self.active.all())
            return not bool(self.active.any())

    def info(self) -> SolverInfo:
        converged = self.change < self.tol if self.tol is not None else torch.zeros_like(self.active)
        return SolverInfo(self.iterations, self.change, converged)


def primal_dual_steps(norms_squared: Sequence[float], shares: Sequence[float], tau: torch.Tensor,
                      safety: float = 0.99) -> tuple[torch.Tensor, ...]:
    """Dual steps σ_i = safety · w_i / (τ ‖K_i‖²) with w_i = shares_i / Σ shares, so τ Σ_i σ_i ‖K_i‖² = safety < 1.

    The shares say how the step budget is split between the blocks; ``tau`` is the primal step, a tensor
    of shape (B,) (one per image) or a 0-d one.
    """
    total = float(sum(shares))
    if bool((tau <= 0).any()) or total <= 0 or any(w <= 0 for w in shares) or any(n <= 0 for n in norms_squared):
        raise ValueError(f"need tau > 0, positive shares and operator norms; got tau={tau}, shares={shares}, "
                         f"norms_squared={norms_squared}.")
    return tuple(safety * (w / total) / (tau * n) for w, n in zip(shares, norms_squared, strict=True))


def _per_image(step: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """A step (a number, or one per image (B,)) shaped to broadcast against ``like`` (B, ...)."""
    step = torch.as_tensor(step, dtype=like.real.dtype, device=like.device)
    return step.reshape(-1, *([1] * (like.dim() - 1)))


State = tuple[torch.Tensor, ...]
"""An iterate of a solver: x first, then whatever else the method carries (x̄ and duals, or FISTA's z)."""


def _iterate(step: Callable[[int, State], State], state: State, *, max_iter: int, tol: float | None,
             callback: Callback | None, checkpoint_every: int | None) -> tuple[State, SolverInfo]:
    """Run ``step(k, state)`` for k = 1 … max_iter with per-image stopping (see :class:`_Stopping`).

    With ``tol=None`` and ``checkpoint_every=n`` under autograd, iterations run in checkpointed segments
    of n; the callback then runs at the end of each segment only.
    """
    stop = _Stopping(state[0], max_iter, tol)
    if tol is None and checkpoint_every is not None and torch.is_grad_enabled():
        def segment(first: int, count: int, *current: torch.Tensor) -> State:
            previous = current[0]
            for k in range(first, first + count):
                previous, current = current[0], step(k, current)
            return (*current, previous)

        k = 0
        previous = state[0]
        while k < max_iter:
            count = min(checkpoint_every, max_iter - k)
            *state, previous = checkpoint(segment, k + 1, count, *state, use_reentrant=False)
            state, k = tuple(state), k + count
            if callback is not None:
                callback(k, state[0])
        if max_iter:
            stop.measure(max_iter, state[0], previous)
        return state, stop.info()
    for k in range(1, max_iter + 1):
        new = tuple(stop.freeze(n, o) for n, o in zip(step(k, state), state, strict=True))
        done = stop.measure(k, new[0], state[0])
        state = new
        if callback is not None:
            callback(k, state[0])
        if done:
            break
    return state, stop.info()


def chambolle_pock(x: torch.Tensor, duals: Sequence[torch.Tensor], blocks: Sequence[Block],
                   prox_fstar: Sequence[DualProx], prox_g: LinearMap | None,
                   tau: torch.Tensor | float, sigma: Sequence[torch.Tensor | float], *, max_iter: int,
                   tol: float | None, callback: Callback | None = None, checkpoint_every: int | None = None
                   ) -> tuple[torch.Tensor, list[torch.Tensor], SolverInfo]:
    """Chambolle–Pock for min_x g(x) + Σ_i f_i(K_i x), from (x, duals), batched over dim 0.

    Each iteration (θ = 1):  p_i ← prox_{σ_i f_i*}(p_i + σ_i K_i x̄);  x⁺ ← prox_{τ g}(x − τ Σ_i K_i* p_i);
    x̄ ← 2x⁺ − x. ``blocks`` holds (K_i, K_i*) pairs, ``prox_fstar[i](v, σ_i)`` the dual proxes (σ_i comes
    shaped to broadcast against p_i) and ``prox_g`` the primal one (None for g = 0; it may not depend on τ:
    indicator functions only). ``tau`` and each ``sigma`` are numbers or (B,) tensors (per-image steps).
    Returns the primal iterate, the duals (to warm-start a later solve) and a :class:`SolverInfo`.
    ``callback(k, x)`` runs after iteration k (k = 1 … ) for monitoring.
    """
    tau = _per_image(tau, x)
    sigma = [_per_image(s, p) for s, p in zip(sigma, duals, strict=True)]

    def step(_: int, state: State) -> State:
        x, x_bar, *duals = state
        duals = [prox(torch.addcmul(p, s, op(x_bar)), s)
                 for p, (op, _), prox, s in zip(duals, blocks, prox_fstar, sigma, strict=True)]
        x_new = x
        for p, (_, adjoint) in zip(duals, blocks, strict=True):
            x_new = torch.addcmul(x_new, tau, adjoint(p), value=-1)
        if prox_g is not None:
            x_new = prox_g(x_new)
        return (x_new, torch.sub(x_new, x).add_(x_new), *duals)  # x̄ = 2 x⁺ − x

    state, info = _iterate(step, (x, x, *duals), max_iter=max_iter, tol=tol, callback=callback,
                           checkpoint_every=checkpoint_every)
    return state[0], list(state[2:]), info


def fista(x: torch.Tensor, grad_f: Callable[[torch.Tensor], torch.Tensor],
          prox_g: Callable[[torch.Tensor, float], torch.Tensor], step: float, *, max_iter: int, tol: float | None,
          callback: Callback | None = None, checkpoint_every: int | None = None) -> tuple[torch.Tensor, SolverInfo]:
    """FISTA for min_x f(x) + g(x) from x, batched over dim 0 (momentum restarts at every call).

    z₁ = x₀, t₁ = 1;  x_k = prox_{step·g}(z_k − step ∇f(z_k));  t_{k+1} = (1 + sqrt(1 + 4 t_k²)) / 2;
    z_{k+1} = x_k + ((t_k − 1) / t_{k+1}) (x_k − x_{k−1}). ``prox_g(v, step)`` is the prox of step·g.
    Converges (objective gap O(1/k²)) for step ≤ 1/L with L the Lipschitz constant of ∇f.
    """
    momentum = [0.0]  # (t_k − 1) / t_{k+1} for k = 1, 2, …
    t = 1.0
    for _ in range(max_iter):
        t_next = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0
        momentum.append((t - 1.0) / t_next)
        t = t_next

    def iteration(k: int, state: State) -> State:
        x, z = state
        x_new = prox_g(torch.add(z, grad_f(z), alpha=-step), step)
        return x_new, torch.add(x_new, x_new - x, alpha=momentum[k])

    state, info = _iterate(iteration, (x, x), max_iter=max_iter, tol=tol, callback=callback,
                           checkpoint_every=checkpoint_every)
    return state[0], info
