"""Runs one expanded @stable item: the case from the test, the check from its id, the verdict as a pytest outcome.

Items of one test share work: the worst-case search runs once for all eps values (in one batch) and the
structural check once for all details; later items of the test read the result from the session cache.
Known instabilities are replayed first: the worst perturbation of an unstable item is stored (keyed by
node id and hashes of the model's weights and the case) and re-tried on the next run, so a known
instability fails in two forward passes. The fuzz item does the same through hypothesis's example database
(in pytest's cache folder, keyed the same way).
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..case import Case
from ..checks import CheckResult, fuzz, sample_sweep, structural, worst_case
from ..checks.references import is_differentiable_baseline
from ..checks.worst_case import baseline_worst_case, judge_perturbation
from ..expectations import judge
from ..loaders import load_images
from ..report.store import StoreError, atomic_save, load_results, parse_rules, regressions
from ..search import PerturbationSearch
from .session import CheckSpec, StabilitySession


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
    record: dict[str, Any] | None = None
    skip: bool = False
    xfail: bool = False


def safe_name(nodeid: str) -> str:
    """A file name for a node id: readable, no path separators, unique by a hash; it cannot leave its folder."""
    readable = re.sub(r"[^A-Za-z0-9_.=-]+", "_", nodeid.rsplit("::", 1)[-1])[:80].strip("._") or "item"
    return f"{readable}-{hashlib.sha1(nodeid.encode()).hexdigest()[:10]}"


def group_key(item: Any, spec: CheckSpec) -> str:
    """The node id without this item's check id: the items of one test (and one user parametrization) share it."""
    return item.nodeid.replace(spec.id, "<check>", 1)


def _update(digest: Any, t: torch.Tensor) -> None:
    """Feed a tensor's raw bytes to ``digest`` (flattened: a 0-d tensor cannot be viewed as bytes)."""
    digest.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())


def model_hash(model: Any) -> str:
    """sha1 of the model's class and weights (parameters and buffers), or of its qualified name."""
    digest = hashlib.sha1(type(model).__qualname__.encode())
    if isinstance(model, torch.nn.Module):
        for name, tensor in model.state_dict().items():
            digest.update(name.encode())
            _update(digest, tensor)
    else:
        digest.update(getattr(model, "__qualname__", repr(type(model))).encode())
    return digest.hexdigest()[:16]


def fingerprint(operator: Any, images: torch.Tensor, *extra: Any) -> str:
    """sha1 of the images, the operator's defining tensors and other settings a result depends on."""
    digest = hashlib.sha1(repr((operator, extra)).encode())
    for t in (images, *(getattr(operator, a, None) for a in ("mask", "coil_maps", "angles"))):
        if isinstance(t, torch.Tensor):
            _update(digest, t)
    return digest.hexdigest()[:16]


class _Item:
    """Everything one item needs, resolved once."""

    def __init__(self, item: Any, spec: CheckSpec, case: Case, settings: dict[str, Any], session: StabilitySession):
        self.item, self.spec, self.case, self.settings, self.session = item, spec, case, settings, session
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
        key = (self.key, what)
        if key not in self.session.cache:
            self.session.cache[key] = compute()
        return self.session.cache[key]


def run_item(item: Any, spec: CheckSpec, case: Any, settings: dict[str, Any], session: StabilitySession) -> Outcome:
    """Run ``spec`` on the case the test returned; the outcome carries the record and the failure message."""
    if not isinstance(case, Case):
        raise TypeError(f"a @stable test must return a pytest_stability.Case (the model, its operator and images), "
                        f"got {type(case).__name__}: e.g. `return Case(model, operator, images=x)`.")
    ctx = _Item(item, spec, case, settings, session)
    replay = _replay(ctx) if spec.check == "worst_case" else None
    if replay is not None:
        result = replay
    elif session.replay_only and spec.check != "fuzz":
        return Outcome(True, "--stability-replay-only: no stored worst case for this item (run without the flag "
                             "first)", skip=True)
    elif spec.check == "worst_case":
        result = _worst_case(ctx)
    elif spec.check == "fuzz":
        result = _fuzz(ctx)
        if session.replay_only and result.numbers["evaluated"] == 0:
            return Outcome(True, "--stability-replay-only: no stored failing input for this fuzz item", skip=True)
    elif spec.check == "structure":
        result = ctx.cached("structure", lambda: {r.numbers["detail"]: r for r in structural(
            ctx.f, ctx.images, details=settings["details"], min_recovery=settings["min_recovery"],
            baseline=settings["baseline"])})[spec.detail]
    else:
        result = ctx.cached("samples", lambda: _samples(ctx))
    judgement = judge(spec.check, result.passed, _check_passed(ctx, result, replay is not None),
                      settings["expect"], settings["mismatch"])
    record = {**result.to_dict(), "id": spec.id, "seed": ctx.seed, "image_shape": list(ctx.images.shape[-2:]),
              **judgement.fields}
    saved = _save_tensors(ctx, result, record)
    if spec.check == "worst_case" and replay is None:
        _store_replay(ctx, result)
    reasons = _compare(ctx, record)
    passed = result.passed and not reasons
    record.update(passed=passed, regression=reasons)
    if reasons or judgement.outcome == "fail" or (judgement.outcome == "pass" and not passed):
        lead = f"{judgement.message}\n" if judgement.message and judgement.outcome == "fail" else ""
        return Outcome(False, lead + _message(ctx, result, saved, reasons), record)
    if judgement.outcome == "xfail":
        return Outcome(False, f"{judgement.message}: {result.explanation}", record, xfail=True)
    return Outcome(True, "", record)


