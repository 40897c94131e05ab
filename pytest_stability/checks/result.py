"""What a check returns: a verdict, the numbers behind it, a sentence that explains it, and the pictures' data."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..names import CHECKS

__all__ = ["CHECKS", "CheckResult", "json_safe"]



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
