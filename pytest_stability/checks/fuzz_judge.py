"""The fuzz check's judge: one drawn perturbation or detail, judged like the paper's tests, and its verdict in words.

* a perturbation r of the images (or e of the measurements) is judged by its instability ratio
  κ = ‖f(A(x + r)) − f(Ax)‖ / ‖r‖ (or per ‖e‖), per image, against the κ limit of :mod:`.rules`, κ_g the CS
  baseline's ratio on the same input;
* a structural detail d by its recovery ρ = Re⟨f(A(x + d)) − f(Ax), d⟩ / ‖d‖², against the detail-lost rule of
  :mod:`.rules`.

:class:`FuzzJudge` is usable on its own, for ``@given`` tests of your own (the ``make_fuzz_judge`` fixture builds
one): call it on each drawn :class:`~pytest_stability.strategies.Perturbation`; it raises :class:`UnstableInput`
with the verdict in words on the first input past its limit. The hypothesis driver is :func:`.fuzz.fuzz`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import torch
from hypothesis.errors import InvalidArgument

from ..inputs import prepare_images
from ..metrics import l2_norm, recovery
from ..models import Reconstructor, as_reconstructor, frozen
from ..search import PerturbationMap
from ..strategies import Perturbation
from .references import reference
from .rules import detail_lost, kappa_limit

__all__ = ["FuzzJudge", "FuzzOutcome", "UnstableInput"]


@dataclass
class FuzzOutcome:
    """The verdict on one drawn input, for the image ``image`` it is judged by (the worst failing one, else the
    worst): κ, its limit and κ_g for a perturbation; ρ and ρ_g for a detail. ``output`` is f on that image."""

    perturbation: Perturbation
    passed: bool
    image: int
    ratio: float | None
    limit: float | None
    baseline_ratio: float | None
    recovery: float | None
    baseline_recovery: float | None
    relative: float
    output: torch.Tensor

    @property
    def is_detail(self) -> bool:
        return self.perturbation.kind == "detail"


class UnstableInput(AssertionError):
    """A drawn input past the limit; ``outcome`` holds its numbers."""

    def __init__(self, message: str, outcome: FuzzOutcome):
        super().__init__(message)
        self.outcome = outcome


def _check_limits(max_ratio: float | None, baseline_factor: float | None, min_recovery: float,
                  recovery_margin: float) -> None:
    if max_ratio is not None and not max_ratio > 0:
        raise ValueError(f"max_ratio must be positive or None, got {max_ratio!r}.")
    if baseline_factor is not None and not baseline_factor > 0:
        raise ValueError(f"baseline_factor must be positive or None, got {baseline_factor!r}.")
    if not -1.0 <= min_recovery <= 1.0:
        raise ValueError(f"min_recovery must lie in [-1, 1] (a recovery coefficient ρ), got {min_recovery!r}.")
    if recovery_margin < 0:
        raise ValueError(f"recovery_margin must be >= 0, got {recovery_margin!r}.")


class FuzzJudge:
    """Judges drawn inputs on a model: ``judge(p)`` evaluates a :class:`Perturbation`, calls
    ``hypothesis.target`` (inside a ``@given`` test) and raises :class:`UnstableInput`, an AssertionError whose
    message names the input, its numbers and the worst ratio seen so far, when p is past the limit.

    ``model``, ``images`` (B, C, H, W), ``operator`` and ``reconstructor_kwargs`` as for the other checks;
    limits as in the module docstring. Results are memoised per input (hypothesis replays inputs), and the
    judge keeps the run's record: ``evaluated``, ``failures``, ``first_failure``, ``worst_ratio`` (the outcome
    with the largest κ), ``worst_recovery`` (smallest ρ) and ``by_kind`` (the worst number per kind).
    """

    def __init__(self, model: Any, images: torch.Tensor, operator: Any = None, *, max_ratio: float | None = None,
                 baseline_factor: float | None = 2.0, baseline: Any = "tv", min_recovery: float = 0.5,
                 recovery_margin: float = 0.3, **reconstructor_kwargs: Any):
        _check_limits(max_ratio, baseline_factor, min_recovery, recovery_margin)
        self.f: Reconstructor = as_reconstructor(model, operator, **reconstructor_kwargs)
        self.x = prepare_images(images, self.f)
        self.g = reference(baseline, self.f.operator)
        self.max_ratio, self.baseline_factor = max_ratio, baseline_factor
        self.min_recovery, self.recovery_margin = min_recovery, recovery_margin
        self._maps: dict[str, tuple[PerturbationMap, PerturbationMap | None]] = {}
        self._memo: dict[tuple, FuzzOutcome] = {}
        self._frozen_depth = 0
        self.reset()

    @property
    def images(self) -> torch.Tensor:
        return self.x

    @property
    def operator(self) -> Any:
        return self.f.operator

    @property
    def judges_ratios(self) -> bool:
        """Whether perturbations have a limit on κ (max_ratio, or a baseline with baseline_factor)."""
        return self.max_ratio is not None or (self.g is not None and self.baseline_factor is not None)

    @property
    def baseline_name(self) -> str | None:
        return None if self.g is None else self.g.name

    def reset(self) -> None:
        """Forget the run's record (not the memo of evaluated inputs)."""
        self.evaluated = 0
        self.failures = 0
        self.first_failure: FuzzOutcome | None = None
        self.evaluated_at_first_failure = 0
        self.last_failure: FuzzOutcome | None = None
        self.worst_ratio: FuzzOutcome | None = None
        self.worst_recovery: FuzzOutcome | None = None
        self.by_kind: dict[str, float] = {}

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Keep the model (and baseline) read-only for a whole run instead of per call."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(frozen(self.f.model))
            if self.g is not None:
                stack.enter_context(frozen(self.g.model))
            self._frozen_depth += 1
            try:
                yield
            finally:
                self._frozen_depth -= 1

    def evaluations(self) -> dict[str, int]:
        """Model calls so far (batched calls and images, as the worst-case check counts them)."""
        total = {"forward": 0, "forward_images": 0}
        for pm, _ in self._maps.values():
            for k in total:
                total[k] += pm.counts[k]
        return total

    # -- judging ---------------------------------------------------------------------------------
    def __call__(self, p: Perturbation) -> FuzzOutcome:
        __tracebackhide__ = True
        outcome = self.evaluate(p)
        value = -outcome.recovery if outcome.is_detail else outcome.ratio
        if value is not None and math.isfinite(value):
            try:
                hypothesis.target(value, label="detail loss −ρ" if outcome.is_detail else "instability ratio κ")
            except InvalidArgument:  # outside a @given test, or a second input judged in the same example
                pass
        if not outcome.passed:
            raise UnstableInput(self.failure_message(outcome), outcome)
        return outcome

    def judged(self, p: Perturbation) -> bool:
        """Whether ``p`` was evaluated already (a replay costs nothing)."""
        return p.key in self._memo

    def evaluate(self, p: Perturbation) -> FuzzOutcome:
        """The verdict on ``p`` (memoised), recorded in the run's numbers; raises nothing."""
        if not isinstance(p, Perturbation):
            raise TypeError(f"the fuzz judge takes a pytest_stability.strategies.Perturbation, got {type(p).__name__}; "
                            "draw it from a strategy of pytest_stability.strategies.")
        if p.key in self._memo:
            return self._memo[p.key]
        with contextlib.ExitStack() as stack:
            if self._frozen_depth == 0:
                stack.enter_context(self.frozen())
            outcome = self._judge(p)
        self._memo[p.key] = outcome
        self._record(outcome)
        return outcome

    def maps_for(self, domain: str) -> tuple[PerturbationMap, PerturbationMap | None]:
        if domain not in self._maps:
            pm_g = None if self.g is None else PerturbationMap(self.g, self.x, domain)
            self._maps[domain] = (PerturbationMap(self.f, self.x, domain), pm_g)
        return self._maps[domain]

    @staticmethod
    def _run(pm: PerturbationMap, z: torch.Tensor, detail: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """(κ or ρ per image (B,) on the CPU, outputs)."""
        index = torch.arange(pm.batch)
        with torch.no_grad():
            out = pm.evaluate(z, index)
        if detail:
            value = recovery(out - pm.reference, z)
        else:
            norm = l2_norm(z)
            change = pm.change(out, index)
            value = torch.where(norm > 0, change / norm.clamp_min(torch.finfo(norm.dtype).tiny),
                                torch.zeros_like(change))
            value = torch.where(torch.isfinite(change), value, torch.full_like(value, math.inf))
        return value.detach().cpu().double(), out.detach()

    def _judge(self, p: Perturbation) -> FuzzOutcome:
        pm, pm_g = self.maps_for(p.domain)
        template = pm.template()
        z = p.tensor.to(template.device)
        if z.is_complex() == template.is_complex():
            z = z.to(template.dtype)
        if z.shape != template.shape:
            where = "images" if p.domain == "image" else "measurements"
            raise ValueError(f"the drawn {p.kind} perturbation has shape {tuple(z.shape)} but the {where} are "
                             f"{tuple(template.shape)}; build the strategy from the judge's images and operator "
                             "(judge.images, judge.operator).")
        detail = p.kind == "detail"
        if not detail and not self.judges_ratios:
            raise ValueError(f"no verdict criterion for the {p.kind} perturbation: give max_ratio, or a baseline with "
                             "baseline_factor (a judge without them judges details only).")
        value, out = self._run(pm, z, detail)
        ref = self._run(pm_g, z, detail)[0] if pm_g is not None else None
        relative = (l2_norm(z).cpu() / pm.scale.cpu()).double()
        if detail:
            lost, limits = detail_lost(value, ref, self.min_recovery, self.recovery_margin)
            b = int(torch.argmin(torch.where(lost, value, value + 10.0)))
            return FuzzOutcome(p, not bool(lost.any()), b, None, float(limits[b]), None, float(value[b]),
                               None if ref is None else float(ref[b]), float(relative[b]), out[b:b + 1])
        limit = kappa_limit(value, self.max_ratio, self.baseline_factor, ref)
        over = value > limit
        margin = value / limit
        worst = torch.where(over, margin, torch.full_like(margin, -math.inf)) if bool(over.any()) else value
        b = int(torch.argmax(worst))
        return FuzzOutcome(p, not bool(over.any()), b, float(value[b]), float(limit[b]),
                           None if ref is None else float(ref[b]), None, None, float(relative[b]), out[b:b + 1])

    def _record(self, o: FuzzOutcome) -> None:
        self.evaluated += 1
        kind = o.perturbation.kind
        if o.is_detail:
            if self.worst_recovery is None or o.recovery < self.worst_recovery.recovery:
                self.worst_recovery = o
            self.by_kind[kind] = min(self.by_kind.get(kind, math.inf), o.recovery)
        else:
            if self.worst_ratio is None or o.ratio > self.worst_ratio.ratio:
                self.worst_ratio = o
            self.by_kind[kind] = max(self.by_kind.get(kind, -math.inf), o.ratio)
        if not o.passed:
            self.failures += 1
            self.last_failure = o
            if self.first_failure is None:
                self.first_failure = o
                self.evaluated_at_first_failure = self.evaluated

    def single_spikes(self, o: FuzzOutcome) -> tuple[list[tuple[int, int]], torch.Tensor] | None:
        """For a failing draw of several k-space spikes: each spike alone, judged in one batch. Returns the
        locations (row, column from the k-space centre) and their ratios κ (n,) on the outcome's image."""
        p = o.perturbation
        if p.kind != "spike" or o.is_detail:
            return None
        pm, _ = self.maps_for(p.domain)
        e = p.tensor.to(pm.template().device)
        where = torch.nonzero(e.abs().sum(dim=(0, 1)) > 0)  # (n, 2) rows, columns
        if where.shape[0] < 2:
            return None
        n, b = where.shape[0], o.image
        alone = torch.zeros(n, *e.shape[1:], dtype=e.dtype, device=e.device)
        alone[torch.arange(n, device=e.device), :, where[:, 0], where[:, 1]] = e[b, :, where[:, 0], where[:, 1]].T
        with contextlib.ExitStack() as stack:
            if self._frozen_depth == 0:
                stack.enter_context(self.frozen())
            with torch.no_grad():
                index = torch.full((n,), b, dtype=torch.long)
                ratio = (pm.change(pm.evaluate(alone, index), index) / l2_norm(alone)).cpu()
        h, w = self.f.operator.image_shape
        return [(int(r) - h // 2, int(c) - w // 2) for r, c in where.tolist()], ratio

    # -- words -----------------------------------------------------------------------------------
    def limits_text(self, o: FuzzOutcome) -> str:
        parts = []
        if self.max_ratio is not None:
            parts.append(f"max_ratio {self.max_ratio:.3g}")
        if o.baseline_ratio is not None and self.baseline_factor is not None:
            parts.append(f"{self.baseline_factor:.3g} × the {self.baseline_name}'s κ_g = {o.baseline_ratio:.3g} on the "
                         "same input")
        return "; ".join(parts)

    def verdict_text(self, o: FuzzOutcome) -> str:
        """One sentence on one input: its numbers against its limit."""
        where = f"on {o.perturbation.describe()} (image {o.image})"
        if o.is_detail:
            keeps = ("" if o.baseline_recovery is None else
                     f" (the {self.baseline_name}: ρ_g = {o.baseline_recovery:.2f})")
            if o.passed:
                return f"ρ = {o.recovery:.2f}{keeps} {where}"
            if o.baseline_recovery is not None and o.recovery >= self.min_recovery:
                return (f"detail weakened: ρ = {o.recovery:.2f} is more than {self.recovery_margin:.2f} below the "
                        f"{self.baseline_name}'s ρ_g = {o.baseline_recovery:.2f} {where}")
            return f"detail lost: ρ = {o.recovery:.2f} < min_recovery {self.min_recovery:.2f}{keeps} {where}"
        if not math.isfinite(o.ratio):
            return f"the model returns NaN/Inf {where}: unstable by definition"
        sign = "≤" if o.passed else ">"
        return f"κ = {o.ratio:.3g} {sign} limit {o.limit:.3g} ({self.limits_text(o)}) {where}"

    def worst_text(self) -> str:
        parts = []
        if self.worst_ratio is not None:
            parts.append(f"worst κ seen = {self.worst_ratio.ratio:.3g} on {self.worst_ratio.perturbation.describe()} "
                         f"(image {self.worst_ratio.image})")
        if self.worst_recovery is not None:
            parts.append(f"worst detail recovery seen ρ = {self.worst_recovery.recovery:.2f} on "
                         f"{self.worst_recovery.perturbation.describe()} (image {self.worst_recovery.image})")
        return "; ".join(parts)

    def failure_message(self, o: FuzzOutcome) -> str:
        return f"UNSTABLE [{self.f.name}]: {self.verdict_text(o)}; {self.worst_text()} ({self.evaluated} inputs judged)"
