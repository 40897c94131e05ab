"""Check 1: tiny worst-case perturbations (the paper's Figs. 1–4).

For each relative budget eps, search the perturbation r with ‖r‖ ≤ eps·‖x‖ (or e with ‖e‖ ≤ eps·‖y‖)
that changes the reconstruction most, and judge the instability ratio

    κ = ‖f(A(x + r)) − f(Ax)‖ / ‖r‖

of the worst image against ``max_ratio`` (absolute) and/or ``baseline_factor`` × the CS baseline's ratio.
The baseline's ratio is its own worst case (searched the same way through its unrolled iterations) when the
baseline is a built-in one and ``attack_baseline`` is on — the stronger comparison; otherwise it is the
baseline's ratio on the network's r, the paper's comparison. The baseline is searched first, so the
network's search can stop as soon as an element's verdict is decided.

Controls reported with every verdict: σ1 (the local Jacobian constant), the ratio of Gaussian noise of the
same norm, and the persistence of the artefact under added noise (the paper's Fig. 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch

from ..inputs import prepare_images
from ..metrics import l2_norm, psnr
from ..models import Reconstructor, as_reconstructor, frozen
from ..names import DOMAINS
from ..operators import as_operator, for_images
from ..search import PerturbationMap, PerturbationSearch, SearchResult
from ..search.controls import noise_control, persistence
from .references import is_differentiable_baseline, reference
from .result import DECIDED_MARGIN, CheckResult, relative_margin
from .rules import kappa_limit


def _image_view(pm: PerturbationMap, z: torch.Tensor, image: int) -> torch.Tensor:
    """The perturbation z (n, ...) of image ``image`` as an image: r itself, or A* e for a measurement-domain e
    (r with A r = e if A A* = I)."""
    return z if pm.domain == "image" else for_images(pm.A, [image] * z.shape[0]).adjoint(z)


def _ratios_on(pm_ref: PerturbationMap, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The reference's ratio (K, B) and outputs on the network's perturbations z (K, B, ...)."""
    k, b = z.shape[:2]
    flat = z.reshape(k * b, *z.shape[2:]).to(pm_ref.reference.device)
    index = torch.arange(b).repeat(k)
    with torch.no_grad():
        out = pm_ref.evaluate(flat, index)
    ratio = pm_ref.change(out, index) / l2_norm(flat)
    return ratio.view(k, b).cpu(), out.view(k, b, *out.shape[1:])


