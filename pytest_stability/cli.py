"""The ``pytest-stability`` command: read saved results outside pytest (also ``python -m pytest_stability``).

* ``show RESULTS.json`` prints the stability summary of a run (failures first, the declared findings after);
* ``compare OLD.json NEW.json`` exits 1 when a result of NEW is less stable than in OLD (the CI gate's rules);
* ``report RESULTS.json DIR`` renders the HTML report of a run into DIR (e.g. the results.json of a CI job).

RESULTS is a ``--stability-json`` report, a report folder's results.json or a ``--stability-save`` store. Exit
status: 0, 1 (compare: something got less stable), 2 (a file that cannot be read, bad arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .kinds import record
from .report.compare import DEFAULT_RULES, compare_files
from .report.results import document
from .report.store import StoreError, load_results
from .report.summary import summary_lines


def _records(path: str) -> list[dict[str, Any]]:
    """The JSON records of a results file or store, each with its node id, in the file's order."""
    _exists(path)
    return [{"nodeid": nodeid, **data} for nodeid, data in load_results(Path(path)).items()]


def _exists(path: str) -> None:
    if not Path(path).is_file():
        raise StoreError(f"{path}: no such file")


def _show(args: argparse.Namespace) -> int:
    records = [record(r) for r in _records(args.results)]
    lines = summary_lines(records, details=args.details)
    print("\n".join(lines) if lines else f"{args.results}: no stability results")
    return 0


def _compare(args: argparse.Namespace) -> int:
    _exists(args.old)
    _exists(args.new)
    worse = compare_files(args.old, args.new, args.fail, flag="--fail")
    for nodeid, reasons in worse:
        print(f"{nodeid}: {'; '.join(reasons)}")
    noun = "result" if len(worse) == 1 else "results"
    print(f"{len(worse)} {noun} got less stable" if worse else "no result got less stable")
    return 1 if worse else 0


def _report(args: argparse.Namespace) -> int:
    from .report.html import write_html

    source = json.loads(Path(args.results).read_text(encoding="utf-8"))
    run = source if isinstance(source, dict) else {}
    doc = document(_records(args.results), run.get("environment") or {}, complete=run.get("complete", True),
                   exitstatus=run.get("exitstatus"))
    print(f"stability report: {write_html(Path(args.dir), doc, single_file=args.single_file)}")
    return 0


def parser(prog: str = "pytest-stability") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Read saved stability results outside pytest: print their "
                                "summary (show), gate on them (compare), render their HTML report (report).")
    commands = p.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="print the summary table of a run, failures first",
                               description="Print the stability summary of saved results: one row per item "
                                           "(failures first) and the declared findings against the run.")
    show.add_argument("results", help="a --stability-json report, a report's results.json or a store")
    show.add_argument("--details", action="store_true", help="each item's explanation too")
    show.set_defaults(run=_show)
    compare = commands.add_parser("compare", help="fail when NEW is less stable than OLD",
                                  description="Exit 1 when any result of NEW got less stable than in OLD.")
    compare.add_argument("old", help="the reference results (JSON)")
    compare.add_argument("new", help="the results to judge (JSON)")
    rules = DEFAULT_RULES.replace("%", "%%")  # argparse formats help strings with %
    compare.add_argument("--fail", default=DEFAULT_RULES, help=f"how much worse counts (default {rules})")
    compare.set_defaults(run=_compare)
    report = commands.add_parser("report", help="render the HTML report of saved results",
                                 description="Write DIR/index.html from saved results. Pictures need the run's "
                                             "items/ folder (--stability-save-tensors) in DIR; without it the "
                                             "page has the numbers, the tables and the plots.")
    report.add_argument("results", help="a --stability-json report or a report's results.json")
    report.add_argument("dir", help="the folder to write index.html into (the run's report folder for pictures)")
    report.add_argument("--single-file", action="store_true", help="inline the pictures: one self-contained file")
    report.set_defaults(run=_report)
    return p


def main(argv: list[str] | None = None, prog: str = "pytest-stability") -> int:
    args = parser(prog).parse_args(argv)
    try:
        return args.run(args)
    except (StoreError, ValueError, OSError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 2


__all__ = ["main"]
