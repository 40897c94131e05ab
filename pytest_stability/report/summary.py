"""The stability summary's rows: one record as a table row, and the declared expectations against the run.

Shared by the terminal summary (:mod:`.session`), the ``-v`` status line (:mod:`.plugin`) and the HTML report
(:mod:`.html`); each check's own columns come from its kind. Standard library only.
"""

from __future__ import annotations

from typing import Any

from ..kinds import kind

FRAGILE = 0.1  # = checks.result.DECIDED_MARGIN (this module imports no torch)


def margin_text(margin: Any) -> str:
    """A relative margin as a signed percentage (positive: on the stable side), "-" when there is none."""
    if margin is None:
        return "-"
    if isinstance(margin, str):  # "inf" / "-inf" from the JSON record
        return "+∞" if margin == "inf" else "−∞"
    return f"{100 * margin:+.0f} %"


def _margin_value(margin: Any) -> float | None:
    if margin is None:
        return None
    return float(margin) if not isinstance(margin, str) else (float("inf") if margin == "inf" else float("-inf"))


def expectation_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (test, check) with a declared expectation: the expectation, the check's measured verdict, its
    margin (the smallest of its items': the one closest to, or furthest past, its limit), whether they agree.

    A declared mismatch agrees with the run (the item ends as expected) and shows its reason; a fragile margin
    (within ±FRAGILE of the limit) is said."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        if r.get("expected"):
            test = r["nodeid"].replace(r.get("id", ""), "<check>", 1)
            groups.setdefault((test, r["check"]), []).append(r)
    rows = []
    for (_, check), rs in sorted(groups.items()):
        first = rs[0]
        margins = [m for m in (_margin_value(r.get("margin")) for r in rs) if m is not None]
        margin = min(margins) if margins else None
        measured = "unstable" if any(r.get("check_verdict") == "unstable" for r in rs) else "stable"
        reason = first.get("mismatch_reason")
        matches = measured == first["expected"]
        agrees = matches != (reason is not None)
        text = ("yes" if matches else f"no, declared: {reason}") if agrees else (
            "NO" if not matches else "NO (declared mismatch no longer holds)")
        fragile = margin is not None and abs(margin) < FRAGILE
        rows.append({"model": first.get("model", "?"), "check": check, "expected": first["expected"],
                     "expected_note": first.get("expected_note", ""), "measured": measured, "margin": margin,
                     "margin_text": margin_text(margin) + (" fragile" if fragile else ""), "fragile": fragile,
                     "matches": matches, "agrees": agrees, "agrees_text": text, "mismatch_reason": reason,
                     "image_shape": first.get("image_shape")})
    return rows


def summary_row(r: dict[str, Any]) -> tuple[str, str, str, str, str, str, str]:
    """(model, check, metric, limit, margin, baseline, verdict) for one record; the middle four are its kind's."""
    what, metric, limit, base = kind(r["check"]).row(r)
    verdict = "stable" if r["passed"] else ("REGRESSED" if r.get("regression") else "UNSTABLE")
    if r.get("expected") and not r.get("regression"):
        agrees = (r.get("check_verdict") == r["expected"]) != (r.get("mismatch_reason") is not None)
        verdict += " (expected)" if agrees else " (NOT expected)"
    return (r.get("model", "?"), what, metric, limit, margin_text(r.get("margin")), base, verdict)
