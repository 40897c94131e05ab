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
same norm, the persistence of the artefact under added noise of ¼, ½ and 1 × ‖r‖ with its 95 % interval (the
paper's Fig. 2 and its conclusion 4), and two certified lower bounds on the network's Lipschitz constant from the
measurement pairs the check evaluated (:mod:`pytest_stability.certificates`): they hold whatever a longer search
would find. The verdict is the κ rule alone; these numbers sit beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from ..certificates import Certificate, best, image_pairs, image_tradeoff, pair_ratios
from ..inputs import prepare_images
from ..metrics import l2_norm, psnr
from ..models import Reconstructor, as_reconstructor, frozen
from ..names import DOMAINS
from ..operators import as_operator, for_images
from ..search import PerturbationMap, PerturbationSearch, SearchResult
from ..search.controls import PERSISTENCE_LEVELS, PersistenceCurve, noise_control, persistence_curve
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
               noise_draws: int = 4, persistence_levels: Sequence[float] = PERSISTENCE_LEVELS,
               persistence_width: float = 0.1,
               run_search: Callable[[PerturbationSearch, PerturbationMap], SearchResult] | None = None,
               **reconstructor_kwargs: Any) -> list[CheckResult]:
    """Run the worst-case check; one :class:`CheckResult` per eps (increasing).

    ``model``: a :class:`Reconstructor`, or a model plus ``operator`` (and ``inputs=...`` etc., see
    :class:`Reconstructor`). ``images``: (B, C, H, W) ground truths in the model's intensity scale.
    ``search`` overrides the searcher built from ``eps``, ``domain``, ``steps`` and ``seed``.
    ``baseline_ratios`` (K, B): the baseline's own worst-case ratios when already known (from
    :func:`baseline_worst_case`, e.g. shared by several models with the same operator and images).
    ``noise_draws``: Gaussian perturbations per element for the noise control (0: none);
    ``persistence_levels``: noise levels (× ‖r‖) of the persistence curve, each estimated until its 95 % interval
    is at most ``persistence_width`` wide (empty: no curve). ``run_search(search, pm)`` runs the final search
    (its stop ratios set from the limit) in place of ``search.search(pm)``; the plugin passes one that reuses a
    stored result where the search is a pure function of what keys it (:mod:`pytest_stability.kinds.stored_searches`).
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
        result = search.search(pm) if run_search is None else run_search(search, pm)
        controls = _controls(pm, result, noise_draws, persistence_levels, persistence_width, seed)
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
                        ref_out, ref_clean, controls) for k in range(result.ratio.shape[0])]
    if len(results) > 1:  # the paper's Fig. 1: one image under the growing perturbations r1 < r2 < ...
        results[-1].tensors.update(_growing(pm, result))
    return results


@dataclass
class _Controls:
    """What puts the verdicts of one search in context: the noise ratios (K, B), the persistence curve of each
    eps's worst image, and per eps the data bound and the trade-off bound of :mod:`~pytest_stability.certificates`."""

    noise: torch.Tensor | None
    curve: PersistenceCurve | None
    data_bounds: list[Certificate | None]
    tradeoff: Certificate | None


