"""``python -m pytest_stability show|compare|report ...``: the ``pytest-stability`` command (:mod:`.cli`)."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m pytest_stability"))
