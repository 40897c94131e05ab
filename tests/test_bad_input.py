"""The bad-input matrix: every way a user can hand the plugin something wrong, and what they get back.

Each case gets one of four answers, never an INTERNALERROR or a traceback through the library:

* ``ERROR``: the item fails with a message that names the argument, the value and the fix, and its report
  holds no frame from inside ``pytest_stability/`` (a model that raised shows the user's own frames);
* ``UNSTABLE``: a model that misbehaves only on perturbed inputs fails its stability verdict, which says so;
  a corrupt file in the replay store is ignored, and the planted instability is found by a fresh search
  (whose worst case then replaces the file);
* ``PASSED``: inputs that look odd but are valid (no parameters, a plain function, float64, no gradient,
  numpy with ``numpy=True``) run normally;
* ``COLLECT``: a wrong @stable argument is a collection error of that test alone.

The plugin-level cases are @stable tests of one project, run once in a subprocess (shared by the xdist
workers through a file lock); each parametrized test below reads its own item's report. Settings that hold
for a whole session (a corrupt --stability-compare file, a --stability-json path) get a small in-process run
each. API-level cases (mask functions, the search, the sweep, the Reconstructor) are direct unit tests.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from filelock import FileLock
from projects import planted_conftest

from pytest_stability import PerturbationSearch, Reconstructor, SingleCoilMRI, as_operator, mri_family
from pytest_stability.checks.sample_sweep import sample_sweep
from pytest_stability.masks import angle_subset, cartesian_mask, nested_masks, radial_mask, uniform_mask
from pytest_stability.masks import variable_density_mask as vd_mask

ERROR, UNSTABLE, PASSED, COLLECT = "error", "unstable", "passed", "collect"
FAST = "**FAST"  # one worst-case item, 2 steps, an absolute limit, no baseline: the cheapest check


@dataclass(frozen=True)
class Bad:
    """One row of the matrix: a @stable test ``test_<id>`` with ``marker`` (and ``decorator``, another one) and
    ``body``, what must happen, and the regex its failure message must match."""

    id: str
    body: str
    outcome: str
    message: str = ""
    marker: str = FAST
    decorator: str = ""


# -- the project: helpers shared by the cases -------------------------------------------------------------
HELPERS = '''

import math

import numpy as np

from pytest_stability import SingleCoilMRI, as_operator, radon_family, stable
from pytest_stability.fingerprints import safe_name

FAST = dict(checks="worst_case", eps=0.02, steps=2, max_ratio=3.0, baseline=None)
CT = radon_family((H, H), n_candidates=32)


class Real(torch.nn.Module):
    """Zero filling: the real part of A* y. No parameters."""

    def forward(self, z):
        return z.real


class Conv(torch.nn.Module):
    """A one-layer real CNN (identity kernel) on the real part of its input."""

    def __init__(self, dtype=torch.float32, device="cpu", take_real=True):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1, bias=False, dtype=dtype, device=device)
        if device != "meta":
            with torch.no_grad():
                self.conv.weight.zero_()
                self.conv.weight[0, 0, 1, 1] = 1.0
        self.take_real = take_real

    def forward(self, z):
        return self.conv(z.real if self.take_real else z)


class Returns(torch.nn.Module):
    """Returns ``fn(z.real)``: a model with a wrong output."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, z):
        return self.fn(z.real)


class Raises(torch.nn.Module):
    def forward(self, z):
        scale = z.real.abs().amax()
        raise RuntimeError(f"boom at scale {float(scale):.1f}")


class NonFiniteWhenPerturbed(torch.nn.Module):
    """z.real on the inputs of its first call (the clean A* A x), ``value`` (NaN or Inf) on every other input."""

    def __init__(self, value=math.nan):
        super().__init__()
        self.value, self.clean = value, None

    def forward(self, z):
        z = z.real
        if self.clean is None:
            self.clean = z.detach().clone()
        distance = (z.detach()[:, None] - self.clean[None]).abs().flatten(2).amax(2).amin(1)
        return torch.where((distance < 1e-6).view(-1, 1, 1, 1), z, torch.full_like(z, self.value))


class Detaches(torch.nn.Module):
    def forward(self, z):
        return z.real.detach()


