"""The results JSON (``--stability-json``, ``--stability-report``'s results.json): the document and its text.

The document is ``{"version", "complete", "exitstatus", "environment", "results": [record, ...]}`` (its fields are
documented in docs/reports.md). The plugin rewrites it after every finished record, so :class:`ResultsText`
encodes each record once and joins the texts: encoding every record on every write would cost O(n²) (measured:
40 s over a 1000-item run); this costs about a millisecond a write. Standard library only.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from typing import Any

from ..records import Record

JSON_VERSION = 1


def document(records: list[dict[str, Any]], environment: dict[str, Any], *, complete: bool,
             exitstatus: int | None) -> dict[str, Any]:
    """The results document of a run with these records."""
    return {"version": JSON_VERSION, "complete": complete, "exitstatus": exitstatus, "environment": environment,
            "results": records}


class ResultsText:
    """The text of the :func:`document` of a run's records as ``json.dump(indent=1, sort_keys=True)`` writes it,
    each record encoded only once (records are only ever appended)."""

    def __init__(self) -> None:
        self._records: list[str] = []

    def __call__(self, records: Sequence[Record], environment: dict[str, Any], *, complete: bool,
                 exitstatus: int | None) -> str:
        self._records += [textwrap.indent(json.dumps(r.to_json(), indent=1, sort_keys=True, allow_nan=False), "  ")
                          for r in records[len(self._records):]]
        results = "[\n" + ",\n".join(self._records) + "\n ]" if self._records else "[]"
        doc = {**document([], environment, complete=complete, exitstatus=exitstatus), "results": None}
        head = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False)
        # '\n "results"' is the top-level key: nested keys are indented further, strings hold no raw newline
        return head.replace('\n "results": null', f'\n "results": {results}', 1) + "\n"
