"""Keeps the items of one ``@stable`` test on one xdist worker under ``--dist loadgroup``, whatever pytest's node ids.

The items of one test share their work: one worst-case search for all its eps values, one structural check for
all its details (:func:`.runner.group_key`). Spread over two workers, each would repeat it. xdist's loadgroup learns
an item's group from an ``@group`` suffix its workers append to the node id; since pytest 9.2 (structured node ids)
the suffix no longer takes effect and loadgroup silently distributes every item on its own (pytest-xdist#1386).
This scheduler reads a stability item's group from the node id itself: the check id (``worst_case-eps=0.02``,
``structure-heart``: a fixed grammar, see :mod:`pytest_stability.kinds`) with its eps or detail left out, the
way the items share their work (:func:`.runner.group_key`). Other items, and items the user put in an
``xdist_group`` of their own (when the suffix works), are scheduled as loadgroup does.

It also sends the dearest units first: every worst-case search, then every structural check, then the rest, each in
xdist's order. xdist's loadgroup starts with the units of most items (a structural check's six details) and keeps
two units queued per worker, so a search could be left for the end of the run while the other worker idled.
"""

from __future__ import annotations

import re
from typing import Any

from xdist.scheduler import LoadGroupScheduling

from ..names import DETAIL_NAMES

# A shared check's id as one of the "-"-joined parametrization ids: eps as formatted by {:g}, or a detail name.
_SHARED_ID = re.compile(r"(?<=[\[-])(?:(worst_case-)eps=\d+(?:\.\d+)?(?:e[+-]\d+)?|(structure-)(?:"
                        + "|".join(map(re.escape, DETAIL_NAMES)) + r"))(?=[-\]])")
_WORST_CASE, _STRUCTURE = "worst_case-<eps>", "structure-<detail>"


def stability_group(nodeid: str) -> str | None:
    """The group of the item ``nodeid`` when it is an item of a shared check, else None."""
    params = nodeid.rfind("[")
    found = _SHARED_ID.search(nodeid, params) if params >= 0 else None
    if found is None:
        return None
    shared = _WORST_CASE if found.group(1) else _STRUCTURE
    return nodeid[:found.start()] + shared + nodeid[found.end():]


def _cost_rank(scope: str) -> int:
    """0 for a worst-case search, 1 for a structural check, 2 for anything else."""
    return 0 if _WORST_CASE in scope else 1 if _STRUCTURE in scope else 2


class StabilityGroupScheduling(LoadGroupScheduling):
    """loadgroup, with the items of one stability test's shared check as one work unit, the dearest first."""

    def __init__(self, config: Any, log: Any = None):
        super().__init__(config, log)
        self._ordered = False

    def _assign_work_unit(self, node: Any) -> None:
        if not self._ordered:  # the queue is complete before the first unit is assigned
            units = sorted(self.workqueue.items(), key=lambda unit: _cost_rank(unit[0]))  # stable: xdist's order
            self.workqueue.clear()
            self.workqueue.update(units)
            self._ordered = True
        super()._assign_work_unit(node)

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.rfind("@") > nodeid.rfind("]"):  # the user's own xdist_group, where the suffix still works
            return super()._split_scope(nodeid)
        return stability_group(nodeid) or nodeid
