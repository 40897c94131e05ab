"""Runs one expanded @stable item: the case from the test, the check's kind from its spec, the verdict as an outcome.

What differs between checks (how an item runs, what its message says) is its kind's
(:mod:`pytest_stability.kinds`); this module does what every item shares: resolve the case once (model on its
device, images), run the kind, judge the declared expectation, save the tensors for the report, compare with a
stored run and phrase the outcome. Items of one test share work through the session cache (one worst-case search
for all eps values, one structural check for all details).
"""

from __future__ import annotations

import copy
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from ..case import Case
from ..checks import CheckResult
from ..expectations import judge
from ..fingerprints import safe_name
from ..kinds import CheckSpec, Skipped, kind, record
from ..loaders import load_images
from ..records import Record
from ..report.compare import parse_rules, regressions
from ..report.store import StoreError, atomic_save, load_results
from .session import StabilitySession


def share_cores() -> None:
    """One torch thread pool per xdist worker, sized so the workers together use each core once."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(workers, 1)))


@dataclass
class Outcome:
    """How the item ends: passed, or failed with ``message``; ``xfail``: an expected instability (see
    :mod:`.expectations`); ``skip`` with ``message`` as the reason."""

    passed: bool
    message: str = ""
    record: Record | None = None
    skip: bool = False
    xfail: bool = False


NODE_ID = pytest.StashKey[str]()


def node_id(item: Any) -> str:
    """The item's node id as collected. Under ``--dist loadgroup`` xdist appends ``@<group>`` to ``item.nodeid`` on
    its workers; records, stored files and rerun commands use the id without it (stashed before xdist renames)."""
    return item.stash.get(NODE_ID, item.nodeid)


def group_key(item: Any, spec: CheckSpec) -> str:
    """The node id without this item's check id: the items of one test (and one user parametrization) share it."""
    return node_id(item).replace(spec.id, "<check>", 1)


class ItemContext:
    """Everything one item needs, resolved once: what a check kind's run reads."""

    def __init__(self, item: Any, spec: CheckSpec, case: Case, settings: dict[str, Any], session: StabilitySession):
        self.item, self.spec, self.case, self.settings, self.session = item, spec, case, settings, session
        self.nodeid = node_id(item)
        self.device = session.worker_device()
        self.model = self._placed(case.model)
        self.f = case.reconstructor(device=self.device, model=self.model)
        if settings["max_batch"] is not None:
            self.f.max_batch = settings["max_batch"]
        self.images = self._images()
        self.key = group_key(item, spec)
        self.seed = session.seed
        self.steps = min(settings["steps"], session.max_steps or settings["steps"])

    def _placed(self, model: Any) -> Any:
        """The model on --stability-device: a copy when it lives elsewhere (the user's model is never moved)."""
        if self.device is None or not isinstance(model, torch.nn.Module):
            return model
        param = next(iter(model.parameters()), None)
        if param is None or param.device == torch.device(self.device):
            return model
        key = ("placed", id(model), self.device)
        if key not in self.session.cache:
            self.session.cache[key] = (model, copy.deepcopy(model).to(self.device))
        return self.session.cache[key][1]

    def _images(self) -> torch.Tensor:
        if self.case.images is not None:
            return self.case.images
        pattern = self.settings["images"]
        if pattern is None:
            raise ValueError("the Case has no images and no images option is set: return Case(..., images=x) with "
                             "(B, C, H, W) ground truths, or set images= on the marker (or stability_images in the "
                             "ini file) to a folder or glob of validation images.")
        return load_images(pattern, root=self.item.config.rootpath, size=self.f.operator.image_shape)

    def cached(self, what: str, compute: Any) -> Any:
        """``compute()``, once per test: the items of one test share the result under ``what``."""
        key = (self.key, what)
        if key not in self.session.cache:
            self.session.cache[key] = compute()
        return self.session.cache[key]