def float32_only(function):
    """``function`` as a GPU projector takes tensors: float32 real only."""
    def call(t):
        if t.dtype != torch.float32:
            raise RuntimeError(f"expected scalar type Float but found {t.dtype}")
        return function(t)

    return call


def own_ct(**kwargs):
    """CT with 16 views as the user's own float32-only (forward, adjoint) pair."""
    op = CT(0.5)
    return as_operator((float32_only(op.forward), float32_only(op.adjoint)), (H, H), **kwargs)


def numpy_real(z):
    return np.real(np.asarray(z))


def numpy_abs(z):
    return np.abs(z)


def write_replay(request, content):
    """Plant ``content`` (bytes) as this item's stored worst case in the replay store."""
    folder = request.config.cache.mkdir("stability-replay")
    (folder / f"{safe_name(request.node.nodeid)}.pt").write_bytes(content)


def saved(obj):
    import io

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _log(report)


def pytest_collectreport(report):
    if report.failed:
        _log(report)


def _log(report):
    with open(os.environ["BAD_INPUT_REPORTS"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"nodeid": report.nodeid, "when": getattr(report, "when", "collect"),
                                 "outcome": report.outcome, "longrepr": report.longreprtext}) + "\\n")
'''

CONFTEST = planted_conftest(16).replace("import os\n", "import json\nimport os\n", 1) + HELPERS

# -- the cases --------------------------------------------------------------------------------------------
G = "Gain(1.0)"  # a stable model: zero filling
NAN = "x = images.clone()\nx[1, 0, 3, 4] = {value}\nreturn case(Gain(1.0), x, 'm')"
RATIO = "return Case(Gain(1.0), FAMILY, images=images, ratio={ratio})"
CT_CASE = "return Case({model}, CT, images={images}, ratio=0.5)"
STRUCTURE = "checks='structure', details='lesion', baseline=None"
SAMPLES = "checks='samples', ratio_sweep=(0.2, 0.4), baseline=None"
REPLAY = "write_replay(request, {content})\nreturn case(Gain(8.0), images, 'planted')"

CASES = [
    # images: rank, shape, layout, type, dtype
    Bad("images_rank3", f"return case({G}, images[:, 0], 'm')", ERROR,
        r"images must be \(B, C, H, W\), got shape \(2, 16, 16\).*unsqueeze\(1\)"),
    Bad("images_rank5", f"return case({G}, images[None], 'm')", ERROR,
        r"images must be \(B, C, H, W\), got shape \(1, 2, 1, 16, 16\)"),
    Bad("images_wrong_size", f"return case({G}, torch.nn.functional.interpolate(images, size=24), 'm')", ERROR,
        r"images have shape \(2, 1, 24, 24\) but the operator expects \(B, C, 16, 16\)"),
    Bad("images_channels_last", f"return case({G}, images.permute(0, 2, 3, 1), 'm')", ERROR,
        r"images have shape \(2, 16, 16, 1\).*channels-last\? use x.permute\(0, 3, 1, 2\)"),
    Bad("images_numpy", f"return case({G}, images.numpy(), 'm')", ERROR,
        r"images must be a torch.Tensor \(B, C, H, W\), got ndarray.*torch.from_numpy"),
    Bad("images_list", f"return case({G}, list(images), 'm')", ERROR,
        r"images must be a torch.Tensor \(B, C, H, W\), got list.*torch.stack"),
    Bad("images_integer", f"return case({G}, (images * 255).to(torch.uint8), 'm')", ERROR,
        r"images have dtype torch.uint8.*x.float\(\)"),
    # images: content
    Bad("images_all_zero", f"return case({G}, torch.zeros_like(images), 'm')", ERROR,
        r"images \[0, 1\] are all zero.*images with content"),
    Bad("images_one_zero", f"return case({G}, torch.cat([images[:1], torch.zeros_like(images[:1])]), 'm')", ERROR,
        r"images \[1\] are all zero"),
    Bad("images_constant", f"return case({G}, torch.full_like(images, 0.7), 'm')", ERROR,
        r"images \[0, 1\] are constant \(every pixel 0.7\).*structure"),
    Bad("images_nan", NAN.format(value="math.nan"), ERROR, r"images \[1\] contain NaN or Inf \(1 pixel\).*nan_to_num"),
    Bad("images_inf", NAN.format(value="math.inf"), ERROR, r"images \[1\] contain NaN or Inf \(1 pixel\)"),
    Bad("images_complex_ct", CT_CASE.format(model="Real()", images="images.to(torch.complex64)"), ERROR,
        r"images are complex64 but ParallelBeamRadon measures real images.*x.real"),
    Bad("images_missing", "return Case(Gain(1.0), FAMILY, ratio=0.4)", ERROR,
        r"the Case has no images and no images option is set"),
    Bad("images_option_no_files", "return Case(Gain(1.0), FAMILY, ratio=0.4)", ERROR,
        r"images='no_such_folder/\*.png' matched no image files", marker="**FAST, images='no_such_folder/*.png'"),
    # the model's output
    Bad("model_returns_tuple", "return case(Returns(lambda x: (x, x.abs())), images, 'm')", ERROR,
        r"model 'm' returned a tuple of 2, not a tensor.*\[0\]"),
    Bad("model_returns_dict", "return case(Returns(lambda x: {'out': x}), images, 'm')", ERROR,
        r"model 'm' returned a dict with keys \['out'\], not a tensor.*\['out'\]"),
    Bad("model_returns_none", "return case(Returns(lambda x: None), images, 'm')", ERROR,
        r"model 'm' returned None.*return"),
    Bad("model_wrong_size", "return case(Returns(lambda x: x[..., :8, :8]), images, 'm')", ERROR,
        r"model 'm' returned shape \(2, 1, 8, 8\); expected \(2, C, 16, 16\)"),
    Bad("model_wrong_batch", "return case(Returns(lambda x: x[:1]), images, 'm')", ERROR,
        r"model 'm' returned shape \(1, 1, 16, 16\); expected \(2, C, 16, 16\)"),
    Bad("model_wrong_channels", "return case(Returns(lambda x: x.repeat(1, 2, 1, 1)), images, 'm')", ERROR,
        r"model 'm' returned 2 channels for images with 1"),
    Bad("model_integer_output", "return case(Returns(lambda x: (x * 255).long()), images, 'm')", ERROR,
        r"model 'm' returned torch.int64 images.*floating point"),
    Bad("model_complex_output_ct", CT_CASE.format(model="Returns(lambda x: x.to(torch.complex64))",
                                                  images="images"), ERROR,
        r"returned complex64 images, but ParallelBeamRadon reconstructs real images.*\.real"),
    Bad("model_real_for_complex_channels", "return Case(Returns(lambda x: x[:, :1]), FAMILY, images=images, "
        "ratio=0.4, complex_as_channels=True)", ERROR,
        r"returned shape \(2, 1, 16, 16\); with complex_as_channels the output must be \(B, 2C, H, W\)"),
    # NaN or Inf on clean input: an error, in every check
    Bad("model_nan_clean", "return case(Returns(lambda x: x * math.nan), images, 'm')", ERROR,
        r"model 'm' returns NaN or Inf on the unperturbed input f\(Ax\)"),
    Bad("model_inf_clean_structure", "return case(Returns(lambda x: x / 0), images, 'm')", ERROR,
        r"model 'm' returns NaN or Inf on the unperturbed input f\(Ax\)", marker=STRUCTURE),
    Bad("model_nan_clean_samples", "return case(Returns(lambda x: x * math.nan), images, 'm')", ERROR,
        r"model 'm' returns NaN or Inf on the unperturbed input f\(Ax\) at sampling ratio 0.2", marker=SAMPLES),
    # NaN or Inf only on perturbed inputs: a failing verdict
    Bad("model_nan_perturbed", "return case(NonFiniteWhenPerturbed(), images, 'm')", UNSTABLE,
        r"the model returns NaN/Inf on a perturbed input at eps = 0.02"),
    Bad("model_inf_perturbed_structure", "return case(NonFiniteWhenPerturbed(math.inf), images, 'm')", UNSTABLE,
        r"detail 'lesion' lost on image 0: the model returns NaN/Inf on x \+ d", marker=STRUCTURE),
    # the model raises, has no gradient, is numpy
    Bad("model_raises", "return case(Raises(), images, 'm')", ERROR,
        r"model 'm' raised RuntimeError: boom at scale \d.*conftest.py\", line \d+, in forward\n\s+raise RuntimeError"),
    Bad("model_complex_input_to_real_conv", "return case(Conv(take_real=False), images, 'm')", ERROR,
        r"model 'm' raised RuntimeError.*complex_as_channels=True"),
    Bad("model_detaches", "return case(Detaches(), images, 'm')", PASSED),
    Bad("model_detaches_warnings_as_errors", "return case(Detaches(), images, 'm')", ERROR,
        r"StabilityWarning: model 'm' gives no gradient.*gradient-free search.*warnings filter",
        decorator="@pytest.mark.filterwarnings('error::pytest_stability.models.StabilityWarning')"),
    Bad("model_numpy_inside", "return case(Returns(lambda x: torch.from_numpy(x.numpy())), images, 'm')", ERROR,
        r"model 'm' raised RuntimeError: Can't call numpy\(\).*numpy=True"),
    Bad("model_numpy_with_flag", "return Case(numpy_real, FAMILY, images=images, ratio=0.4, numpy=True)", PASSED),
    Bad("model_numpy_without_flag", "return Case(numpy_abs, FAMILY, images=images, ratio=0.4)", ERROR,
        r"model 'numpy_abs' raised RuntimeError: Can't call numpy\(\).*numpy=True"),
    Bad("model_no_parameters", "return case(Real(), images, 'm')", PASSED),
    Bad("model_function", "return Case(lambda z: z.real, FAMILY, images=images, ratio=0.4)", PASSED),
    # the model object itself
    Bad("model_not_callable", "return Case('unet.pt', FAMILY, images=images, ratio=0.4)", ERROR,
        r"the model must be an nn.Module or a callable, got str 'unet.pt'.*torch.load"),
    Bad("model_class_not_instance", "return Case(Conv, FAMILY, images=images, ratio=0.4)", ERROR,
        r"the model is the class Conv, not an instance.*Conv\(\.\.\.\)"),
    Bad("model_float16", "return case(Conv(torch.float16), images, 'm')", ERROR,
        r"the model's parameters are torch.float16.*model.float\(\)"),
    Bad("model_bfloat16", "return case(Conv(torch.bfloat16), images, 'm')", ERROR,
        r"the model's parameters are torch.bfloat16.*model.float\(\)"),
    Bad("model_float64", "return case(Conv(torch.float64), images, 'm')", PASSED),
    Bad("model_on_meta", "return case(Conv(device='meta'), images, 'm')", ERROR,
        r"the model's parameters are on the meta device.*load_state_dict"),
    Bad("model_on_two_devices", "model = Conv()\nmodel.extra = torch.nn.Parameter(torch.zeros(1, device='meta'))\n"
        "return case(model, images, 'm')", ERROR, r"the model's parameters are on several devices \(cpu, meta\)"),
    Bad("model_bad_inputs_mode", "return Case(Real(), FAMILY, images=images, ratio=0.4, inputs='kspace')", ERROR,
        r"inputs='kspace' is not one of"),
    Bad("model_mask_inputs_for_ct", "return Case(Real(), CT, images=images, ratio=0.5, inputs='y,mask')", ERROR,
        r"inputs='y,mask' needs an operator with a sampling mask; ParallelBeamRadon has none"),
    # operators and masks
    Bad("operator_image_shape_mismatch", "op = SingleCoilMRI(torch.ones(24, 24))\n"
        "return Case(Real(), op, images=images)", ERROR,
        r"images have shape \(2, 1, 16, 16\) but the operator expects \(B, C, 24, 24\)"),
    Bad("operator_empty_mask", "return Case(Real(), SingleCoilMRI(torch.zeros(16, 16)), images=images)", ERROR,
        r"mask samples nothing \(all zeros\)"),
    Bad("operator_density_mask", "return Case(Real(), SingleCoilMRI(torch.full((16, 16), 0.5)), images=images)",
        ERROR, r"mask must hold only 0 and 1"),
    Bad("operator_not_an_operator", "return Case(Real(), 'mri', images=images)", ERROR,
        r"cannot use a str as an operator"),
    Bad("operator_pair_told_complex", "return Case(Real(), own_ct(domain_is_complex=True), images=images)", ERROR,
        r"model 'TV \(CS baseline\)' raised OperatorError: the operator's forward callable raised RuntimeError: "
        r"expected scalar type Float but found torch.complex64.*complex, because the operator's domain is complex "
        r"\(domain_is_complex=True\).*pass domain_is_complex=False.*your operator failed here, in your code:.*conftest",
        marker="checks='worst_case', eps=0.02, steps=2, max_ratio=3.0"),
    Bad("operator_pair_float64_model", "return Case(Conv(torch.float64), own_ct(), images=images)", ERROR,
        r"forward callable raised RuntimeError: expected scalar type Float but found torch.float64.*called with a "
        r"float64 tensor of shape \(2, 1, 16, 16\).*model.float\(\).*your operator failed here, in your code:"),
    Bad("family_without_ratio", "return Case(Gain(1.0), FAMILY, images=images)", ERROR,
        r"Case has an operator family but no ratio"),
    Bad("case_ratio_zero", RATIO.format(ratio=0), ERROR, r"Case: ratio=0 is not a sampling ratio in \(0, 1\]"),
    Bad("case_ratio_above_one", RATIO.format(ratio=1.5), ERROR,
        r"Case: ratio=1.5 is not a sampling ratio in \(0, 1\]"),
    Bad("case_ratio_text", RATIO.format(ratio="'0.25'"), ERROR,
        r"Case: ratio='0.25' is not a sampling ratio in \(0, 1\]"),
    Bad("samples_without_family", "return Case(Real(), FAMILY(0.4), images=images)", ERROR,
        r"the samples check needs an operator family", marker=SAMPLES),
    # the test's return value
    Bad("returns_none", "case(Gain(1.0), images, 'm')", ERROR,
        r"a @stable test must return a pytest_stability.Case.*got NoneType"),
    Bad("returns_tuple", "return Gain(1.0), FAMILY", ERROR, r"a @stable test must return a pytest_stability.Case.*"
        r"got tuple"),
    # marker arguments: a collection error of that test alone
    Bad("eps_zero", "pass", COLLECT, r"eps: expected one or more positive numbers", marker="eps=0"),
    Bad("eps_negative", "pass", COLLECT, r"eps: expected one or more positive numbers", marker="eps=(-0.01, 0.02)"),
    Bad("eps_duplicate", "pass", COLLECT, r"eps: values must be strictly increasing without duplicates",
        marker="eps=(0.02, 0.02)"),
    Bad("ratio_sweep_zero", "pass", COLLECT, r"ratio_sweep: expected one or more positive numbers",
        marker="ratio_sweep=(0, 0.5)"),
    Bad("ratio_sweep_above_one", "pass", COLLECT, r"ratio_sweep: expected at least two increasing sampling ratios "
        r"in \(0, 1\]", marker="ratio_sweep=(0.5, 1.5)"),
    Bad("ratio_sweep_unsorted", "pass", COLLECT, r"ratio_sweep: values must be strictly increasing",
        marker="ratio_sweep=(0.5, 0.25)"),
    Bad("ratio_sweep_duplicate", "pass", COLLECT, r"ratio_sweep: values must be strictly increasing without "
        r"duplicates", marker="ratio_sweep=(0.25, 0.25, 0.5)"),
    Bad("ratio_sweep_single", "pass", COLLECT, r"ratio_sweep: expected at least two", marker="ratio_sweep=0.5"),
    Bad("unknown_detail", "pass", COLLECT, r"details: 'hearts' is not one of .*did you mean 'heart'",
        marker="details=('hearts',)"),
    Bad("unknown_check", "pass", COLLECT, r"checks: 'worstcase' is not one of .*did you mean 'worst_case'",
        marker="checks='worstcase'"),
    Bad("steps_zero", "pass", COLLECT, r"steps: expected a whole number >= 1, got 0", marker="steps=0"),
    # corrupt or foreign files in the replay store: ignored, and replaced by this run's worst case
    Bad("replay_garbage_bytes", REPLAY.format(content="bytes(range(256)) * 4"), UNSTABLE, r"UNSTABLE.*κ = "),
    Bad("replay_empty_file", REPLAY.format(content="b''"), UNSTABLE, r"UNSTABLE.*κ = "),
    Bad("replay_pickled_object", REPLAY.format(content="saved({'nodeid': {1, 2}, 'perturbation': object})"),
        UNSTABLE, r"UNSTABLE.*κ = "),
    Bad("replay_tensor", REPLAY.format(content="saved(torch.zeros(2, 1, 16, 16))"), UNSTABLE, r"UNSTABLE.*κ = "),
]
REPLAY_CASES = [c.id for c in CASES if c.id.startswith("replay_")]


def _test_source(bad: Bad) -> str:
    body = textwrap.indent(bad.body, "    ")
    decorator = f"{bad.decorator}\n" if bad.decorator else ""
    return f"\n\n@stable({bad.marker})\n{decorator}def test_{bad.id}(images, request):\n{body}\n"


TESTS = ("import math\n\nimport pytest\nimport torch\n\nfrom conftest import *  # noqa: F403\n"
         "from pytest_stability import Case\n" + "".join(_test_source(c) for c in CASES))

# -- running the matrix ------------------------------------------------------------------------------------
def _run_matrix(folder: Path) -> dict:
    """Run the matrix project in a subprocess; its output, reports and the replay files it left."""
    folder.mkdir(parents=True)
    (folder / "conftest.py").write_text(CONFTEST)
    (folder / "test_bad.py").write_text(TESTS)
    (folder / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "BAD_INPUT_REPORTS": str(folder / "reports.jsonl"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(folder)}
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_ADDOPTS"):
        env.pop(name, None)
    process = subprocess.run([sys.executable, "-m", "pytest", "--stability", "-p", "no:xdist", "-q",
                              "--continue-on-collection-errors", "--stability-json", "results.json"],
                             cwd=folder, env=env, capture_output=True, text=True, timeout=600)
    reports = [json.loads(line) for line in (folder / "reports.jsonl").read_text().splitlines()]
    replay = folder / ".pytest_cache" / "d" / "stability-replay"
    return {"returncode": process.returncode, "output": process.stdout + process.stderr, "reports": reports,
            "folder": str(folder), "replay_files": {p.name: p.read_bytes().hex() for p in replay.glob("*.pt")}}


@pytest.fixture(scope="session")
def matrix(tmp_path_factory) -> dict:
    """The matrix run; under xdist the first worker runs it and the others read its results."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _run_matrix(tmp_path_factory.mktemp("bad-input") / "matrix")
    shared = tmp_path_factory.getbasetemp().parent
    done = shared / "bad-input-matrix.json"
    with FileLock(str(done) + ".lock"):
        if not done.exists():
            done.write_text(json.dumps(_run_matrix(shared / "bad-input-matrix")))
    return json.loads(done.read_text())


def _reports(reports: list[dict], test: str) -> list[dict]:
    return [r for r in reports if re.search(rf"::{test}(\[|$)", r["nodeid"])]


def _assert_no_library_frames(text: str) -> None:
    assert "pytest_stability/" not in text and "Traceback" not in text, text


# -- the plugin-level matrix ------------------------------------------------------------------------------
def test_the_matrix_run_completes(matrix):
    assert "INTERNALERROR" not in matrix["output"], matrix["output"][-3000:]
    assert matrix["returncode"] == pytest.ExitCode.TESTS_FAILED, matrix["output"][-3000:]
    assert re.search(r"\d+ failed, \d+ passed", matrix["output"]), matrix["output"][-3000:]


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input(matrix, bad):
    reports = _reports(matrix["reports"], f"test_{bad.id}")
    assert reports, f"no report for test_{bad.id}:\n{matrix['output'][-3000:]}"
    if bad.outcome == COLLECT:
        [report] = reports
        assert report["when"] == "collect" and report["outcome"] == "failed", report
        assert re.search(bad.message, report["longrepr"], re.S), report["longrepr"]
        _assert_no_library_frames(report["longrepr"])
        return
    assert [r["when"] for r in reports] == ["call"], reports  # one item; setup and teardown passed
    [report] = reports
    if bad.outcome == PASSED:
        assert report["outcome"] == "passed", report["longrepr"]
        return
    assert report["outcome"] == "failed", report
    text = report["longrepr"]
    _assert_no_library_frames(text)
    # said once: no chained exception's text before it ("During handling of the above exception ...")
    assert "During handling" not in text and "direct cause" not in text and text.count(text.splitlines()[0]) == 1, text
    assert re.search(bad.message, text, re.S), text
    assert text.startswith("UNSTABLE") == (bad.outcome == UNSTABLE), text


def test_models_without_a_gradient_are_searched_gradient_free(matrix):
    results = json.loads((Path(matrix["folder"]) / "results.json").read_text())["results"]
    by_test = {r["nodeid"].split("::")[1].split("[")[0]: r for r in results}
    for test in ("test_model_detaches", "test_model_numpy_with_flag"):
        assert by_test[test]["gradient_free"] is True, by_test[test]
        assert "gradient-free search" in by_test[test]["explanation"]
    assert by_test["test_model_float64"]["gradient_free"] is False


@pytest.mark.parametrize("test", REPLAY_CASES)
def test_a_corrupt_replay_file_is_replaced_by_this_runs_worst_case(matrix, tmp_path, test):
    from pytest_stability.fingerprints import safe_name

    [report] = _reports(matrix["reports"], f"test_{test}")
    path = tmp_path / "replay.pt"
    path.write_bytes(bytes.fromhex(matrix["replay_files"][f"{safe_name(report['nodeid'])}.pt"]))
    document = torch.load(path, weights_only=True)
    assert document["nodeid"] == report["nodeid"]
    assert document["perturbation"].shape == (2, 1, 16, 16)


# -- session-wide settings: one small in-process run each --------------------------------------------------
ONE_TEST = '''
from conftest import FAST, Gain, case, stable


