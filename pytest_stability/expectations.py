"""Declared findings: what a test expects of each check, and how a measured verdict is judged against it.

A test may declare, once per check and before it is measured, the finding it expects (a paper's, or a team's
known instability): ``@stable(expect={"worst_case": "unstable: Figs. 1, 2", "structure": "stable: Fig. 5"})``. The
word before the colon is the finding, the rest says where it comes from. The expectation is about the *check*, not
one of its items: the check is unstable when any of its items (an eps of the worst case, a detail of the structural
check) is unstable, and stable when all are stable, so no item can be singled out after its number is known.

How an item ends, for a check with an expectation:

* the check's verdict matches it: each item shows its own verdict, a stable item passes and an unstable one is an
  expected failure (xfail, "unstable, as expected"), so a suite of known instabilities passes;
* it does not match: every item of the check fails, naming both verdicts, so a change that moves a verdict fails
  the run. A mismatch that is a finding is declared with its reason,
  ``mismatch={"worst_case": "our analogue is trained with noise, …"}``: the item then ends as if the expectation
  matched, and the reports show the expectation, the verdict and the reason. A declared mismatch that no longer
  holds (the verdict now matches) fails too, so the declaration cannot go stale.

Standard library only (parsed at collection time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kinds import REGISTRY

FINDINGS = ("stable", "unstable")


class ExpectationError(ValueError):
    """An ``expect`` or ``mismatch`` argument that cannot be read."""


def _mapping(name: str, value: Any) -> dict[str, str]:
    """A dict check → text, from a dict or from "check: text; check: text" (command line, ini)."""
    if isinstance(value, str):
        pairs = [part.split("=", 1) for part in value.split(";") if part.strip()]
        if any(len(p) != 2 for p in pairs):
            raise ExpectationError(f"{name}: expected check=text pairs separated by ';' (e.g. "
                                   f"\"worst_case=unstable; structure=stable\"), got {value!r}.")
        value = {k.strip(): v.strip() for k, v in pairs}
    if not isinstance(value, dict) or not value:
        raise ExpectationError(f"{name}: expected a dict from check to text, e.g. {name}={{'worst_case': "
                               f"'unstable'}}, got {value!r}.")
    for check, text in value.items():
        if check not in REGISTRY:
            raise ExpectationError(f"{name}: {check!r} is not a check ({', '.join(REGISTRY)}); an expectation is "
                                   "declared once per check, never per eps or per detail.")
        if not isinstance(text, str) or not text.strip():
            raise ExpectationError(f"{name}[{check!r}]: expected a text, got {text!r}.")
    return {k: v.strip() for k, v in value.items()}


def parse_expect(name: str, value: Any) -> dict[str, tuple[str, str]]:
    """``expect``: check → (finding, note), the finding "stable" or "unstable", the note where it comes from."""
    parsed = {}
    for check, text in _mapping(name, value).items():
        finding, _, note = text.partition(":")
        finding = finding.strip().lower()
        if finding not in FINDINGS:
            raise ExpectationError(f"{name}[{check!r}]: the text must start with 'stable' or 'unstable' (then "
                                   f"optionally ': where this finding comes from'), got {text!r}.")
        parsed[check] = (finding, note.strip())
    return parsed


def parse_mismatch(name: str, value: Any) -> dict[str, str]:
    """``mismatch``: check → why the verdict differs from the expectation (a finding, said with its reason)."""
    return _mapping(name, value)


@dataclass(frozen=True)
class Judgement:
    """How one item ends against its check's expectation: ``outcome`` is "pass", "xfail" or "fail"."""

    outcome: str
    fields: dict[str, Any]
    message: str = ""


def judge(check: str, item_passed: bool, check_passed: bool, expect: dict[str, tuple[str, str]] | None,
          mismatch: dict[str, str] | None) -> Judgement:
    """The outcome of an item whose own verdict is ``item_passed`` in a check whose verdict is ``check_passed``."""
    measured = "stable" if check_passed else "unstable"
    own = "pass" if item_passed else "fail"
    if not expect or check not in expect:
        return Judgement(own, {"check_verdict": measured})
    expected, note = expect[check]
    reason = (mismatch or {}).get(check)
    matches = measured == expected
    fields = {"check_verdict": measured, "expected": expected, "expected_note": note, "matches": matches,
              "mismatch_reason": reason}
    source = f" ({note})" if note else ""
    if matches and reason is None or not matches and reason is not None:
        if item_passed:
            return Judgement("pass", fields)
        why = "as expected" if matches else f"not as expected{source}, a declared mismatch: {reason}"
        return Judgement("xfail", fields, f"unstable, {why}")
    if matches:
        return Judgement("fail", fields, f"the {check} check is {measured}, as expected{source}, but a mismatch is "
                                         f"declared for it ({reason!r}): remove it from mismatch=")
    return Judgement("fail", fields, f"expected the {check} check to be {expected}{source}, measured {measured}: if "
                                     "this is a finding, declare it with its reason, mismatch={" + repr(check) +
                                     ": '...'}")