def run_item(item: Any, spec: CheckSpec, case: Any, settings: dict[str, Any], session: StabilitySession) -> Outcome:
    """Run ``spec`` on the case the test returned; the outcome carries the record and the failure message."""
    if not isinstance(case, Case):
        raise TypeError(f"a @stable test must return a pytest_stability.Case (the model, its operator and images), "
                        f"got {type(case).__name__}: e.g. `return Case(model, operator, images=x)`.")
    ctx = ItemContext(item, spec, case, settings, session)
    check = kind(spec.check)
    result = check.run(ctx)
    if isinstance(result, Skipped):
        return Outcome(True, result.reason, skip=True)
    judgement = judge(spec.check, result.passed, _check_passed(ctx, result), settings["expect"], settings["mismatch"])
    rec = Record.from_json({**result.to_dict(), "nodeid": ctx.nodeid, "id": spec.id, "seed": ctx.seed,
                            "image_shape": list(ctx.images.shape[-2:]), **judgement.fields}, check.numbers_type)
    saved = _save_tensors(ctx, result, rec)
    check.after(ctx, result)
    reasons = _compare(ctx, rec)
    rec.passed, rec.regression = result.passed and not reasons, reasons
    if reasons or judgement.outcome == "fail" or (judgement.outcome == "pass" and not rec.passed):
        lead = f"{judgement.message}\n" if judgement.message and judgement.outcome == "fail" else ""
        return Outcome(False, lead + _message(ctx, result, rec.numbers, saved, reasons), rec)
    if judgement.outcome == "xfail":
        return Outcome(False, f"{judgement.message}: {result.explanation}", rec, xfail=True)
    return Outcome(True, "", rec)


def _check_passed(ctx: ItemContext, result: CheckResult) -> bool:
    """The verdict of the item's whole check: stable when every item of the check in this test is (all its eps,
    all its details). A replayed worst case is unstable, whatever the other eps find."""
    check = kind(ctx.spec.check)
    if not check.shared or result.numbers.get("replayed") or (ctx.key, check.name) not in ctx.session.cache:
        return result.passed
    return all(r.passed for r in ctx.session.cache[(ctx.key, check.name)].values())


# -- files, comparison, message --------------------------------------------------------------------
def _save_tensors(ctx: ItemContext, result: CheckResult, rec: Record) -> Path | None:
    """Save the result's pictures' data (perturbation, reconstructions) to the report folder, each tensor with its
    own elements only (a view of a larger batch would carry the whole batch's storage into the file)."""
    folder = ctx.session.report_dir
    if folder is None:
        return None
    folder = folder / "items"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe_name(ctx.nodeid)}.pt"
    atomic_save(path, {k: v.detach().cpu().clone() for k, v in result.tensors.items() if k != "all_perturbations"})
    rec.tensors_file = str(path.relative_to(ctx.session.report_dir))
    return path


def _compare(ctx: ItemContext, rec: Record) -> list[str]:
    path = ctx.session.compare_path
    if path is None:
        return []
    stored = ctx.session.cache.get(("compare", path))
    if stored is None:
        try:
            stored = load_results(path)
        except StoreError as exc:
            return [str(exc)]
        ctx.session.cache[("compare", path)] = stored
    old = stored.get(ctx.nodeid)
    if old is None:
        return []
    return [f"less stable than the stored run ({path}): {why}"
            for why in regressions(record(old), rec, parse_rules(ctx.session.compare_rules))]


def _message(ctx: ItemContext, result: CheckResult, n: Any, saved: Path | None, reasons: list[str]) -> str:
    check = kind(ctx.spec.check)
    lines = [f"UNSTABLE {ctx.spec.id} [{result.model}]: {result.explanation}" if not result.passed else
             f"REGRESSION {ctx.spec.id} [{result.model}]: {result.explanation}"]
    lines += [f"  {why}" for why in reasons]
    lines += check.settings_lines(ctx, n)
    if saved is not None and ctx.session.keep_tensors:
        lines.append(f"  perturbation and reconstructions saved to {saved}")
    elif saved is not None:
        lines.append(f"  pictures in {ctx.session.report_dir / 'index.html'} (add --stability-save-tensors to keep the "
                     "tensors)")
    elif ctx.session.report_dir is None:
        lines.append("  (add --stability-report DIR for the report with its pictures)")
    lines += check.rerun_lines(ctx, n, f"pytest --stability {shlex.quote(ctx.nodeid)}")
    return "\n".join(lines)
