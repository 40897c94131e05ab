"""Keeps the items of one ``@stable`` test on one xdist worker under ``--dist loadgroup``, whatever pytest's node ids.

The items of one test share their work: one worst-case search for all its eps values, one structural check for
all its details (:func:`.runner.group_key`). Spread over two workers, each would repeat it. xdist's loadgroup learns
an item's group from an ``@group`` suffix its workers append to the node id; since pytest 9.2 (structured node ids)
the suffix no longer takes effect and loadgroup silently distributes every item on its own (pytest-xdist#1386).
This scheduler reads a stability item's group from the node id itself, the check id (``worst_case-eps=0.02``,
``structure-heart``: a fixed grammar, see :mod:`pytest_stability.kinds`) replaced by ``<check>``, which is the
key the items share their work under. Other items, and items the user put in an ``xdist_group`` of their own
(when the suffix works), are scheduled as loadgroup does.
"""

from __future__ import annotations

import re

from xdist.scheduler import LoadGroupScheduling

from ..names import DETAIL_NAMES

# A shared check's id as one of the "-"-joined parametrization ids: eps as formatted by {:g}, or a detail name.
_SHARED_ID = re.compile(r"(?<=[\[-])(?:worst_case-eps=\d+(?:\.\d+)?(?:e[+-]\d+)?|structure-(?:"
                        + "|".join(map(re.escape, DETAIL_NAMES)) + r"))(?=[-\]])")


def stability_group(nodeid: str) -> str | None:
    """The group of the item ``nodeid`` when it is an item of a shared check, else None."""
    params = nodeid.rfind("[")
    found = _SHARED_ID.search(nodeid, params) if params >= 0 else None
    if found is None:
        return None
    return nodeid[:found.start()] + "<check>" + nodeid[found.end():]


class StabilityGroupScheduling(LoadGroupScheduling):
    """loadgroup, with the items of one stability test's shared check as one work unit."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.rfind("@") > nodeid.rfind("]"):  # the user's own xdist_group, where the suffix still works
            return super()._split_scope(nodeid)
        return stability_group(nodeid) or nodeid
