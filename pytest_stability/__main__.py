"""``python -m pytest_stability compare OLD.json NEW.json [--fail ratio:10%,psnr:0.5,recovery:0.1]``.

Compares two runs outside pytest (stored results from ``--stability-save`` or ``--stability-json`` reports)
and exits 1 when any result of NEW got less stable than in OLD, 0 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys

from .report.compare import DEFAULT_RULES, compare_files
from .report.store import StoreError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_stability", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    compare = commands.add_parser("compare", help="fail when NEW is less stable than OLD")
    compare.add_argument("old", help="the reference results (JSON)")
    compare.add_argument("new", help="the results to judge (JSON)")
    rules = DEFAULT_RULES.replace("%", "%%")  # argparse formats help strings with %
    compare.add_argument("--fail", default=DEFAULT_RULES, help=f"how much worse counts (default {rules})")
    args = parser.parse_args(argv)
    try:
        worse = compare_files(args.old, args.new, args.fail)
    except (StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for nodeid, reasons in worse:
        print(f"{nodeid}: {'; '.join(reasons)}")
    noun = "result" if len(worse) == 1 else "results"
    print(f"{len(worse)} {noun} got less stable" if worse else "no result got less stable")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