def baseline_worst_case(baseline: str, operator: Any, images: torch.Tensor, search: PerturbationSearch,
                        steps: int | None = None) -> torch.Tensor:
    """The built-in ``baseline``'s own worst-case ratios (K, B) for ``search``'s eps values and domain.

    The baseline is attacked through its unrolled iterations (see :mod:`.references`) with a shorter search:
    ``steps`` (default half of ``search.steps``, at least 5) and at most 5 Jacobian power iterations.
    """
    g = reference(baseline, as_operator(operator), differentiable=True)
    g_search = replace(search, steps=steps or max(search.steps // 2, 5), stop_ratio=None, restarts=1,
                       power_iterations=min(search.power_iterations, 5), mode="corrected")
    return g_search.run(g, images).ratio


def worst_case(model: Any, images: torch.Tensor, operator: Any = None, *, eps: float | Sequence[float] = (0.02,),
               domain: str = "image", max_ratio: float | None = None, baseline_factor: float | None = 2.0,
               baseline: Any = "tv", attack_baseline: bool = True, steps: int = 40, baseline_steps: int | None = None,
               baseline_ratios: torch.Tensor | None = None, seed: int = 0, search: PerturbationSearch | None = None,
               noise_draws: int = 4, persistence_draws: int = 8, **reconstructor_kwargs: Any) -> list[CheckResult]:
    """Run the worst-case check; one :class:`CheckResult` per eps (increasing).

    ``model``: a :class:`Reconstructor`, or a model plus ``operator`` (and ``inputs=...`` etc., see
    :class:`Reconstructor`). ``images``: (B, C, H, W) ground truths in the model's intensity scale.
    ``search`` overrides the searcher built from ``eps``, ``domain``, ``steps`` and ``seed``.
    ``baseline_ratios`` (K, B): the baseline's own worst-case ratios when already known (from
    :func:`baseline_worst_case`, e.g. shared by several models with the same operator and images).
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain must be one of {DOMAINS}, got {domain!r}.")
    if max_ratio is not None and not max_ratio > 0:
        raise ValueError(f"max_ratio must be positive, got {max_ratio!r}.")
    if baseline_factor is not None and not baseline_factor > 0:
        raise ValueError(f"baseline_factor must be positive, got {baseline_factor!r}.")
    if max_ratio is None and (baseline is None or baseline_factor is None):
        raise ValueError("no verdict criterion: give max_ratio, or a baseline with baseline_factor.")
    f = as_reconstructor(model, operator, **reconstructor_kwargs)
    x = prepare_images(images, f)
    search = search or PerturbationSearch(eps=eps, domain=domain, steps=steps, seed=seed)
    g = reference(baseline, f.operator) if baseline_factor is not None or baseline is not None else None

    attack = g is not None and attack_baseline and is_differentiable_baseline(baseline)
    faithful = search.mode == "faithful"  # its budgets are only known after the search: snapshot norms
    ref_own = baseline_ratios
    if ref_own is None and attack and not faithful:
        ref_own = baseline_worst_case(baseline, f.operator, x, search, baseline_steps)
    if ref_own is not None and not faithful and tuple(ref_own.shape) != (len(search.eps), x.shape[0]):
        raise ValueError(f"baseline_ratios has shape {tuple(ref_own.shape)}; expected (len(eps), B) = "
                         f"({len(search.eps)}, {x.shape[0]}).")
    limit = kappa_limit(torch.empty(len(search.eps)), max_ratio, baseline_factor, _worst_over_images(ref_own))
    if search.mode == "corrected" and search.stop_ratio is None and bool(torch.isfinite(limit).all()):
        # stop each eps once the verdict is decided: past its limit by more than the fragile band
        search = replace(search, stop_ratio=tuple(((1 + DECIDED_MARGIN) * limit).tolist()))

    with frozen(f.model):
        pm = PerturbationMap(f, x, search.domain)
        result = search.search(pm)
        noise = noise_control(pm, result, draws=noise_draws, seed=seed) if noise_draws else None
        persist = persistence(pm, result, draws=persistence_draws, seed=seed + 1) if persistence_draws else None
    if faithful:
        if attack and ref_own is None:
            snapshots = replace(search, eps=tuple(sorted(set(float(e) for e in result.eps))), mode="corrected")
            by_eps = dict(zip(snapshots.eps, baseline_worst_case(baseline, f.operator, x, snapshots, baseline_steps),
                              strict=True))
            ref_own = torch.stack([by_eps[float(e)] for e in result.eps])
        limit = kappa_limit(torch.empty(result.ratio.shape[0]), max_ratio, baseline_factor,
                            _worst_over_images(ref_own))

    ref_same, ref_out, ref_clean = None, None, None
    if g is not None:
        pm_g = PerturbationMap(g, x, search.domain)
        ref_same, ref_out = _ratios_on(pm_g, result.perturbations)
        ref_clean = pm_g.reference
        if ref_own is None and baseline_factor is not None:
            limit = torch.minimum(limit, baseline_factor * ref_same.amax(dim=1))

    name = None if g is None else g.name
    results = [_verdict(k, f, name, pm, result, limit[k].item(), max_ratio, baseline_factor, ref_own, ref_same,
                        ref_out, ref_clean, noise, persist) for k in range(result.ratio.shape[0])]
    if len(results) > 1:  # the paper's Fig. 1: one image under the growing perturbations r1 < r2 < ...
        results[-1].tensors.update(_growing(pm, result))
    return results


def _worst_image(ratios: torch.Tensor) -> int:
    """The image with the largest κ among ``ratios`` (B,); κ = ∞ counts as the largest (NaN as 0)."""
    return int(torch.argmax(torch.nan_to_num(ratios, posinf=1e300)))


def _growing(pm: PerturbationMap, res: SearchResult) -> dict[str, torch.Tensor]:
    """x + r_k and f(A(x + r_k)) for every eps_k (increasing) on the image worst at the largest eps."""
    b = _worst_image(res.ratio[-1])
    return {"growing_eps": res.eps.detach().clone(),
            "growing_inputs": pm.x[b:b + 1] + _image_view(pm, res.perturbations[:, b], b),
            "growing_reconstructions": res.outputs[:, b]}


def _worst_over_images(ref_own: torch.Tensor | None) -> torch.Tensor | None:
    """The baseline's worst ratio per eps (K,) from its ratios per eps and image (K, B): the limit's reference."""
    return None if ref_own is None else ref_own.amax(dim=1)


def _verdict(k: int, f: Reconstructor, baseline_name: str | None, pm: PerturbationMap, res: SearchResult,
             limit: float, max_ratio: float | None, baseline_factor: float | None, ref_own, ref_same, ref_out,
             ref_clean, noise, persist) -> CheckResult:
    ratios = res.ratio[k]
    b = _worst_image(ratios)
    kappa = float(ratios[b])
    ref_ratio = None
    if ref_own is not None:
        ref_ratio = float(ref_own[k].max())
    elif ref_same is not None:
        ref_ratio = float(ref_same[k].max())
    passed = kappa <= limit
    x = pm.x[b:b + 1]
    seen = _image_view(pm, res.perturbations[k, b:b + 1], b)  # r, or A* e in the measurement domain
    out = res.outputs[k, b:b + 1]
    eps = float(res.eps[k])
    numbers: dict[str, Any] = {
        "eps": eps, "domain": res.domain, "ratio": kappa, "limit": limit, "max_ratio": max_ratio,
        "baseline_factor": baseline_factor, "baseline": baseline_name,
        "baseline_ratio": ref_ratio, "baseline_attacked": ref_own is not None,
        "baseline_ratio_same_perturbation": None if ref_same is None else float(ref_same[k, b]),
        "image": b, "ratios": ratios, "relative_perturbation": float(res.relative_perturbation[k, b]),
        "perturbation_norm": float(res.perturbation_norm[k, b]),
        "relative_output_change": float(res.relative_output_change[k, b]),
        "psnr_clean": float(psnr(pm.reference[b:b + 1], x)), "psnr_perturbed": float(psnr(out, x)),
        "psnr_input": float(psnr(x + seen, x)), "margin": relative_margin(kappa, limit),
        "sigma1": None if res.sigma1 is None else float(res.sigma1[b]),
        "noise_ratio": None if noise is None else float(noise[k, b]),
        "persistence": None if persist is None else float(persist[k, b]),
        "nonfinite_output": bool(res.nonfinite[k, b]), "search_mode": res.mode, "steps": res.steps,
        "stopped_early": res.stopped_early is not None and bool(res.stopped_early[k, b]),
        "seed": res.seed, "evaluations": res.evaluations, "gradient_free": res.gradient_free,
    }
    tensors = {"x": x, "perturbation": seen,
               "all_perturbations": res.perturbations[k],
               "reconstruction": pm.reference[b:b + 1], "perturbed_reconstruction": out}
    if ref_out is not None:
        tensors.update(baseline_reconstruction=ref_clean[b:b + 1], baseline_perturbed=ref_out[k, b:b + 1])
    return CheckResult("worst_case", f.name, passed, _explain(numbers, passed), numbers, tensors)


def _explain(n: dict[str, Any], passed: bool) -> str:
    where = f"at eps = {n['eps']:.3g} (‖r‖/‖x‖ = {n['relative_perturbation']:.3g}, image {n['image']})"
    if n["domain"] == "measurement":
        where = where.replace("‖r‖/‖x‖", "‖e‖/‖y‖")
    if n["nonfinite_output"]:
        return f"the model returns NaN/Inf on a perturbed input {where}: unstable by definition"
    limits = []
    if n["max_ratio"] is not None:
        limits.append(f"max_ratio {n['max_ratio']:.3g}")
    if n["baseline_ratio"] is not None and n["baseline_factor"] is not None:
        whose = "own worst case" if n["baseline_attacked"] else "ratio on the same r"
        limits.append(f"{n['baseline_factor']:.3g} × the {n['baseline']}'s {whose} κ_g = {n['baseline_ratio']:.3g}")
    text = (f"κ = {n['ratio']:.3g} {'≤' if passed else '>'} limit {n['limit']:.3g} ({'; '.join(limits)}) {where}; "
            f"‖Δf‖/‖f(Ax)‖ = {n['relative_output_change']:.3g}, PSNR {n['psnr_clean']:.1f} → "
            f"{n['psnr_perturbed']:.1f} dB")
    if n["stopped_early"]:
        text += (f" (the search stopped once more than {100 * DECIDED_MARGIN:.0f} % past the limit: κ is a lower "
                 "bound)")
    if n["noise_ratio"] is not None:
        text += f"; Gaussian noise of the same norm gives κ = {n['noise_ratio']:.3g}"
    if n["persistence"] is not None:
        text += f"; the change persists in {100 * n['persistence']:.0f} % of noisy draws"
    if n["gradient_free"]:
        text += " (gradient-free search: a weak lower bound)"
    return text


def judge_perturbation(model: Any, images: torch.Tensor, perturbation: torch.Tensor, operator: Any = None, *,
                       eps: float, domain: str = "image", max_ratio: float | None = None,
                       baseline_factor: float | None = None, baseline_ratio: float | None = None,
                       baseline_name: str | None = None, **reconstructor_kwargs: Any) -> CheckResult:
    """The worst-case verdict for a given perturbation (B, C, H, W) or (B, ...) of the measurements, no search.

    Used to replay a stored worst case: two forward passes decide whether a known instability is still there.
    ``baseline_ratio`` is the baseline's ratio recorded with it, so the limit is the one that run judged by.
    """
    f = as_reconstructor(model, operator, **reconstructor_kwargs)
    x = prepare_images(images, f)
    with frozen(f.model):
        pm = PerturbationMap(f, x, domain)
        z = perturbation.to(device=pm.reference.device, dtype=pm.template().dtype)
        if z.shape != pm.template().shape:
            raise ValueError(f"the stored perturbation has shape {tuple(z.shape)} but the case needs "
                             f"{tuple(pm.template().shape)}; it belongs to other images.")
        with torch.no_grad():
            out = pm.evaluate(z, torch.arange(pm.batch))
    res = SearchResult.from_best(pm, eps=torch.tensor([eps]), z=z.unsqueeze(0), out=out.unsqueeze(0),
                                 history=torch.zeros(1, pm.batch, 0), mode="replay", seed=0, steps=0)
    limit = float("inf") if max_ratio is None else float(max_ratio)
    ref = None
    if baseline_ratio is not None and baseline_factor is not None:
        limit = min(limit, baseline_factor * baseline_ratio)
        ref = torch.full((1, pm.batch), float(baseline_ratio))
    return _verdict(0, f, baseline_name, pm, res, limit, max_ratio, baseline_factor, ref, None, None, None, None,
                    None)
