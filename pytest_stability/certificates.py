"""Certificates from data: lower bounds on a network's Lipschitz constant that hold whatever a search would find.

A worst-case search proves instability by example, and a longer search can only raise its κ. Two further numbers
need no search at all; both come from measurement pairs (y, y′) a run evaluates anyway, and both are proven,
not estimated:

* the **data bound** ``lipschitz_lower_bound``: for any pair, the Lipschitz constant of the reconstruction map
  y ↦ f(y) is at least ‖f(y) − f(y′)‖ / ‖y − y′‖ (the definition of a Lipschitz constant). The largest ratio over
  the pairs at hand (clean and perturbed measurements, an image and the same image with a detail, two images of
  the batch) is a lower bound on f's Lipschitz constant in the measurement norm, for this f.
* the paper's **trade-off bound** ``tradeoff_bound``: any reconstruction map that recovers two images x, x′ to
  within δ (‖f(Ax) − x‖ ≤ δ and ‖f(Ax′) − x′‖ ≤ δ) while their measurements lie η = ‖A(x − x′)‖ apart has
  Lipschitz constant at least (‖x − x′‖ − 2δ) / η, by the triangle inequality. It holds for every map as accurate
  as this one on x and x′ — retraining cannot escape it — and it is large exactly when x − x′ lies almost in
  the null space of A while the network tells the two apart (the paper's Theorem: accuracy there forces
  instability). A value ≤ 0 proves nothing (the errors exceed the images' distance).

The data bound is never smaller than the trade-off bound on the same pair (‖f(Ax) − f(Ax′)‖ ≥ ‖x − x′‖ − 2δ).
Both are in the units of the measurement norm ‖Δy‖; a worst-case κ in the image domain is per ‖r‖, so compare
them with a measurement-domain κ (or with κ/‖A‖).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .metrics import l2_norm

__all__ = ["Certificate", "best", "image_pairs", "image_tradeoff", "pair_ratios", "tradeoff_bounds",
           "tradeoff_certificate"]


@dataclass
class Certificate:
    """A certified lower bound on the Lipschitz constant and the pair that attains it (as the record holds it)."""

    bound: float
    pair: dict[str, Any]


def pair_ratios(change: torch.Tensor, distance: torch.Tensor) -> torch.Tensor:
    """‖f(y) − f(y′)‖ / ‖y − y′‖ per pair (n,) from the two norms (n,); a pair with y = y′ gives 0 (it bounds
    nothing), and so does one with a non-finite output (it is left out)."""
    ratio = change / distance.clamp_min(torch.finfo(distance.dtype).tiny)
    return torch.where((distance > 0) & torch.isfinite(change), ratio, torch.zeros_like(ratio))


def _pairs(b: int, device: torch.device) -> torch.Tensor:
    """All index pairs i < j of a batch of b, shape (2, b(b − 1)/2)."""
    return torch.triu_indices(b, b, offset=1, device=device)


def image_pairs(x_out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The data-bound ratios of every pair of images in a batch: (ratios (P,), pairs (2, P)), from the outputs
    f(y_i) (B, ...) and the measurements y_i (B, ...); none for a single image."""
    ij = _pairs(y.shape[0], y.device)
    if ij.shape[1] == 0:
        return torch.zeros(0), ij.cpu()
    return pair_ratios(l2_norm(x_out[ij[0]] - x_out[ij[1]]), l2_norm(y[ij[0]] - y[ij[1]])).cpu(), ij.cpu()


def tradeoff_bounds(x: torch.Tensor, x2: torch.Tensor, out: torch.Tensor, out2: torch.Tensor,
                    eta: torch.Tensor) -> dict[str, torch.Tensor]:
    """(‖x − x′‖ − 2δ) / η per pair (n,) with δ = max(‖f(y) − x‖, ‖f(y′) − x′‖), from the truths (n, ...), the
    outputs (n, ...) and the measurements' distances η = ‖y − y′‖ (n,) of n pairs; with its parts ``distance``,
    ``accuracy``, ``measurement_distance``. A pair with η = 0 bounds nothing (−inf)."""
    distance = l2_norm(x - x2)
    accuracy = torch.maximum(l2_norm(out - x), l2_norm(out2 - x2))
    bound = (distance - 2 * accuracy) / eta.clamp_min(torch.finfo(eta.dtype).tiny)
    bound = torch.where((eta > 0) & torch.isfinite(accuracy), bound, torch.full_like(bound, -torch.inf))
    return {"bound": bound.cpu(), "distance": distance.cpu(), "accuracy": accuracy.cpu(),
            "measurement_distance": eta.cpu()}


def image_tradeoff(x: torch.Tensor, out: torch.Tensor, y: torch.Tensor) -> Certificate | None:
    """The best trade-off bound over the pairs of images of a batch (None for a single image)."""
    if x.shape[0] < 2:
        return None
    ij = _pairs(x.shape[0], x.device)
    parts = tradeoff_bounds(x[ij[0]], x[ij[1]], out[ij[0]], out[ij[1]], l2_norm(y[ij[0]] - y[ij[1]]))
    return tradeoff_certificate(parts, lambda p: {"kind": "images", "images": ij[:, p].tolist()})


def tradeoff_certificate(parts: dict[str, torch.Tensor], describe: Any) -> Certificate:
    """The best of :func:`tradeoff_bounds`' pairs, its pair described by ``describe(index)`` and its parts."""
    p = int(torch.argmax(parts["bound"]))
    pair = describe(p) | {k: float(parts[k][p]) for k in ("distance", "accuracy", "measurement_distance")}
    return Certificate(float(parts["bound"][p]), pair)


def best(candidates: list[tuple[torch.Tensor, Any]]) -> Certificate | None:
    """The largest ratio over groups of candidate pairs: ``candidates`` holds (ratios (n,), describe) with
    ``describe(index)`` the pair's description. None when there is no pair."""
    top: Certificate | None = None
    for ratios, describe in candidates:
        if ratios.numel() == 0:
            continue
        p = int(torch.argmax(ratios))
        if top is None or float(ratios[p]) > top.bound:
            top = Certificate(float(ratios[p]), describe(p))
    return top
