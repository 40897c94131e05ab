"""Check 4: fuzzing — plausible perturbations drawn by hypothesis, each judged like the paper's tests.

The worst-case check searches the one perturbation a model is most sensitive to; fuzzing draws realistic
ones (noise, patient motion, k-space spikes, phase and coil errors, intensity bias, a lesion somewhere in
the object; see :mod:`pytest_stability.strategies`) and fails on the first that breaks the model:

* a perturbation r of the images (or e of the measurements) is judged by its instability ratio

      κ = ‖f(A(x + r)) − f(Ax)‖ / ‖r‖      (or ‖f(y + e) − f(y)‖ / ‖e‖),

  per image, against the limit min(``max_ratio``, ``baseline_factor`` × κ_g), κ_g the CS baseline's ratio on
  the same input (the paper's comparison: the same r given to g); ``hypothesis.target(κ)`` steers the search
  towards larger ratios;
* a structural detail d by its recovery ρ = Re⟨f(A(x + d)) − f(Ax), d⟩ / ‖d‖², lost when ρ < ``min_recovery``
  while the baseline keeps it (ρ_g ≥ ``min_recovery``) or when ρ < ρ_g − ``recovery_margin`` (the structural
  check's rule; without a baseline ρ < ``min_recovery`` alone); ``hypothesis.target(−ρ)``.

Hypothesis stops generating at the first input past its limit and shrinks it (towards a smaller budget and
a simpler perturbation, at most ``max_shrinks`` more model calls); the verdict reports the shrunk input, the
first failing one and the worst ratio seen over the whole run. With ``rate=True`` it neither stops, steers nor
shrinks: it draws all ``examples`` inputs and the result estimates how often a drawn input fails
(``failure_rate`` with its 95 % Wilson interval ``failure_rate_ci``; :mod:`pytest_stability.rates`).
Failing inputs go to hypothesis's example
database and are replayed first next time. Settings: no deadline, the too-slow health check suppressed, the
rest from the active hypothesis profile (its ``ci`` profile derandomizes, and then no database is used).

The judging half is :class:`~.fuzz_judge.FuzzJudge` (its own module, usable on its own in ``@given`` tests); this
module drives hypothesis and turns the judge's outcomes into the check's result.
"""

from __future__ import annotations

import hashlib
import time
import unittest
from collections.abc import Sequence
from typing import Any

import hypothesis
import torch
from hypothesis import Phase, Verbosity, given
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.strategies import SearchStrategy

from ..rates import rate_numbers
from ..strategies import Perturbation, applicable_kinds, fuzz_inputs, model_settings
from .fuzz_judge import FuzzJudge, FuzzOutcome, UnstableInput
from .result import CheckResult

__all__ = ["fuzz"]


