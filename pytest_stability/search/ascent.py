"""The ascents: corrected (projected, budgeted), faithful (the paper's) and gradient-free (SPSA)."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.autograd.forward_ad as fwAD

from ..errors import StabilityWarning
from ..inputs import prepare_images
from ..memory import split_batch
from ..metrics import l2_norm
from ..models import ModelError, as_reconstructor, frozen
from ..names import DOMAINS, MODES
from ..tensors import normalize, per_sample, randn
from .map import PerturbationMap
from .progress import Progress
from .result import SearchResult


def load_forward_ad() -> None:
    # torch loads its forward-AD decompositions lazily through torch.jit.script, which warns (FutureWarning)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fwAD._maybe_load_decompositions()


@dataclass
class PerturbationSearch:
    """Configuration of a worst-case search; call :meth:`run` with a reconstructor and images.

    ``eps``: relative budgets ‖r‖ ≤ eps·‖x‖ (corrected and gradient-free modes). ``steps``: ascent steps per
    element (each one forward and one backward pass for the whole batch). ``power_iterations``: Jacobian
    power iterations for the start direction and σ1 (0: start from seeded noise). ``restarts``: starts per
    element, the first from v1 and the others from noise. ``stop_ratio``: stop an element once its ratio
    exceeds this (its verdict is decided); one number, or one per eps. ``patience``: stop an element after
    this many steps without a 0.1 % gain. ``schedule``, ``stab_*``, ``max_r_norm`` and ``max_diff_norm``: the
    faithful mode's snapshots, constants and stop rules (see :meth:`_faithful`). ``time_limit``: seconds after
    which the ascent stops and reports the best found so far (a budget, not deterministic). ``log_every``:
    seconds between progress lines at INFO on the ``pytest_stability`` logger (:mod:`.progress`).
    """

    eps: Sequence[float] = (0.02,)
    domain: str = "image"
    mode: str = "corrected"
    steps: int = 40
    seed: int = 0
    restarts: int = 1
    power_iterations: int = 10
    step_size: float = 1.0
    momentum: float = 0.9
    stop_ratio: float | Sequence[float] | None = None
    patience: int = 8
    warm_start_every: int = 4
    spsa_directions: int = 8
    schedule: Sequence[int] = (100, 100, 100)
    stab_eta: float = 3e-3
    stab_lambda: float = 1e-3
    stab_gamma: float = 0.9
    stab_tau: float = 1e-3
    max_r_norm: float = math.inf
    max_diff_norm: float = math.inf
    time_limit: float | None = None
    log_every: float = 5.0

    def __post_init__(self) -> None:
        if isinstance(self.eps, (int, float)):
            self.eps = (float(self.eps),)
        self.eps = tuple(float(e) for e in self.eps)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}.")
        if self.domain not in DOMAINS:
            raise ValueError(f"domain must be one of {DOMAINS}, got {self.domain!r}.")
        if not self.eps or any(not (e > 0 and math.isfinite(e)) for e in self.eps):
            raise ValueError(f"eps must be positive finite relative budgets (e.g. 0.02 for ‖r‖ ≤ 2 % of ‖x‖), "
                             f"got {self.eps}.")
        if list(self.eps) != sorted(self.eps) or len(set(self.eps)) != len(self.eps):
            raise ValueError(f"eps must be strictly increasing (larger budgets warm-start from smaller ones), got "
                             f"{self.eps}; sort them and drop duplicates.")
        for name in ("steps", "restarts"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.power_iterations < 0 or self.spsa_directions < 1:
            raise ValueError("power_iterations must be >= 0 and spsa_directions >= 1.")
        if isinstance(self.stop_ratio, (list, tuple)) and len(self.stop_ratio) != len(self.eps):
            raise ValueError(f"stop_ratio has {len(self.stop_ratio)} values for {len(self.eps)} eps values.")
        if not self.schedule or any(int(n) < 1 for n in self.schedule):
            raise ValueError(f"schedule must be positive iteration counts, got {self.schedule}.")
        if self.mode == "faithful" and self.power_iterations < 1:
            raise ValueError("the faithful mode scales its objective by the Jacobian's σ1²: give power_iterations "
                             ">= 1.")
        if not (self.max_r_norm > 0 and self.max_diff_norm > 0):
            raise ValueError(f"max_r_norm and max_diff_norm are relative bounds > 0 (inf: no bound), got "
                             f"{self.max_r_norm!r} and {self.max_diff_norm!r}.")

    # -- entry point -----------------------------------------------------------------------------
    def run(self, model: Any, images: torch.Tensor, operator: Any = None, **reconstructor_kwargs: Any) -> SearchResult:
        """Search the worst perturbations of ``images`` (B, C, H, W) for ``model`` (a Reconstructor or a
        model plus its ``operator``)."""
        f = as_reconstructor(model, operator, **reconstructor_kwargs)
        x = prepare_images(images, f)
        with frozen(f.model):
            return self.search(PerturbationMap(f, x, self.domain))

    def search(self, pm: PerturbationMap) -> SearchResult:
        """Search on a prepared :class:`PerturbationMap` (the caller keeps the model frozen)."""
        if pm.domain != self.domain:
            raise ValueError(f"the perturbation map is in the {pm.domain} domain but the search in the {self.domain}.")
        per_image = 1 if self.mode == "faithful" else len(self.eps) * self.restarts
        limit = None if pm.f.max_batch is None else max(1, pm.f.max_batch // per_image)
        return split_batch(lambda s: self._search(pm if s == slice(0, pm.batch) else pm.subset(s)), pm.batch,
                           SearchResult.concat, limit=limit, inputs_per_item=per_image,
                           what=f"the worst-case search of model {pm.f.name!r}")

    def _search(self, pm: PerturbationMap) -> SearchResult:
        if self.mode == "faithful":
            return self._faithful(pm)
        if self.mode == "gradient-free" or not pm.differentiable:
            if self.mode != "gradient-free":
                warnings.warn(f"model {pm.f.name!r} gives no gradient with respect to its input (numpy, ONNX, or a "
                              "detach inside); using a gradient-free search, whose ratio is a weaker lower bound "
                              "on the worst case.", StabilityWarning, stacklevel=3)
            return self._ascent(pm, gradient_free=True)
        return self._ascent(pm, gradient_free=False)

    # -- the start direction ---------------------------------------------------------------------
    def _jvp(self, pm: PerturbationMap, z0: torch.Tensor, tangent: torch.Tensor, index: torch.Tensor,
             out0: torch.Tensor) -> torch.Tensor:
        """J v by forward-mode AD; by a one-sided finite difference where the model has no forward AD."""
        if pm.forward_ad:
            try:
                load_forward_ad()
                with torch.no_grad(), fwAD.dual_level():
                    out = pm.evaluate(fwAD.make_dual(z0.detach(), tangent), index)
                    jv = fwAD.unpack_dual(out).tangent
                if jv is not None:
                    return jv
            except (RuntimeError, NotImplementedError):
                pass
            pm.forward_ad = False
        h = 1e-3 * pm.scale[index]
        with torch.no_grad():
            out = pm.evaluate(z0.detach() + per_sample(h, tangent) * tangent, index)
        return (out - out0.detach()) / per_sample(h, out)

    def _top_singular(self, pm: PerturbationMap, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """v1 (B, ...) with ‖v1‖ = 1 and σ1 (B,) of the Jacobian of z ↦ f at z = 0, by power iteration."""
        index = torch.arange(pm.batch)
        z0 = torch.zeros_like(pm.template()).requires_grad_(True)
        with torch.enable_grad():
            out0 = pm.evaluate(z0, index)
        v = normalize(pm.project(randn(tuple(z0.shape), z0, gen)))
        sigma = torch.zeros(pm.batch, dtype=pm.scale.dtype, device=pm.scale.device)
        for i in range(self.power_iterations):
            jv = self._jvp(pm, z0, v, index, out0)
            sigma = l2_norm(jv)
            g = pm.gradient(out0, z0, grad_outputs=jv, retain_graph=i < self.power_iterations - 1)
            _check_gradient(pm, g, finite=torch.ones(pm.batch, dtype=torch.bool, device=g.device))
            v = normalize(g)
        return v.detach(), sigma

    # -- corrected and gradient-free ascent ------------------------------------------------------
    def _spsa_gradient(self, pm: PerturbationMap, z: torch.Tensor, index: torch.Tensor, rho: torch.Tensor,
                       gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Objective and output at z and an SPSA estimate of the gradient, from 2·d + 1 evaluations in one batch.

        ĝ = (1/d) Σ_j [Q(z + cδ_j) − Q(z − cδ_j)] / (2c) · δ_j with Rademacher directions δ_j (unit norm,
        projected onto the perturbation space) and c = 5 % of the budget.
        """
        n, d = z.shape[0], self.spsa_directions
        signs = randn((d * n, *z.shape[1:]), z, gen)
        signs = torch.complex(signs.real.sign(), signs.imag.sign()) if z.is_complex() else signs.sign()
        delta = normalize(pm.project(signs)).view(d, n, *z.shape[1:])
        c = 0.05 * rho
        batch = torch.cat([z.unsqueeze(0), z + per_sample(c, z) * delta, z - per_sample(c, z) * delta])
        reps = index.repeat(2 * d + 1)
        with torch.no_grad():
            out = pm.evaluate(batch.reshape(-1, *z.shape[1:]), reps)
            obj = (0.5 * pm.change(out, reps) ** 2).view(2 * d + 1, n)
        slope = (obj[1:d + 1] - obj[d + 1:]) / (2 * c)
        grad = (slope.view(d, n, *([1] * (z.dim() - 1))) * delta).sum(0) / d
        return obj[0], out.view(2 * d + 1, n, *out.shape[1:])[0], grad

    def _ascent(self, pm: PerturbationMap, *, gradient_free: bool) -> SearchResult:
        gen = torch.Generator().manual_seed(self.seed)
        b, k, r = pm.batch, len(self.eps), self.restarts
        n = k * r * b  # element i: eps i // (r·b), restart (i // b) % r, image i % b
        base = torch.arange(b).repeat(k * r)
        eps = torch.tensor(self.eps, dtype=pm.scale.dtype, device=pm.scale.device)
        rho = eps.repeat_interleave(r * b) * pm.scale[base]
        template = pm.template()

        sigma1 = None
        starts = normalize(pm.project(randn((n, *template.shape[1:]), template, gen)))
        if self.power_iterations > 0 and not gradient_free:
            v1, sigma1 = self._top_singular(pm, gen)
            first = (torch.arange(n) // b) % r == 0
            starts[first] = v1[base[first]]
        z = per_sample(rho, starts) * starts
        momentum = torch.zeros_like(z)
        alpha = torch.full((n,), self.step_size, dtype=rho.dtype, device=rho.device)
        best_obj = torch.full((n,), -math.inf, dtype=rho.dtype, device=rho.device)
        prev_obj = best_obj.clone()
        best_z = z.clone()
        best_out = torch.zeros((n, *pm.reference.shape[1:]), dtype=pm.reference.dtype, device=pm.reference.device)
        stall = torch.zeros(n, dtype=torch.long)
        active = torch.ones(n, dtype=torch.bool)
        history = torch.zeros(n, self.steps)
        nonfinite = torch.zeros(n, dtype=torch.bool)
        stopped = torch.zeros(n, dtype=torch.bool)
        stop = None
        if self.stop_ratio is not None:
            per_eps = torch.as_tensor(self.stop_ratio, dtype=rho.dtype, device=rho.device).expand(k)
            stop = per_eps.repeat_interleave(r * b)

        started = time.monotonic()
        progress = Progress(pm.f.name, "gradient-free" if gradient_free else "corrected", self.eps, self.steps, b,
                            self.log_every)
        taken = 0
        for step in range(self.steps):
            if self.time_limit is not None and step > 0 and time.monotonic() - started > self.time_limit:
                history[:, step:] = history[:, step - 1:step]
                break
            taken = step + 1
            idx = torch.nonzero(active).flatten()
            dev_idx = idx.to(z.device)
            zt = z[dev_idx].detach()
            if gradient_free:
                obj, out, grad = self._spsa_gradient(pm, zt, base[idx], rho[dev_idx], gen)
            else:
                zt.requires_grad_(True)
                with torch.enable_grad():
                    out = pm.evaluate(zt, base[idx])
                    obj = 0.5 * pm.change(out, base[idx]) ** 2
            bad = ~torch.isfinite(obj.detach()).cpu()
            nonfinite[idx[bad]] = True
            obj_d = torch.where(torch.isfinite(obj.detach()), obj.detach(), torch.full_like(obj.detach(), math.inf))
            improved = obj_d > best_obj[dev_idx] * (1 + 1e-3)
            better = obj_d > best_obj[dev_idx]
            upd = dev_idx[better]
            best_obj[upd] = obj_d[better]
            best_z[upd] = zt.detach()[better]
            best_out[upd] = out.detach()[better]
            stall[idx] = torch.where(improved.cpu(), 0, stall[idx] + 1)
            ratio = torch.sqrt(2 * best_obj) / l2_norm(best_z).clamp_min(1e-30)
            history[:, step] = ratio.detach().cpu().float()
            progress.step(step, lambda s=step: history[:, s].view(k, r * b).amax(dim=1).tolist(), pm.counts)
            decided = bad.clone()
            if stop is not None:
                passed_limit = (ratio[dev_idx] > stop[dev_idx]).cpu()
                stopped[idx[passed_limit]] = True
                decided |= passed_limit
            active[idx] = ~(decided | (stall[idx] >= self.patience))
            if step == self.steps - 1 or not bool(active.any()):
                history[:, step + 1:] = history[:, step:step + 1]
                break
            if not gradient_free:
                grad = pm.gradient(obj.sum(), zt)
                _check_gradient(pm, grad, finite=~bad.to(grad.device))
            # adaptive step: a drop below the previous objective halves the step and restarts from the best point
            worse = obj_d < prev_obj[dev_idx]
            prev_obj[dev_idx] = obj_d
            alpha[dev_idx] = torch.where(worse, alpha[dev_idx] / 2, torch.clamp(alpha[dev_idx] * 1.2, max=4.0))
            keep = per_sample((~worse).to(rho.dtype), zt)
            m = self.momentum * momentum[dev_idx] * keep + normalize(grad.detach())
            start = torch.where(per_sample(worse, zt), best_z[dev_idx], zt.detach())
            step_vec = per_sample(alpha[dev_idx] * rho[dev_idx], m) * normalize(m)
            new = pm.project(start + step_vec)
            shrink = torch.clamp(rho[dev_idx] / l2_norm(new).clamp_min(1e-30), max=1.0)
            z[dev_idx] = new * per_sample(shrink, new)
            momentum[dev_idx] = m
            if k > 1 and (step + 1) % self.warm_start_every == 0:
                self._warm_start(z, momentum, alpha, best_obj, best_z, rho, active, k * r * b, r * b)

        progress.done(taken, history[:, -1].view(k, r * b).amax(dim=1).tolist(), pm.counts)
        # best over restarts for every (eps, image)
        obj_kb = best_obj.view(k, r, b)
        pick = obj_kb.argmax(dim=1)  # (k, b)
        sel = (torch.arange(k).view(k, 1) * r * b + pick.cpu() * b + torch.arange(b).view(1, b)).flatten()
        sel_dev = sel.to(best_z.device)
        zs = best_z[sel_dev].view(k, b, *template.shape[1:])
        outs = best_out[sel_dev].view(k, b, *pm.reference.shape[1:])
        notes = ["gradient-free (SPSA) search: the ratio is a weaker lower bound"] if gradient_free else []
        result = SearchResult.from_best(
            pm, eps=torch.tensor(self.eps, dtype=torch.float64), z=zs.detach(), out=outs.detach(),
            history=history[sel].view(k, b, -1), mode="gradient-free" if gradient_free else "corrected", seed=self.seed,
            steps=self.steps, sigma1=None if sigma1 is None else sigma1.detach().cpu(), gradient_free=gradient_free,
            notes=notes)
        result.nonfinite |= nonfinite[sel].view(k, b)
        result.stopped_early = stopped[sel].view(k, b)
        return result

    def _warm_start(self, z, momentum, alpha, best_obj, best_z, rho, active, n, block) -> None:
        """Let eps_j adopt eps_{j-1}'s best direction, scaled up, where linear extrapolation predicts more damage."""
        upper = torch.arange(block, n, device=z.device)
        lower = upper - block
        scale = rho[upper] / rho[lower]
        predicted = best_obj[lower] * scale ** 2
        adopt = (predicted > best_obj[upper] * 1.01) & active[upper.cpu()].to(z.device) & torch.isfinite(predicted)
        if bool(adopt.any()):
            dst, src = upper[adopt], lower[adopt]
            z[dst] = best_z[src] * per_sample(scale[adopt], best_z[src])
            momentum[dst] = 0
            alpha[dst] = self.step_size

    # -- the paper's algorithm -------------------------------------------------------------------
    def _faithful(self, pm: PerturbationMap) -> SearchResult:
        """The paper's heavy-ball ascent v ← μv + η∇Q(r), r ← r + v, per image, on the scaled objective

            Q(r) = ½ ‖f(A(x + r)) − f(Ax)‖² / σ̂² − (λ/2) ‖r‖²,

        σ̂ the top singular value of the Jacobian at x (``power_iterations`` power iterations). The authors wrote
        Q with a per-network constant on the first term (Deep MRI's was 2/(B·N²), AUTOMAP's ½ on scaled samples)
        and tuned η per network; dividing by σ̂² is that constant chosen so that the ascent's linear growth rate,
        η(1 − λ) per step (times 1/(1 − μ) once the momentum builds), is the same for every network, image size,
        intensity scale and batch: η = 3e-3 gives the Fig. 1 family r1 < r2 < r3 within a few % of ‖x‖ in the
        default 100 + 100 + 100 steps, and λ is in units of σ̂² (growth stops where the secant gain falls to
        √λ · σ̂). The start is r0 = τ · rms(x) · U[0, 1) (the authors' τ · U[0, 1) in units of the image's own
        intensity), drawn before anything else so that an image's start does not depend on the batch. The
        authors' stop rules hold per image, as in their MATLAB code: an image stops (keeps its r) once
        ‖r‖ ≥ ``max_r_norm`` · ‖x‖ (‖y‖ in the measurement domain) or ‖f(A(x + r)) − f(Ax)‖ ≥ ``max_diff_norm`` ·
        ‖f(Ax)‖ (∞: never).
        """
        gen = torch.Generator().manual_seed(self.seed)
        template = pm.template()
        index = torch.arange(pm.batch)
        shape, real = template.shape, template.real.dtype
        u = (torch.complex(torch.rand(shape, generator=gen, dtype=real), torch.rand(shape, generator=gen, dtype=real))
             if template.is_complex() else torch.rand(shape, generator=gen, dtype=template.dtype))
        rms = pm.scale / math.sqrt(template[0].numel())
        r = pm.project(self.stab_tau * per_sample(rms, u) * u.to(template.device))
        sigma = self._top_singular(pm, gen)[1]
        curvature = sigma.pow(2).clamp_min(torch.finfo(pm.scale.dtype).tiny)
        reference = l2_norm(pm.reference)
        v = torch.zeros_like(r)
        active = torch.ones(pm.batch, dtype=torch.bool, device=r.device)
        snaps, outs, history = [], [], []
        total = sum(int(s) for s in self.schedule)
        progress = Progress(pm.f.name, "faithful", (), total, pm.batch, self.log_every)
        for block in self.schedule:
            for _ in range(int(block)):
                r = r.detach().requires_grad_(True)
                with torch.enable_grad():
                    out = pm.evaluate(r, index)
                    change = pm.change(out, index)
                    q = 0.5 * change ** 2 / curvature - 0.5 * self.stab_lambda * l2_norm(r) ** 2
                grad = pm.gradient(q.sum(), r)
                norm = l2_norm(r.detach())
                history.append((change.detach() / norm.clamp_min(1e-30)).cpu())
                progress.step(len(history) - 1, lambda: [float(history[-1].max())], pm.counts)
                active &= (norm < self.max_r_norm * pm.scale) & (change.detach() < self.max_diff_norm * reference)
                v = per_sample(active, v) * (self.stab_gamma * v + self.stab_eta * grad)
                r = r.detach() + v
            with torch.no_grad():
                outs.append(pm.evaluate(r, index))
            snaps.append(r.detach())
        progress.done(total, [float(history[-1].max())], pm.counts)
        z, out = torch.stack(snaps), torch.stack(outs)
        rel = l2_norm(z.reshape(-1, *z.shape[2:])).view(len(snaps), -1) / pm.scale
        hist = torch.stack(history, dim=-1).float()  # (B, T)
        ends = torch.cumsum(torch.tensor([int(s) for s in self.schedule]), 0)
        hist_k = torch.stack([torch.cat([hist[:, :e], hist[:, e - 1:e].expand(-1, hist.shape[1] - e)], dim=1)
                              for e in ends.tolist()])
        return SearchResult.from_best(pm, eps=rel.median(dim=1).values.cpu(), z=z, out=out, history=hist_k,
                                      mode="faithful", seed=self.seed, steps=int(ends[-1]), sigma1=sigma.detach().cpu(),
                                      notes=["faithful mode: eps holds the achieved median ‖r‖/‖x‖ per snapshot"])


def _check_gradient(pm: PerturbationMap, grad: torch.Tensor, *, finite: torch.Tensor) -> None:
    """Refuse a NaN or Inf gradient where the model's output is finite: the model is not differentiable there
    (a square root, norm or division at 0), and the search would carry the NaN into every perturbation."""
    bad = ~torch.isfinite(grad.reshape(grad.shape[0], -1)).all(dim=1) & finite
    if bool(bad.any()):
        raise ModelError(
            f"the gradient of model {pm.f.name!r} with respect to its input is NaN or Inf for {int(bad.sum())} of "
            f"{grad.shape[0]} inputs whose outputs are finite: the model is not differentiable there, typically a "
            "square root, norm or division at exactly 0 (e.g. a root-sum-of-squares image with zero pixels; "
            "torch.sqrt(s) has an infinite derivative at s = 0). Make it differentiable (e.g. torch.sqrt(s + "
            "torch.finfo(s.dtype).tiny)), or wrap the model so it has no gradient (the search then runs "
            "gradient-free, a weaker lower bound).")