def _check_passed(ctx: _Item, result: CheckResult, replayed: bool) -> bool:
    """The verdict of the item's whole check: stable when every item of the check in this test is (all its eps,
    all its details). A replayed worst case is unstable, whatever the other eps find."""
    group = {"worst_case": "worst_case", "structure": "structure"}.get(ctx.spec.check)
    if group is None or replayed or (ctx.key, group) not in ctx.session.cache:
        return result.passed
    return all(r.passed for r in ctx.session.cache[(ctx.key, group)].values())


# -- the checks ------------------------------------------------------------------------------------
def _worst_case(ctx: _Item) -> CheckResult:
    s = ctx.settings

    def run() -> dict[float, CheckResult]:
        search = PerturbationSearch(eps=s["eps"], domain=s["domain"], steps=ctx.steps, seed=ctx.seed,
                                    time_limit=ctx.session.max_seconds)
        baseline_ratios, reused = None, None
        if s["baseline_attack"] and is_differentiable_baseline(s["baseline"]) and s["baseline_factor"] is not None:
            baseline_ratios, reused = _baseline_ratios(ctx, s["baseline"], search)
        results = worst_case(ctx.f, ctx.images, max_ratio=s["max_ratio"], baseline_factor=s["baseline_factor"],
                             baseline=s["baseline"], search=search, seed=ctx.seed, baseline_ratios=baseline_ratios,
                             attack_baseline=s["baseline_attack"])
        for r in results:
            r.numbers["baseline_reused"] = reused
            if reused:
                r.explanation += f" (the {r.numbers['baseline']}'s own worst case was reused from {reused})"
        return {r.numbers["eps"]: r for r in results}

    by_eps = ctx.cached("worst_case", run)
    return by_eps[min(by_eps, key=lambda e: abs(e - ctx.spec.eps))]


def _baseline_ratios(ctx: _Item, baseline: str, search: PerturbationSearch) -> tuple[torch.Tensor, str | None]:
    """The built-in baseline's own worst-case ratios (K, B), and where they were reused from: None (searched now),
    "this run" (another test with the same operator and images) or "pytest's cache" (an earlier run).

    They are a pure function of the operator, the images and the search settings, so models sharing an operator
    and images share them within a run (the session cache), and runs share them through pytest's cache folder
    (``.pytest_cache/d/stability-baseline``), keyed by a hash of exactly those, of the device type and of the
    source of the code that computes them (a changed solver or search never reuses an old number). A search with
    a time limit is not deterministic and is never stored.
    """
    key = fingerprint(ctx.f.operator, ctx.images, baseline, search, torch.__version__,
                      ctx.images.device.type if ctx.device is None else torch.device(ctx.device).type, _code_hash())
    if ("baseline", key) in ctx.session.cache:
        return ctx.session.cache[("baseline", key)]
    cache = getattr(ctx.item.config, "cache", None)
    path = Path(cache.mkdir("stability-baseline")) / f"{key}.pt" if cache is not None else None
    stored = None
    if path is not None and path.is_file():
        try:
            stored = torch.load(path, weights_only=True)
        except Exception:  # a corrupt or foreign file: search again and replace it
            stored = None
    expected = (len(search.eps), ctx.images.shape[0])
    reused = isinstance(stored, torch.Tensor) and tuple(stored.shape) == expected
    if not reused:
        stored = baseline_worst_case(baseline, ctx.f.operator, ctx.images, search)
        if path is not None and search.time_limit is None:
            atomic_save(path, stored.detach().cpu())
    ctx.session.cache[("baseline", key)] = (stored, "pytest's cache" if reused else "this run")
    return stored, "pytest's cache" if reused else None