class _Stop(BaseException):
    """Ends a hypothesis run early (time limit, shrink budget): not an Exception, so hypothesis does not catch it."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# -- the check --------------------------------------------------------------------------------------
def _database(database: Any) -> ExampleDatabase | None:
    if isinstance(database, str) and database == "default":
        return hypothesis.settings.default.database
    if database is None or isinstance(database, ExampleDatabase):
        return database
    return DirectoryBasedExampleDatabase(str(database))


def _default_key(judge: FuzzJudge, kinds: Any, eps: float) -> str:
    return hashlib.sha1(repr((judge.f.name, judge.f.operator, tuple(judge.x.shape), kinds, eps)).encode()).hexdigest()


def fuzz(model: Any, images: torch.Tensor, operator: Any = None, *, examples: int = 100,
         kinds: str | Sequence[str] = "auto", eps: float = 0.02, max_ratio: float | None = None,
         baseline_factor: float | None = 2.0, baseline: Any = "tv", min_recovery: float = 0.5,
         recovery_margin: float = 0.3, seed: int | None = None, database: Any = "default",
         database_key: str | None = None, max_shrinks: int | None = None, time_limit: float | None = None,
         replay_only: bool = False, strategy: SearchStrategy[Perturbation] | None = None, rate: bool = False,
         **reconstructor_kwargs: Any) -> CheckResult:
    """Run the fuzz check: up to ``examples`` inputs drawn by hypothesis; one :class:`CheckResult`.

    ``kinds``: ``"auto"`` (every perturbation kind the operator supports, and details) or names from
    ``FUZZ_KINDS``; ``eps`` the relative budget every perturbation respects; or ``strategy``, any strategy of
    :class:`Perturbation` (e.g. ``shifts(x, max_shift=1.0)``), in place of ``kinds`` and ``eps``.
    ``seed``: None draws fresh inputs each run (hypothesis's randomness; derandomized in CI by its ``ci``
    profile) and replays the failures stored in ``database`` first (``"default"``: the active profile's,
    a path, an ``ExampleDatabase``, or None); an int makes the run deterministic (and, as in hypothesis, uses
    no database). ``database_key`` names this property in the database (default: from the model's name, the
    operator, the image shape, kinds and eps). ``max_shrinks``: model calls allowed for shrinking after the
    first failure (default ``examples``; 0: no shrinking). ``time_limit``: seconds after which no new input is
    judged. ``replay_only``: only replay stored inputs, draw none. ``rate``: draw all ``examples`` inputs with
    hypothesis's generation alone (no stored inputs, no targeting, no shrinking) and judge every one, so that
    ``failure_rate`` is the rate over untargeted draws; the verdict still fails on any failing input.

    Every result carries ``failure_rate`` and ``failure_rate_ci`` over the inputs judged: with ``rate`` over all
    the draws; without it, up to and including the first failure (hypothesis then steers towards failures and
    stops at the first, so a failing rate leans high; a passing run's interval, 0 failures in n, is honest).
    """
    if isinstance(examples, bool) or not isinstance(examples, int) or examples < 1:
        raise ValueError(f"examples must be a whole number >= 1 (how many inputs to draw), got {examples!r}.")
    if max_shrinks is not None and (isinstance(max_shrinks, bool) or not isinstance(max_shrinks, int)
                                    or max_shrinks < 0):
        raise ValueError(f"max_shrinks must be a whole number >= 0 or None, got {max_shrinks!r}.")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}.")
    judge = FuzzJudge(model, images, operator, max_ratio=max_ratio, baseline_factor=baseline_factor,
                      baseline=baseline, min_recovery=min_recovery, recovery_margin=recovery_margin,
                      **reconstructor_kwargs)
    if strategy is None:
        strategy = fuzz_inputs(judge.x, judge.operator, eps=eps, kinds=kinds)
        drawn = list(applicable_kinds(judge.operator)) + ["detail"] if kinds == "auto" else (
            [kinds] if isinstance(kinds, str) else list(dict.fromkeys(kinds)))
        if not judge.judges_ratios and drawn != ["detail"]:
            raise ValueError("no verdict criterion for perturbations: give max_ratio, or a baseline with "
                             "baseline_factor (or fuzz details only, kinds='detail').")
    else:
        drawn = ["custom strategy"]
    if rate and replay_only:
        raise ValueError("rate=True draws fresh inputs to estimate a failure rate; it cannot be combined with "
                         "replay_only=True (which draws none).")
    shrinks = 0 if rate else examples if max_shrinks is None else max_shrinks
    if rate:
        phases = [Phase.generate]
    else:
        phases = [Phase.explicit, Phase.reuse] + ([] if replay_only else [Phase.generate, Phase.target])
    if shrinks > 0:
        phases.append(Phase.shrink)
    db = None if hypothesis.settings.default.derandomize or rate else _database(database)
    run_settings = model_settings(max_examples=examples, phases=phases, database=db, report_multiple_bugs=False,
                                  verbosity=Verbosity.quiet)
    deadline = None if time_limit is None else time.monotonic() + time_limit

    @run_settings
    @given(p=strategy)
    def fuzz_probe(p: Perturbation) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise _Stop("time limit")
        if (not rate and judge.first_failure is not None and not judge.judged(p)
                and judge.evaluated - judge.evaluated_at_first_failure >= shrinks):
            raise _Stop("shrink budget")
        if rate:
            judge.evaluate(p)  # every draw judged and counted; none stops the run
        else:
            judge(p)

    fuzz_probe.hypothesis.inner_test._hypothesis_internal_add_digest = (
        database_key or _default_key(judge, drawn, eps)).encode()
    if seed is not None:
        fuzz_probe = hypothesis.seed(seed)(fuzz_probe)
    stopped, shrunk = None, None
    with judge.frozen():
        try:
            fuzz_probe()
        except UnstableInput as exc:
            shrunk = exc.outcome
        except _Stop as exc:
            stopped = exc.reason
        except unittest.SkipTest:  # hypothesis ran no input: replay only, and nothing stored
            pass
    if judge.first_failure is not None and shrunk is None:
        shrunk = judge.last_failure
    return _result(judge, shrunk, examples=examples, kinds=drawn, eps=eps, seed=seed,
                   database=db is not None and seed is None, stopped=stopped, replay_only=replay_only, rate=rate)


def _outcome_numbers(o: FuzzOutcome | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {"input": o.perturbation.describe(), "kind": o.perturbation.kind, "ratio": o.ratio, "limit": o.limit,
            "baseline_ratio": o.baseline_ratio, "recovery": o.recovery, "baseline_recovery": o.baseline_recovery,
            "image": o.image, "relative_perturbation": o.relative}


def _result(judge: FuzzJudge, shrunk: FuzzOutcome | None, *, examples: int, kinds: list[str], eps: float,
            seed: int | None, database: bool, stopped: str | None, replay_only: bool, rate: bool) -> CheckResult:
    passed = judge.failures == 0
    failing, drawn = (judge.failures, judge.evaluated) if rate or passed else (1, judge.evaluated_at_first_failure)
    failure_rate, failure_rate_ci = rate_numbers(failing, drawn)
    shown = shrunk if not passed else (judge.worst_ratio or judge.worst_recovery)
    numbers: dict[str, Any] = {
        "examples": examples, "evaluated": judge.evaluated, "failures": judge.failures, "kinds": kinds, "eps": eps,
        "max_ratio": judge.max_ratio, "baseline_factor": judge.baseline_factor, "baseline": judge.baseline_name,
        "min_recovery": judge.min_recovery, "recovery_margin": judge.recovery_margin,
        "input": None, "input_kind": None, "ratio": None, "limit": None, "baseline_ratio": None, "recovery": None,
        "baseline_recovery": None, "image": None, "relative_perturbation": None,
        "worst_ratio": None if judge.worst_ratio is None else judge.worst_ratio.ratio,
        "worst_ratio_input": None if judge.worst_ratio is None else judge.worst_ratio.perturbation.describe(),
        "worst_recovery": None if judge.worst_recovery is None else judge.worst_recovery.recovery,
        "worst_recovery_input": None if judge.worst_recovery is None else judge.worst_recovery.perturbation.describe(),
        "first_failure": _outcome_numbers(judge.first_failure),
        "found_after": judge.evaluated_at_first_failure if judge.first_failure is not None else None,
        "by_kind": dict(judge.by_kind),
        "fuzz_seed": seed, "database": database, "stopped": stopped, "replay_only": replay_only,
        "fuzz_rate": rate, "failure_rate": failure_rate, "failure_rate_ci": failure_rate_ci,
        "failure_rate_draws": drawn,
        "evaluations": judge.evaluations(),
    }
    numbers["single_spike"] = None
    spikes = judge.single_spikes(shown) if shown is not None and not passed else None
    if spikes is not None:
        locations, ratios = spikes
        k = int(torch.argmax(ratios))
        others = torch.cat([ratios[:k], ratios[k + 1:]])
        numbers["single_spike"] = {"location": list(locations[k]), "ratio": float(ratios[k]),
                                   "others": float(others.max())}
    tensors: dict[str, torch.Tensor] = {}
    if shown is not None:
        verdict = _outcome_numbers(shown)
        verdict["input_kind"] = verdict.pop("kind")
        numbers.update(verdict)
        b = shown.image
        pm, _ = judge.maps_for(shown.perturbation.domain)
        p = shown.perturbation
        tensors = {"x": judge.x[b:b + 1], "perturbation": p.image(judge.operator)[b:b + 1].to(judge.x.device),
                   "reconstruction": pm.reference[b:b + 1], "perturbed_reconstruction": shown.output}
    return CheckResult("fuzz", judge.f.name, passed, _explain(judge, shown, numbers, passed), numbers, tensors)


def _explain(judge: FuzzJudge, shown: FuzzOutcome | None, n: dict[str, Any], passed: bool) -> str:
    inputs = f"{n['evaluated']} drawn input{'s' if n['evaluated'] != 1 else ''}"
    note = ""
    if n["stopped"] == "time limit":
        note = " (stopped at the time limit)"
    elif n["stopped"] == "shrink budget":
        note = " (shrinking stopped at its budget: the input is the smallest failing one found by then)"
    kinds = ", ".join(f"{k} {'ρ' if k == 'detail' else 'κ'} {v:.3g}" for k, v in n["by_kind"].items())
    per_kind = f"; worst per kind: {kinds}" if kinds else ""
    if shown is None:
        if n["replay_only"]:
            return "no stored failing input to replay"
        return f"no input judged{note}"
    if passed:
        return (f"stable on all {inputs} ({', '.join(n['kinds'])}; eps = {n['eps']:g}){note}: "
                f"{judge.worst_text()}{per_kind}; {_rate_text(n)}")
    first = judge.first_failure
    text = f"{judge.verdict_text(shown)}{note}"
    if n.get("single_spike") is not None:
        spike = n["single_spike"]
        text += (f"; alone, the spike at {tuple(spike['location'])} gives κ = {spike['ratio']:.3g} (the others at most "
                 f"{spike['others']:.3g})")
    if first is not None and first is not shown:
        text += f"; first failing input: {judge.verdict_text(first)}"
    judged = f"{n['evaluated']} input{'s' if n['evaluated'] != 1 else ''} judged"
    return (f"{text}; {n['failures']} of {judged} past the limit ({', '.join(n['kinds'])}; eps = {n['eps']:g}); "
            f"{_rate_text(n)}; {judge.worst_text()}{per_kind}")


def _rate_text(n: dict[str, Any]) -> str:
    """The failure rate in words: its estimate, its 95 % interval and what it is over."""
    rate, (lo, hi), draws = n["failure_rate"], n["failure_rate_ci"], n["failure_rate_draws"]
    over = f"{draws} draw{'s' if draws != 1 else ''}"
    if not n["fuzz_rate"] and n["failures"]:
        over += " up to the first failure, steered towards it: leans high"
    return f"failure rate {100 * rate:.0f} % [{100 * lo:.0f} %, {100 * hi:.0f} %] (95 %, {over})"