def _controls(pm: PerturbationMap, result: SearchResult, noise_draws: int, levels: Sequence[float], width: float,
              seed: int) -> _Controls:
    k, b = result.ratio.shape
    noise = noise_control(pm, result, draws=noise_draws, seed=seed) if noise_draws else None
    worst = torch.tensor([_worst_image(result.ratio[i]) for i in range(k)])
    curve = persistence_curve(pm, result, worst, levels=levels, width=width, seed=seed + 1) if levels else None
    # the pairs (y, y + Δy) of the search, Δy = A r (or e itself), and the pairs of images of the batch
    z = result.perturbations.reshape(k * b, *result.perturbations.shape[2:]).to(pm.reference.device)
    index = torch.arange(b).repeat(k)
    with torch.no_grad():
        dy = for_images(pm.A, index).forward(z) if pm.domain == "image" else z
    searched = pair_ratios(result.output_change, l2_norm(dy).cpu().view(k, b))
    images, ij = image_pairs(pm.reference, pm.y)
    data_bounds = [best([(searched[i], lambda p, i=i: {"kind": "clean vs perturbed", "image": p,
                                                        "eps": float(result.eps[i])}),
                         (images, lambda p: {"kind": "images", "images": ij[:, p].tolist()})]) for i in range(k)]
    return _Controls(noise, curve, data_bounds, image_tradeoff(pm.x, pm.reference, pm.y))


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
             ref_clean, controls: _Controls) -> CheckResult:
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
        "noise_ratio": None if controls.noise is None else float(controls.noise[k, b]),
        "persistence": None, "persistence_curve": None,
        "lipschitz_lower_bound": None, "lipschitz_pair": None, "tradeoff_bound": None, "tradeoff_pair": None,
        "nonfinite_output": bool(res.nonfinite[k, b]), "search_mode": res.mode, "steps": res.steps,
        "stopped_early": res.stopped_early is not None and bool(res.stopped_early[k, b]),
        "seed": res.seed, "evaluations": res.evaluations, "gradient_free": res.gradient_free,
    }
    if controls.curve is not None:
        curve = controls.curve.entries(k)
        numbers["persistence_curve"] = curve
        numbers["persistence"] = next((c["rate"] for c in curve if c["noise"] == 0.25), curve[0]["rate"])
    if controls.data_bounds[k] is not None:
        numbers["lipschitz_lower_bound"] = controls.data_bounds[k].bound
        numbers["lipschitz_pair"] = controls.data_bounds[k].pair
    if controls.tradeoff is not None:
        numbers["tradeoff_bound"] = controls.tradeoff.bound
        numbers["tradeoff_pair"] = controls.tradeoff.pair
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
    if n["lipschitz_lower_bound"] is not None:
        text += f"; certified from data: Lipschitz ≥ {n['lipschitz_lower_bound']:.3g} per ‖Δy‖ ({_pair_text(n)})"
    if n["tradeoff_bound"] is not None and n["tradeoff_bound"] > 0:
        text += (f"; any map as accurate on images {n['tradeoff_pair']['images']} has Lipschitz ≥ "
                 f"{n['tradeoff_bound']:.3g}")
    if n["persistence_curve"] is not None:
        norm = "‖e‖" if n["domain"] == "measurement" else "‖r‖"
        text += "; the artefact survives noise of " + ", ".join(
            f"{_fraction(c['noise'])}{norm} in {100 * c['rate']:.0f} % [{100 * c['ci'][0]:.0f}, "
            f"{100 * c['ci'][1]:.0f}]" for c in n["persistence_curve"]) + " of draws"
    if n["gradient_free"]:
        text += " (gradient-free search: a weak lower bound)"
    return text


def _pair_text(n: dict[str, Any]) -> str:
    pair = n["lipschitz_pair"]
    if pair["kind"] == "images":
        return f"images {pair['images'][0]} and {pair['images'][1]} of the batch"
    return f"clean vs perturbed, image {pair['image']} at eps {pair['eps']:.3g}"


def _fraction(level: float) -> str:
    return {0.25: "¼", 0.5: "½", 1.0: ""}.get(level, f"{level:g} × ")


def judge_perturbation(model: Any, images: torch.Tensor, perturbation: torch.Tensor, operator: Any = None, *,
                       eps: float, domain: str = "image", max_ratio: float | None = None,
                       baseline_factor: float | None = None, baseline_ratio: float | None = None,
                       baseline_name: str | None = None, persistence_levels: Sequence[float] = PERSISTENCE_LEVELS,
                       persistence_width: float = 0.1, **reconstructor_kwargs: Any) -> CheckResult:
    """The worst-case verdict for a given perturbation (B, C, H, W) or (B, ...) of the measurements, no search.

    Used to replay a stored worst case: two forward passes decide whether a known instability is still there
    (the persistence curve then adds its no-grad draws; ``persistence_levels=()`` skips it).
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
        res = SearchResult.from_best(pm, eps=torch.tensor([eps], dtype=torch.float64), z=z.unsqueeze(0),
                                     out=out.unsqueeze(0), history=torch.zeros(1, pm.batch, 0), mode="replay",
                                     seed=0, steps=0)
        controls = _controls(pm, res, 0, persistence_levels, persistence_width, seed=1)
    limit = float("inf") if max_ratio is None else float(max_ratio)
    ref = None
    if baseline_ratio is not None and baseline_factor is not None:
        limit = min(limit, baseline_factor * baseline_ratio)
        ref = torch.full((1, pm.batch), float(baseline_ratio))
    return _verdict(0, f, baseline_name, pm, res, limit, max_ratio, baseline_factor, ref, None, None, None, controls)