_CODE: list[str] = []


def _code_hash() -> str:
    """sha1 of the source of the baselines, the operators, the search (with its image checks and tensor helpers) and
    the worst-case check (computed once)."""
    if not _CODE:
        root = Path(__file__).parents[1]
        digest = hashlib.sha1()
        for path in sorted([*root.glob("baselines/*.py"), *root.glob("operators/*.py"), *root.glob("search/*.py"),
                            root / "inputs.py", root / "tensors.py", root / "checks" / "worst_case.py",
                            root / "checks" / "references.py"]):
            digest.update(path.read_bytes())
        _CODE.append(digest.hexdigest()[:16])
    return _CODE[0]


def _fuzz(ctx: _Item) -> CheckResult:
    """The fuzz check; found failures live in hypothesis's database in pytest's cache folder, keyed like the
    stored worst cases, and are replayed first. Fresh inputs each run unless --stability-seed is given."""
    s = ctx.settings
    examples = min(s["fuzz"], ctx.session.max_steps or s["fuzz"])
    cache = getattr(ctx.item.config, "cache", None)
    database = Path(cache.mkdir("stability-fuzz")) if cache is not None else "default"
    case = fingerprint(ctx.f.operator, ctx.images, ctx.f.inputs, ctx.f.complex_as_channels, s["fuzz_kinds"],
                       max(s["eps"]))
    key = (ctx.item.nodeid, model_hash(ctx.model), case)
    return fuzz(ctx.f, ctx.images, examples=examples, kinds=s["fuzz_kinds"], eps=max(s["eps"]),
                max_ratio=s["max_ratio"], baseline_factor=s["baseline_factor"], baseline=s["baseline"],
                min_recovery=s["min_recovery"], seed=ctx.item.config.getoption("stability_seed"), database=database,
                database_key=repr(key), time_limit=ctx.session.max_seconds,
                replay_only=ctx.session.replay_only)


def _samples(ctx: _Item) -> CheckResult:
    family = ctx.case.family
    if family is None:
        raise ValueError("the samples check needs an operator family to sweep sampling ratios: return "
                         "Case(model, mri_family(shape) or radon_family(shape), ratio=<trained ratio>, ...).")
    s = ctx.settings
    return sample_sweep(ctx.f, ctx.images, family, s["ratio_sweep"], tol_db=s["tol_db"], min_gain_db=s["min_gain_db"],
                        baseline=s["baseline"], trained_ratio=ctx.case.ratio)


# -- replay ----------------------------------------------------------------------------------------
def _replay_path(ctx: _Item) -> Path | None:
    cache = getattr(ctx.item.config, "cache", None)
    if cache is None:
        return None
    return Path(cache.mkdir("stability-replay")) / f"{safe_name(ctx.item.nodeid)}.pt"


def _replay_keys(ctx: _Item) -> dict[str, Any]:
    s = ctx.settings
    return {"nodeid": ctx.item.nodeid, "model": model_hash(ctx.model),
            "case": fingerprint(ctx.f.operator, ctx.images, ctx.f.inputs, ctx.f.complex_as_channels, s["domain"],
                                ctx.spec.eps)}


def _replay(ctx: _Item) -> CheckResult | None:
    """The verdict on the stored worst perturbation when it still breaks the limit, else None (search anew)."""
    path = _replay_path(ctx)
    if path is None or not path.exists():
        return None
    try:
        stored = torch.load(path, weights_only=True)
    except Exception:  # a corrupt or foreign file is ignored (and replaced after the search)
        return None
    if (not isinstance(stored, dict) or not isinstance(stored.get("perturbation"), torch.Tensor)
            or any(stored.get(k) != v for k, v in _replay_keys(ctx).items())):
        return None
    s = ctx.settings
    result = judge_perturbation(ctx.f, ctx.images, stored["perturbation"], eps=ctx.spec.eps, domain=s["domain"],
                                max_ratio=s["max_ratio"], baseline_factor=s["baseline_factor"],
                                baseline_ratio=stored.get("baseline_ratio"), baseline_name=stored.get("baseline"))
    if result.passed and not ctx.session.replay_only:
        return None
    result.numbers["replayed"] = True
    result.explanation = f"replayed the stored worst case: {result.explanation}"
    return result