@stable(**FAST)
def test_stable(images):
    return case(Gain(1.0), images, "zero-filled")
'''


@pytest.fixture
def one_test(pytester, monkeypatch):
    """A project of one stable @stable test, run in-process with warnings as errors: run(*args) -> result, reports."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_bad=ONE_TEST)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    monkeypatch.setenv("BAD_INPUT_REPORTS", str(pytester.path / "reports.jsonl"))

    def run(*args: str) -> tuple[pytest.RunResult, list[dict]]:
        result = pytester.runpytest("--stability", "-p", "no:cacheprovider", *args)
        lines = (pytester.path / "reports.jsonl").read_text().splitlines()
        return result, [json.loads(line) for line in lines]

    return run


@pytest.mark.parametrize(("stored", "message"), [
    (b"\x00\x9f garbage", r"stored.json is not a pytest-stability results file .*delete it or save again"),
    (b"[1, 2, 3]", r"stored.json holds no pytest-stability results"),
    (json.dumps({"machine_info": {}, "benchmarks": [{"name": "test_stable"}]}).encode(),
     r"stored.json holds no pytest-stability results"),
], ids=["garbage", "json-list", "other-tool"])
def test_a_corrupt_compare_file_is_reported_on_the_item(one_test, pytester, stored, message):
    (pytester.path / "stored.json").write_bytes(stored)
    result, reports = one_test("--stability-compare", "stored.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    [report] = _reports(reports, "test_stable")
    assert report["outcome"] == "failed"
    _assert_no_library_frames(report["longrepr"])
    assert re.search(message, report["longrepr"]), report["longrepr"]


@pytest.mark.parametrize(("device", "message"), [
    ("gpu", r"--stability-device='gpu' is not a torch device; give cpu, cuda, cuda:N or mps"),
    ("cuda:99", r"--stability-device=cuda:99: (torch .* sees no CUDA device|this machine has \d+ CUDA device)"),
    ("meta", r"--stability-device=meta: pytest-stability runs on cpu, cuda or mps, not meta"),
], ids=["not-a-device", "missing-gpu", "meta"])
def test_an_unusable_device_is_a_usage_error_before_any_test_runs(one_test, pytester, device, message):
    result = pytester.runpytest("--stability", "-p", "no:cacheprovider", "--stability-device", device)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert not (pytester.path / "reports.jsonl").exists()  # no test ran
    assert re.search(message, result.stderr.str()), result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_a_json_path_in_a_missing_folder_is_created(one_test, pytester):
    result, _ = one_test("--stability-json", "out/nested/results.json")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    document = json.loads((pytester.path / "out" / "nested" / "results.json").read_text())
    assert [r["passed"] for r in document["results"]] == [True]


# -- API level --------------------------------------------------------------------------------------------
SHAPE = (16, 16)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: cartesian_mask(SHAPE, 0), r"ratio must be a sampling ratio in \(0, 1\] .*got 0"),
    (lambda: cartesian_mask(SHAPE, 1.5), r"ratio must be a sampling ratio in \(0, 1\] .*got 1.5"),
    (lambda: vd_mask(SHAPE, 0.0), r"ratio must be a sampling ratio in \(0, 1\] .*got 0.0"),
    (lambda: radial_mask(SHAPE, -0.1), r"ratio must be a sampling ratio in \(0, 1\] .*got -0.1"),
    (lambda: uniform_mask(SHAPE, math.nan), r"ratio must be a sampling ratio in \(0, 1\] .*got nan"),
    (lambda: angle_subset(0.0), r"ratio must be a sampling ratio in \(0, 1\] .*got 0.0"),
    (lambda: angle_subset(2.0), r"ratio must be a sampling ratio in \(0, 1\] .*got 2.0"),
    (lambda: mri_family(SHAPE)(0), r"ratio must be a sampling ratio in \(0, 1\] .*got 0"),
    (lambda: nested_masks(cartesian_mask, [0.5, 0.25], shape=SHAPE), r"ratios must be non-decreasing, got "
     r"\[0.5, 0.25\]; sort them"),
    (lambda: SingleCoilMRI(torch.zeros(SHAPE)), r"mask samples nothing \(all zeros\)"),
    (lambda: PerturbationSearch(eps=0.0), r"eps must be positive finite relative budgets .*got \(0.0,\)"),
    (lambda: PerturbationSearch(eps=(0.02, 0.01)), r"eps must be strictly increasing.*sort them"),
    (lambda: sample_sweep(lambda z: z.real, torch.ones(1, 1, *SHAPE), mri_family(SHAPE), (0.4, 0.2)),
     r"sampling ratios must be strictly increasing.*got \[0.4, 0.2\]"),
    (lambda: sample_sweep(lambda z: z.real, torch.ones(1, 1, *SHAPE), mri_family(SHAPE), (0.2, 0.2, 0.4)),
     r"sampling ratios must be strictly increasing.*drop duplicates"),
    (lambda: sample_sweep(lambda z: z.real, torch.ones(1, 1, *SHAPE), mri_family(SHAPE), (0.0, 0.4)),
     r"sampling ratios must lie in \(0, 1\], got \[0.0, 0.4\]"),
    (lambda: Reconstructor(torch.nn.Linear(2, 2).half(), SingleCoilMRI(torch.ones(SHAPE))),
     r"the model's parameters are torch.float16"),
    (lambda: as_operator((abs, abs), SHAPE, domain_is_complex="real"), r"domain_is_complex must be True .*got 'real'"),
    (lambda: as_operator(SimpleNamespace(A=lambda x: x[:, 5], A_adjoint=abs), SHAPE),
     r"(?s)SimpleNamespace.A takes neither real images \(B, 1, H, W\) nor deepinv's two-channel .*"
     r"complex_as_channels="),
], ids=["cartesian-ratio-0", "cartesian-ratio-1.5", "variable-density-ratio-0", "radial-ratio-negative",
        "uniform-ratio-nan", "angles-ratio-0", "angles-ratio-2", "family-ratio-0", "nested-unsorted",
        "empty-mask", "search-eps-0", "search-eps-unsorted", "sweep-unsorted", "sweep-duplicate", "sweep-ratio-0",
        "reconstructor-float16", "operator-pair-domain-text", "physics-of-no-layout"])
def test_bad_api_arguments(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()
