"""The zoo's findings against the paper, over training seeds: ``python -m conftest_examples.findings SEED=JSON ...``.

Each argument is a training seed and the JSON report of the demo run on that seed's weights
(``STABILITY_ZOO_SEED=1 pytest --stability conftest_examples --stability-json=seed1.json``). Prints the Markdown
table of docs/examples.md: per network and check, the finding declared before measuring (``expect=``, the paper's),
the verdict and margin of each seed, and whether it is reproduced. A finding is reproduced when three seeds' verdicts
equal the declared one, each with a margin of at least 10 % of its limit; otherwise the table says why not (or that
fewer seeds were measured).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pytest_stability.kinds import CHECKS
from pytest_stability.report.summary import FRAGILE, margin_text

SEEDS_NEEDED = 3
"""Training seeds a finding must hold on (each at least FRAGILE from its limit) before it is called reproduced."""


def checks(records: list[dict]) -> dict[tuple[str, str], dict]:
    """Per (model, check): the check's verdict (unstable if any item is), its margin (the smallest of its items'),
    the declared expectation and mismatch reason, the image size."""
    out: dict[tuple[str, str], dict] = {}
    for r in records:
        key = (r["model"], r["check"])
        entry = out.setdefault(key, {"unstable": False, "margins": [], "expected": r.get("expected"),
                                     "note": r.get("expected_note") or "", "reason": r.get("mismatch_reason"),
                                     "shape": r.get("image_shape")})
        entry["unstable"] |= r.get("check_verdict", "stable" if r["passed"] else "unstable") == "unstable"
        m = r.get("margin")
        if m is not None:
            entry["margins"].append(float(m))  # "inf" / "-inf" from JSON parse too
    for entry in out.values():
        entry["verdict"] = "unstable" if entry["unstable"] else "stable"
        entry["margin"] = min(entry["margins"]) if entry["margins"] else None
    return out


def row(model: str, check: str, by_seed: dict[int, dict], seeds: list[int]) -> str:
    """One table row over ``seeds``; a seed whose run lacks this network and check shows "-" and keeps the finding
    from being called reproduced."""
    first = next(iter(by_seed.values()))
    expected = first["expected"]
    cells = []
    for seed in seeds:
        e = by_seed.get(seed)
        cells.append("-" if e is None else
                     f"{'**U**' if e['verdict'] == 'unstable' else 'S'} ({margin_text(e['margin'])})")
    shape = "×".join(map(str, first["shape"] or [])) or "-"
    if expected is None:
        paper, verdict = "— (not reported)", "not declared"
    else:
        paper = ("U" if expected == "unstable" else "S") + (f" ({first['note']})" if first["note"] else "")
        why = []
        differ = [s for s, e in by_seed.items() if e["verdict"] != expected]
        fragile = [s for s, e in by_seed.items() if e["margin"] is not None and abs(e["margin"]) < FRAGILE]
        missing = [s for s in seeds if s not in by_seed]
        if missing:
            why.append(f"seed{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} not measured")
        if differ:
            why.append(f"seed{'s' if len(differ) > 1 else ''} {', '.join(map(str, differ))} "
                       f"{'differ' if len(differ) > 1 else 'differs'}")
        if fragile:
            why.append(f"within {100 * FRAGILE:.0f} % of the limit on seed{'s' if len(fragile) > 1 else ''} "
                       f"{', '.join(map(str, fragile))}")
        if first["reason"]:
            why.append(f"declared: {first['reason']}")
        present = [s for s in seeds if s in by_seed]
        if why == why[:1] and missing and not differ and not fragile and not first["reason"]:
            verdict = (f"as declared on seed{'s' if len(present) > 1 else ''} {', '.join(map(str, present))}; "
                       f"{why[0]}")
        elif why:
            verdict = "not, because " + "; ".join(why)
        elif len(seeds) < SEEDS_NEEDED:
            verdict = (f"as declared on seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}; not yet a "
                       f"finding ({SEEDS_NEEDED} seeds needed)")
        else:
            verdict = "**reproduced**"
    return f"| {model} | {shape} | {check} | {paper} | " + " | ".join(cells) + f" | {verdict} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="SEED=JSON")
    args = parser.parse_args()
    per_seed = {}
    for spec in args.runs:
        seed, _, path = spec.partition("=")
        per_seed[int(seed)] = checks(json.loads(Path(path).read_text())["results"])
    seeds = sorted(per_seed)
    keys = sorted({k for found in per_seed.values() for k in found}, key=lambda k: (k[0], CHECKS.index(k[1])))
    print("| network | image | check | paper | " + " | ".join(f"seed {s}" for s in seeds) + " | reproduced? |")
    print("|---|---|---|---|" + "---|" * len(seeds) + "---|")
    for model, check in keys:
        print(row(model, check, {s: per_seed[s][(model, check)] for s in seeds if (model, check) in per_seed[s]},
                  seeds))


if __name__ == "__main__":
    main()
