"""The stability summary: one record as a table row, the declared expectations against the run, the terminal table.

Shared by the terminal summary (:func:`summary_lines`), the ``-v`` status line (:mod:`.plugin`) and the HTML report
(:mod:`.html`); each check's own columns come from its kind. Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..kinds import kind
from ..kinds.base import number
from ..records import Record
from .compare import rule_of

FRAGILE = 0.1  # = checks.result.DECIDED_MARGIN (this module imports no torch)


def margin_text(margin: Any) -> str:
    """A relative margin as a signed percentage (positive: on the stable side), "-" when there is none."""
    if margin is None:
        return "-"
    if isinstance(margin, str):  # "inf" / "-inf" from the JSON record
        return "+∞" if margin == "inf" else "−∞"
    return f"{100 * margin:+.0f} %"


def expectation_rows(records: Sequence[Record]) -> list[dict[str, Any]]:
    """One row per (test, check) with a declared expectation: the expectation, the check's measured verdict, its
    margin (the smallest of its items': the one closest to, or furthest past, its limit), whether they agree.

    A declared mismatch agrees with the run (the item ends as expected) and shows its reason; a fragile margin
    (within ±FRAGILE of the limit) is said."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        if r.expected:
            test = r.nodeid.replace(r.id, "<check>", 1)
            groups.setdefault((test, r.check), []).append(r)
    rows = []
    for (_, check), rs in sorted(groups.items()):
        first = rs[0]
        margins = [m for m in (number(r.margin) for r in rs) if m is not None]
        margin = min(margins) if margins else None
        measured = "unstable" if any(r.check_verdict == "unstable" for r in rs) else "stable"
        reason = first.mismatch_reason
        matches = measured == first.expected
        agrees = matches != (reason is not None)
        text = ("yes" if matches else f"no, declared: {reason}") if agrees else (
            "NO" if not matches else "NO (declared mismatch no longer holds)")
        fragile = margin is not None and abs(margin) < FRAGILE
        rows.append({"model": first.model, "check": check, "expected": first.expected,
                     "expected_note": first.expected_note, "measured": measured, "margin": margin,
                     "margin_text": margin_text(margin) + (" fragile" if fragile else ""), "fragile": fragile,
                     "matches": matches, "agrees": agrees, "agrees_text": text, "mismatch_reason": reason,
                     "image_shape": first.image_shape})
    return rows


def expected_failure(r: Record) -> bool:
    """Whether the item is a recorded expected failure (pytest's xfail): unstable, as declared with expect=
    (or under a declared mismatch), and no regression."""
    return not r.passed and not r.regression and bool(r.expected) and _agrees(r)


def _agrees(r: Record) -> bool:
    return (r.check_verdict == r.expected) != (r.mismatch_reason is not None)


def summary_row(r: Record) -> tuple[str, str, str, str, str, str, str]:
    """(model, check, metric, limit, margin, baseline, verdict) for one record; the middle four are its kind's
    (the limit cell says which side of the limit the metric is and the rule that set it)."""
    what, metric, limit, base = kind(r.check).row(r)
    verdict = "stable" if r.passed else ("UNSTABLE" if not r.regression else
                                         f"REGRESSED ({'; '.join(rule_of(w) for w in r.regression)})")
    if expected_failure(r):
        verdict += " xfail (expected)"
    elif r.expected and not r.regression:
        verdict += " (expected)" if _agrees(r) else " (NOT expected)"
    return (r.model, what, metric, limit, margin_text(r.margin), base, verdict)


def summary_lines(records: Sequence[Record], *, details: bool = False, written: Sequence[Any] = (),
                  html_path: Any = None) -> list[str]:
    """The terminal summary: the headline count, one row per record (failures first), the declared findings
    against the run, with ``details`` each record's explanation, and the files written."""
    if not records:
        return []
    stable = sum(r.passed for r in records)
    regressed = sum(bool(r.regression) for r in records)
    headline = f"{stable} stable, {len(records) - stable} unstable"
    expected = sum(expected_failure(r) for r in records)
    if expected:
        headline += f" ({expected} of them expected: xfail)"
    if regressed:
        headline += f" ({regressed} less stable than the stored run)"
    lines = [headline]
    rows = [("model", "check", "metric", "limit", "margin", "baseline", "verdict")]
    ordered = sorted(records, key=lambda r: (r.passed, r.nodeid))  # failures first
    rows += [summary_row(r) for r in ordered]
    lines += _table(rows)
    findings = expectation_rows(records)
    if findings:
        agree = sum(f["agrees"] for f in findings)
        differ = _plural(len(findings) - agree, "check")
        lines += ["", f"expected findings: {agree} of {len(findings)} checks as declared ({differ} differ from it; "
                      f"margins within ±{100 * FRAGILE:.0f} % of a limit are fragile)"]
        lines += _table([("model", "check", "expected", "measured", "margin", "agrees")]
                        + [(f["model"], f["check"], f["expected"], f["measured"], f["margin_text"],
                            f["agrees_text"]) for f in findings])
    if details:
        lines.append("")
        for r in ordered:
            lines.append(f"{r.nodeid}: {'stable' if r.passed else 'UNSTABLE'} — {r.explanation}")
    for path in written:
        lines.append(f"stability results written to {path}")
    if html_path is not None:
        lines.append(f"stability report: {html_path}")
    return lines


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    """Rows as left-aligned columns, with a rule under the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return lines
