"""What a check returns: a verdict, the numbers behind it, a sentence that explains it, and the pictures' data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["DECIDED_MARGIN", "CheckResult", "json_safe", "relative_margin"]

DECIDED_MARGIN = 0.1
"""A verdict whose metric lies within this fraction of its limit is fragile, not a finding; the worst-case search
stops early only once κ is past its limit by more than this."""


def relative_margin(value: float, limit: float, *, stable_above: bool = False) -> float:
    """How far a metric lies from its limit, relative to the limit, signed: positive on the stable side.

    For κ (stable at or below the limit) (limit − κ) / limit; with ``stable_above`` (ρ, a PSNR gain) (value − limit)
    / |limit|. A limit of 0 divides by 1 (the margin is then absolute). NaN counts as −∞ (unstable).
    """
    if value != value:  # NaN
        return -math.inf
    diff = value - limit if stable_above else limit - value
    return diff / (abs(limit) if limit else 1.0)



def json_safe(value: Any) -> Any:
    """Numbers, lists and dicts that ``json.dumps`` accepts: tensors become lists, ±inf and NaN become strings."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().tolist()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


@dataclass
class CheckResult:
    """One verdict of one check on one model.

    ``numbers`` are JSON-safe (see :meth:`to_dict`); ``tensors`` hold what the report draws (images,
    perturbations, reconstructions) and never go into JSON.
    """

    check: str
    model: str
    passed: bool
    explanation: str
    numbers: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    @property
    def verdict(self) -> str:
        return "stable" if self.passed else "unstable"

    def to_dict(self) -> dict[str, Any]:
        """The record written to the JSON report: check, model, passed, explanation and every number."""
        return {"check": self.check, "model": self.model, "passed": bool(self.passed),
                "explanation": self.explanation, **json_safe(self.numbers)}

    def __str__(self) -> str:
        return f"{self.check} [{self.model}]: {self.verdict} — {self.explanation}"