def _store_replay(ctx: _Item, result: CheckResult) -> None:
    path = _replay_path(ctx)
    if path is None:
        return
    if result.passed:
        path.unlink(missing_ok=True)
        return
    atomic_save(path, {**_replay_keys(ctx), "perturbation": result.tensors["all_perturbations"].detach().cpu(),
                       "baseline_ratio": result.numbers.get("baseline_ratio"),
                       "baseline": result.numbers.get("baseline")})


# -- files, comparison, message --------------------------------------------------------------------
def _save_tensors(ctx: _Item, result: CheckResult, record: dict[str, Any]) -> Path | None:
    """Save the result's pictures' data (perturbation, reconstructions) to the report folder."""
    folder = ctx.session.report_dir
    if folder is None:
        return None
    folder = folder / "items"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe_name(ctx.item.nodeid)}.pt"
    atomic_save(path, {k: v.detach().cpu() for k, v in result.tensors.items() if k != "all_perturbations"})
    record["tensors_file"] = str(path.relative_to(ctx.session.report_dir))
    return path


def _compare(ctx: _Item, record: dict[str, Any]) -> list[str]:
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
    old = stored.get(ctx.item.nodeid)
    if old is None:
        return []
    return [f"less stable than the stored run ({path}): {why}"
            for why in regressions(old, record, parse_rules(ctx.session.compare_rules))]


def _message(ctx: _Item, result: CheckResult, saved: Path | None, reasons: list[str]) -> str:
    s, n = ctx.settings, result.numbers
    lines = [f"UNSTABLE {ctx.spec.id} [{result.model}]: {result.explanation}" if not result.passed else
             f"REGRESSION {ctx.spec.id} [{result.model}]: {result.explanation}"]
    lines += [f"  {why}" for why in reasons]
    if ctx.spec.check == "worst_case":
        lines.append(f"  settings: eps={ctx.spec.eps:g}, domain={s['domain']}, steps={ctx.steps}, seed={ctx.seed}, "
                     f"max_ratio={s['max_ratio']}, baseline_factor={s['baseline_factor']}, baseline={s['baseline']}")
        if n.get("sigma1") is not None:
            lines.append(f"  σ1 (local Jacobian constant) = {n['sigma1']:.3g}; evaluations: {n['evaluations']}")
    elif ctx.spec.check == "structure":
        lines.append(f"  settings: detail={ctx.spec.detail}, min_recovery={s['min_recovery']}, "
                     f"baseline={s['baseline']}, seed={ctx.seed}")
    elif ctx.spec.check == "fuzz":
        lines.append(f"  settings: fuzz={s['fuzz']}, fuzz_kinds={s['fuzz_kinds']}, eps={max(s['eps']):g}, "
                     f"max_ratio={s['max_ratio']}, baseline_factor={s['baseline_factor']}, baseline={s['baseline']}, "
                     f"min_recovery={s['min_recovery']}, "
                     f"seed={'none (fresh inputs each run)' if n['fuzz_seed'] is None else n['fuzz_seed']}")
    else:
        lines.append(f"  settings: ratio_sweep={s['ratio_sweep']}, tol_db={s['tol_db']}, "
                     f"min_gain_db={s['min_gain_db']}, baseline={s['baseline']}, seed={ctx.seed}")
    if saved is not None:
        lines.append(f"  perturbation and reconstructions saved to {saved}")
    elif ctx.session.report_dir is None:
        lines.append("  (add --stability-report DIR to save the perturbation and reconstructions)")
    command = f"pytest --stability {shlex.quote(ctx.item.nodeid)} --stability-seed {ctx.seed}"
    if ctx.spec.check == "worst_case":
        lines.append(f"  replay: {command} --stability-replay-only")
    elif ctx.spec.check == "fuzz" and n["fuzz_seed"] is None:
        command = f"pytest --stability {shlex.quote(ctx.item.nodeid)}"
        if n["database"]:
            lines.append(f"  rerun: {command} (hypothesis's database replays the failing input first; add "
                         "--stability-replay-only to replay only stored inputs)")
        else:
            lines.append(f"  rerun: {command} --stability-seed N (for a reproducible run)")
    else:
        lines.append(f"  rerun: {command}")
    return "\n".join(lines)
