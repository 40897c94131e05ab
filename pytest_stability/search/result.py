"""What a search returns: the worst perturbations per budget and image, with their numbers."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..metrics import l2_norm
from .map import PerturbationMap


@dataclass
class SearchResult:
    """Worst perturbations found for K budgets (or snapshots) and B images.

    Tensors are indexed (K, B, ...): ``perturbations`` r or e, ``outputs`` f(A(x + r)), and per-element
    numbers ``ratio`` κ, ``perturbation_norm`` ‖r‖, ``relative_perturbation`` ‖r‖/‖x‖ (‖e‖/‖y‖),
    ``output_change`` ‖Δf‖ and ``relative_output_change`` ‖Δf‖/‖f(Ax)‖. ``sigma1`` (B,) is the top singular
    value of the Jacobian at x when the corrected or the faithful search computed it. ``evaluations`` counts
    batched forward and backward calls and the images they carried; ``history`` (K, B, steps) is the best ratio
    after each step.
    """

    domain: str
    mode: str
    eps: torch.Tensor
    perturbations: torch.Tensor
    outputs: torch.Tensor
    reference: torch.Tensor
    ratio: torch.Tensor
    perturbation_norm: torch.Tensor
    relative_perturbation: torch.Tensor
    output_change: torch.Tensor
    relative_output_change: torch.Tensor
    evaluations: dict[str, int]
    history: torch.Tensor
    seed: int
    steps: int
    sigma1: torch.Tensor | None = None
    nonfinite: torch.Tensor | None = None
    stopped_early: torch.Tensor | None = None
    gradient_free: bool = False
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_best(cls, pm: PerturbationMap, *, eps: torch.Tensor, z: torch.Tensor, out: torch.Tensor,
                  history: torch.Tensor, **kwargs: Any) -> SearchResult:
        """Assemble the numbers from the best perturbations z (K, B, ...) and their outputs (K, B, ...)."""
        k, b = z.shape[:2]
        flat_z, flat_out = z.reshape(k * b, *z.shape[2:]), out.reshape(k * b, *out.shape[2:])
        index = torch.arange(b).repeat(k)
        change = pm.change(flat_out, index)
        norm = l2_norm(flat_z)
        finite = torch.isfinite(change)
        ratio = torch.where(finite, change / norm.clamp_min(torch.finfo(norm.dtype).tiny),
                            torch.full_like(change, math.inf))
        shape = (k, b)
        return cls(domain=pm.domain, eps=eps, perturbations=z, outputs=out, reference=pm.reference,
                   ratio=ratio.view(shape).cpu(), perturbation_norm=norm.view(shape).cpu(),
                   relative_perturbation=(norm / pm.scale[index]).view(shape).cpu(),
                   output_change=change.view(shape).cpu(),
                   relative_output_change=(change / l2_norm(pm.reference)[index]).view(shape).cpu(),
                   evaluations=dict(pm.counts), history=history, nonfinite=(~finite).view(shape).cpu(), **kwargs)

    @classmethod
    def concat(cls, parts: list[SearchResult]) -> SearchResult:
        """One result from the results of consecutive chunks of the images (a split batch)."""
        first = parts[0]

        def cat(name: str, dim: int) -> torch.Tensor | None:
            values = [getattr(p, name) for p in parts]
            return None if values[0] is None else torch.cat(values, dim=dim)

        per_image = {name: cat(name, 1) for name in (
            "perturbations", "outputs", "ratio", "perturbation_norm", "relative_perturbation", "output_change",
            "relative_output_change", "history", "nonfinite", "stopped_early")}
        eps = per_image["relative_perturbation"].median(dim=1).values if first.mode == "faithful" else first.eps
        return cls(domain=first.domain, mode=first.mode, eps=eps, reference=cat("reference", 0),
                   sigma1=cat("sigma1", 0), evaluations=dict(parts[-1].evaluations), seed=first.seed,
                   steps=first.steps, gradient_free=first.gradient_free,
                   notes=[*first.notes, f"searched in {len(parts)} chunks of images (memory)"], **per_image)

    def worst(self) -> tuple[int, int]:
        """(k, b) of the largest ratio."""
        flat = int(torch.argmax(torch.nan_to_num(self.ratio, posinf=1e300)))
        return divmod(flat, self.ratio.shape[1])
