"""The pytest plugin, driven as a user drives it (pytester): options, markers, messages, summary, files, xdist."""

import json
import re
import sys
import textwrap

import pytest
from projects import planted_conftest

pytest_plugins = ["pytester"]

CONFTEST = planted_conftest(16)

TESTS = '''
from conftest import Gain, case
from pytest_stability import stable

FAST = dict(checks="worst_case", eps=0.02, steps=8, max_ratio=3.0, baseline=None)


@stable(**FAST)
def test_zero_filled(images):
    return case(Gain(1.0), images, "zero-filled")


@stable(**FAST)
def test_planted(images):
    return case(Gain(8.0), images, "planted")


@stable(**FAST)
def test_tunable(tunable, images):
    return case(tunable, images, "tunable")


def test_ordinary():
    assert True
'''


@pytest.fixture
def project(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_zoo_models=TESTS)
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    return pytester


def _run(project, workers, *args):
    """Run pytest in-process, or under xdist with ``workers`` processes (a subprocess)."""
    if workers is None:
        return project.runpytest(*args)
    return project.runpytest_subprocess(*args, "-p", "xdist", "-n", workers)


XDIST = pytest.mark.parametrize("workers", [None, "2"], ids=["no-xdist", "n2"])


def _records(path):
    return {r["nodeid"].split("::")[-1]: r for r in json.loads(path.read_text())["results"]}


def test_stability_tests_are_skipped_without_the_flag(project):
    result = project.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=3)
    result.stdout.fnmatch_lines(["*stability test: run with pytest --stability*"])


def test_items_get_short_ids_one_per_check(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ids='''
        from conftest import Gain, case
        from pytest_stability import stable

        @stable(eps=(0.01, 0.02), details=("spade", "text"), ratio_sweep=(0.2, 0.4))
        def test_unet(images):
            return case(Gain(1.0), images, "unet")
    ''')
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines([
        "test_ids.py::test_unet[worst_case-eps=0.01]", "test_ids.py::test_unet[worst_case-eps=0.02]",
        "test_ids.py::test_unet[structure-spade]", "test_ids.py::test_unet[structure-text]",
        "test_ids.py::test_unet[samples]",
    ])


def test_without_a_ratio_sweep_there_is_no_samples_item(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_ids='''
        from pytest_stability import stable

        @stable(details="lesion")
        def test_unet(images):
            pass
    ''')
    result = pytester.runpytest("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*test_unet[[]worst_case-eps=0.02]", "*test_unet[[]structure-lesion]", "2 tests*"])


@pytest.mark.parametrize(("marker", "message"), [
    ("epss=0.02", "*test_bad: @stable got an unknown argument 'epss'; did you mean 'eps'?*"),
    ("eps='small'", "*test_bad: eps: expected a number, got 'small'*"),
    ("eps=(0.02, 0.01)", "*eps: values must be strictly increasing*"),
    ("details=('joker',)", "*details: 'joker' is not one of spade, heart, diamond, club, text, lesion*"),
    ("checks='samples'", "*includes 'samples', which needs ratio_sweep*"),
    ("ratio_sweep=(0.2, 1.5)", "*ratio_sweep: expected at least two increasing sampling ratios in (0, 1[]]*"),
    ("domain='kspace'", "*domain: 'kspace' is not one of image, measurement*"),
    ("baseline=None", "*the worst-case check has no verdict criterion*"),
    ("steps=2.5", "*steps: expected a whole number, got 2.5*"),
])
def test_bad_marker_arguments_are_a_collection_error_on_that_test_only(pytester, marker, message):
    pytester.makepyfile(test_bad=f'''
        from pytest_stability import stable

        @stable({marker})
        def test_bad():
            pass

        def test_good():
            pass
    ''')
    result = pytester.runpytest("--stability", "--continue-on-collection-errors")
    result.stdout.fnmatch_lines([message, "ERROR test_bad.py::test_bad"])
    result.assert_outcomes(passed=1, errors=1)  # the other test of the module still runs


def test_precedence_marker_over_command_line_over_ini_over_default(pytester):
    pytester.makepyfile(test_prec='''
        from pytest_stability import stable

        @stable(checks="worst_case")
        def test_default():
            pass

        @stable(checks="worst_case", eps=0.05)
        def test_marker():
            pass
    ''')
    pytester.makeini("[pytest]\nstability_eps = 0.03\n")
    ini = pytester.runpytest("--collect-only", "-q")
    ini.stdout.fnmatch_lines(["*test_default[[]worst_case-eps=0.03]", "*test_marker[[]worst_case-eps=0.05]"])
    cli = pytester.runpytest("--collect-only", "-q", "--stability-eps=0.01,0.04")
    cli.stdout.fnmatch_lines(["*test_default[[]worst_case-eps=0.01]", "*test_default[[]worst_case-eps=0.04]",
                              "*test_marker[[]worst_case-eps=0.05]"])
    bad = pytester.runpytest("--collect-only", "-q", "--stability-eps=-1")
    bad.stdout.fnmatch_lines(["*--stability-eps: eps: expected one or more positive numbers*"])


def test_an_unstable_model_fails_its_own_item_with_the_numbers(project):
    result = project.runpytest("--stability")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([
        "*UNSTABLE worst_case-eps=0.02 [[]planted]: κ = * > limit 3 (max_ratio 3) at eps = 0.02*",
        "*settings: eps=0.02, domain=image, steps=8, seed=0, max_ratio=3.0, baseline_factor=2.0, baseline=None*",
        "*(add --stability-report DIR for the report with its pictures)*",
        "*replay: pytest --stability 'test_zoo_models.py::test_planted[[]worst_case-eps=0.02]' --stability-seed 0 "
        "--stability-replay-only*",
    ])
    assert "Traceback" not in result.stdout.str()


def test_terminal_summary_headline_and_table(project):
    result = project.runpytest("--stability", "--stability-details")
    result.stdout.fnmatch_lines([
        "*= stability =*",
        "2 stable, 1 unstable",
        "model * check * metric * limit * baseline * verdict",
        "planted * worst_case eps=0.02 * κ * 3 * κ_g - * UNSTABLE",
        "*zero-filled * worst_case eps=0.02 * κ 1 * 3 * stable",
        "*test_planted[[]worst_case-eps=0.02[]]: UNSTABLE — κ = *",
    ])


@XDIST
def test_verbose_lines_carry_each_items_number_and_limit(project, workers):
    quiet = _run(project, workers, "--stability", "-k", "zero or planted or ordinary")
    assert "PASSED (" not in quiet.stdout.str()  # no noise by default
    result = _run(project, workers, "--stability", "-v", "-k", "zero or planted or ordinary")
    result.assert_outcomes(passed=2, failed=1)
    out = result.stdout.str()  # xdist writes the word before the id, plain pytest after it
    passed = r"PASSED: κ 1(\.0+)? ≤ 3 \(max_ratio\)"
    item = r"test_zero_filled\[worst_case-eps=0.02\]"
    assert re.search(f"{item}.*{passed}", out) or re.search(f"{passed}.*{item}", out), out
    assert re.search(r"FAILED (\S+::)?test_planted\[worst_case-eps=0.02\]", out), out  # a failure's word is plain
    assert "PASSED (" not in "".join(line for line in out.splitlines() if "test_ordinary" in line)


def test_report_header_names_torch_device_dtype_and_seed(project):
    result = project.runpytest("--stability", "--stability-seed=3", "-k", "zero")
    result.stdout.fnmatch_lines(["stability: torch *, device cpu, dtype float32, seed 3"])


def test_stability_only_deselects_everything_else(project):
    result = project.runpytest("--stability-only", "-k", "zero or ordinary")
    result.assert_outcomes(passed=1, deselected=3)


@XDIST
def test_json_report_schema(project, workers):
    _run(project, workers, "--stability", "--stability-json=out.json")
    document = json.loads((project.path / "out.json").read_text())
    assert document["version"] == 1
    assert {"torch", "device", "dtype", "seed"} <= set(document["environment"])
    records = _records(project.path / "out.json")
    assert set(records) == {"test_zero_filled[worst_case-eps=0.02]", "test_planted[worst_case-eps=0.02]",
                            "test_tunable[worst_case-eps=0.02]"}
    planted = records["test_planted[worst_case-eps=0.02]"]
    assert planted["check"] == "worst_case" and planted["passed"] is False and planted["model"] == "planted"
    assert planted["ratio"] > 3 and planted["eps"] == 0.02 and planted["relative_perturbation"] <= 0.02 + 1e-6
    assert "baseline_ratio" in planted


def test_log_cli_level_info_shows_a_search_live(project):
    result = project.runpytest("--stability", "--log-cli-level=INFO", "-k", "planted")
    result.stdout.fnmatch_lines(["*live log call*",
                                 "INFO * worst-case search of 'planted' (corrected): 2 image(s), eps 0.02, *",
                                 "INFO * worst-case search of 'planted' done after * steps*"])


def test_numbers_travel_on_user_properties_into_junit_xml(project):
    project.runpytest("--stability", "--junitxml=junit.xml", "-k", "zero")
    xml = (project.path / "junit.xml").read_text()
    assert '<property name="stability" value="{' in xml and "&quot;ratio&quot;" in xml


@XDIST
def test_report_folder_holds_the_page_and_results_and_tensors_on_request(project, workers):
    """The pictures are drawn from the items' tensors; the tensors (most of a report's size) stay only with
    --stability-save-tensors."""
    lean = _run(project, workers, "--stability", "--stability-report=lean")
    lean.stdout.fnmatch_lines(["*pictures in lean*index.html (add --stability-save-tensors to keep the tensors)*"])
    assert (project.path / "lean" / "index.html").is_file() and not (project.path / "lean" / "items").exists()
    assert list((project.path / "lean" / "figures").glob("*.png"))
    assert all("tensors_file" not in r for r in _records(project.path / "lean" / "results.json").values())

    alone = project.runpytest("--stability", "--stability-save-tensors")
    assert alone.ret == pytest.ExitCode.USAGE_ERROR
    alone.stderr.fnmatch_lines(["*--stability-save-tensors is about the report folder: add --stability-report DIR.*"])

    result = _run(project, workers, "--stability", "--stability-report=report", "--stability-save-tensors")
    result.stdout.fnmatch_lines(["*perturbation and reconstructions saved to *report*items*.pt*",
                                 "stability results written to report*results.json"])
    records = _records(project.path / "report" / "results.json")
    import torch

    saved = torch.load(project.path / "report" / records["test_planted[worst_case-eps=0.02]"]["tensors_file"],
                       weights_only=True)
    assert saved["perturbation"].shape == (1, 1, 16, 16)


@XDIST
def test_save_then_compare_round_trip(project, monkeypatch, workers):
    monkeypatch.setenv("STABILITY_TEST_GAIN", "1.5")
    first = _run(project, workers, "--stability", "--stability-save", "-k", "tunable")
    first.assert_outcomes(passed=1)
    store = project.path / ".stability" / "results-cpu.json"
    stored = json.loads(store.read_text())
    assert list(stored["results"]) == ["test_zoo_models.py::test_tunable[worst_case-eps=0.02]"]
    assert stored["environment"]["device"] == "cpu"

    unchanged = _run(project, workers, "--stability", "--stability-compare", "-k", "tunable")
    unchanged.assert_outcomes(passed=1)

    monkeypatch.setenv("STABILITY_TEST_GAIN", "2.5")  # still under max_ratio 3, but less stable than stored
    degraded = _run(project, workers, "--stability", "--stability-compare", "--stability-compare-fail=ratio:10%",
                    "-k", "tunable")
    degraded.assert_outcomes(failed=1)
    degraded.stdout.fnmatch_lines(["REGRESSION worst_case-eps=0.02 [[]tunable]: κ = *",
                                   "*less stable than the stored run (*results-cpu.json): "
                                   "ratio * → * (worse by * > 10 %)",
                                   "0 stable, 1 unstable (1 less stable than the stored run)",
                                   "tunable * worst_case eps=0.02 * REGRESSED (ratio > 10 %)"])

    # a partial run saves its items and keeps the others
    _run(project, workers, "--stability", "--stability-save", "-k", "zero")
    assert len(json.loads(store.read_text())["results"]) == 2


def test_compare_command_outside_pytest(project, monkeypatch):
    monkeypatch.setenv("STABILITY_TEST_GAIN", "1.5")
    project.runpytest("--stability", "--stability-json=a.json", "-k", "tunable")
    monkeypatch.setenv("STABILITY_TEST_GAIN", "2.5")
    project.runpytest("--stability", "--stability-json=b.json", "-k", "tunable")
    same = project.run(sys.executable, "-m", "pytest_stability", "compare", "a.json", "a.json")
    assert same.ret == 0
    worse = project.run(sys.executable, "-m", "pytest_stability", "compare", "a.json", "b.json", "--fail", "ratio:10%")
    assert worse.ret == 1
    worse.stdout.fnmatch_lines(["*test_tunable*: ratio * → * (worse by * > 10 %)", "1 result got less stable"])


@XDIST
def test_replay_finds_a_stored_instability_at_once(project, workers):
    first = _run(project, workers, "--stability", "--stability-json=first.json", "-k", "planted")
    first.assert_outcomes(failed=1)
    again = _run(project, workers, "--stability", "--stability-json=second.json", "-k", "planted")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*replayed the stored worst case: κ = *"])
    record = _records(project.path / "second.json")["test_planted[worst_case-eps=0.02]"]
    assert record["replayed"] is True
    assert record["eps"] == 0.02  # the budget as asked, not its float32 rounding
    assert record["evaluations"]["forward"] == 2  # f(Ax) and f(A(x + r)): no search
    fast_gate = _run(project, workers, "--stability", "--stability-replay-only", "-rs")
    fast_gate.assert_outcomes(failed=1, skipped=2, passed=1)
    fast_gate.stdout.fnmatch_lines(["*no stored worst case for this item*"])


def test_a_test_that_does_not_return_a_case(pytester):
    pytester.makepyfile(test_nocase='''
        from pytest_stability import stable

        @stable(checks="worst_case")
        def test_returns_model():
            return object()
    ''')
    result = pytester.runpytest("--stability")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*must return a pytest_stability.Case*"])


def test_images_option_reads_a_folder(pytester):
    import numpy as np

    pytester.makeconftest(CONFTEST)
    (pytester.path / "val").mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        np.save(pytester.path / "val" / f"slice{i}.npy", rng.random((20, 20)))
    pytester.makepyfile(test_files='''
        from conftest import FAMILY, Gain
        from pytest_stability import Case, stable

        @stable(checks="worst_case", steps=3, max_ratio=2.0, baseline=None, images="val")
        def test_on_files():
            return Case(Gain(1.0), FAMILY, ratio=0.4, name="files")
    ''')
    result = pytester.runpytest("--stability", "--stability-json=out.json")
    result.assert_outcomes(passed=1)
    assert _records(pytester.path / "out.json")["test_on_files[worst_case-eps=0.02]"]["passed"]


@pytest.mark.parametrize("workers", [None, "0", "2"])
def test_xdist_merges_the_workers_results(project, workers):
    args = ["--stability", "--stability-json=out.json", "-p", "xdist"]
    if workers is not None:
        args += ["-n", workers]
    result = project.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["2 stable, 1 unstable"])
    assert len(_records(project.path / "out.json")) == 3


GROUPED = '''
from conftest import Gain, case
from pytest_stability import stable


@stable(checks="worst_case", eps=(0.01, 0.02, 0.03, 0.04), steps=4, max_ratio=3.0, baseline=None)
def test_one_search(images):
    return case(Gain(1.0), images, "one search")


@stable(checks="worst_case", eps=(0.01, 0.02), steps=4, max_ratio=3.0, baseline=None)
def test_other(images):
    return case(Gain(1.0), images, "other")
'''


def test_loadgroup_runs_the_items_of_one_test_on_one_worker_and_records_keep_their_ids(pytester):
    pytester.makeconftest(planted_conftest(16))
    pytester.makepyfile(test_grouped=GROUPED)
    result = pytester.runpytest_subprocess("--stability", "--stability-json=out.json", "-p", "xdist", "-n", "2",
                                           "--dist", "loadgroup", "-v")
    result.assert_outcomes(passed=6)
    workers = {}
    for line in result.outlines:
        found = re.match(r"\[(gw\d)\] .*(test_one_search|test_other)\[", line)
        if found:
            workers.setdefault(found.group(2), set()).add(found.group(1))
    assert set(workers) == {"test_one_search", "test_other"}
    assert all(len(w) == 1 for w in workers.values()), workers  # one search per test, on one worker
    assert sorted(_records(pytester.path / "out.json")) == [
        *(f"test_one_search[worst_case-eps={e}]" for e in ("0.01", "0.02", "0.03", "0.04")),
        "test_other[worst_case-eps=0.01]", "test_other[worst_case-eps=0.02]"]  # no xdist "@group" suffix


@pytest.mark.parametrize(("nodeid", "group"), [
    ("a.py::t[worst_case-eps=0.02]", "a.py::t[worst_case-<eps>]"),
    ("a.py::t[worst_case-eps=1e-05-unet]", "a.py::t[worst_case-<eps>-unet]"),
    ("a.py::C::t[unet-structure-heart]", "a.py::C::t[unet-structure-<detail>]"),
    ("a.py::t[samples]", None), ("a.py::t[structure-hearts]", None), ("a.py::t", None)])
def test_the_xdist_group_of_an_item_is_its_node_id_without_its_eps_or_detail(nodeid, group):
    pytest.importorskip("xdist")
    from pytest_stability.plugin.xdist_groups import stability_group

    assert stability_group(nodeid) == group


def test_the_scheduler_sends_every_worst_case_search_first_then_the_structural_checks(pytester):
    pytest.importorskip("xdist")
    from pytest_stability.plugin.xdist_groups import StabilityGroupScheduling

    class Worker:
        def __init__(self):
            self.sent = []

        def send_runtest_some(self, indexes):
            self.sent.append(indexes)

    ids = ["a.py::plain", "a.py::t[structure-heart]", "a.py::t[samples]", "a.py::t[worst_case-eps=0.02]",
           "a.py::t[structure-spade]", "b.py::u[worst_case-eps=0.02]", "b.py::u[worst_case-eps=0.03]"]
    config = pytester.parseconfig("-p", "xdist", "--dist", "loadgroup")
    config.option.tx = ["popen"]  # one worker, as xdist makes of -n 1 when it starts
    scheduler = StabilityGroupScheduling(config)
    worker = Worker()
    scheduler.registered_collections[worker] = ids
    for nodeid in ids:
        scheduler.workqueue.setdefault(scheduler._split_scope(nodeid), {})[nodeid] = False
    while scheduler.workqueue:
        scheduler._assign_work_unit(worker)
    assert [[ids[i] for i in unit] for unit in worker.sent] == [
        ["a.py::t[worst_case-eps=0.02]"], ["b.py::u[worst_case-eps=0.02]", "b.py::u[worst_case-eps=0.03]"],
        ["a.py::t[structure-heart]", "a.py::t[structure-spade]"], ["a.py::plain"], ["a.py::t[samples]"]]


def test_the_plugin_emits_no_warnings_under_filterwarnings_error(project):
    result = project.runpytest("--stability", "-W", "error")
    result.assert_outcomes(passed=3, failed=1)
    assert "warnings" not in result.parseoutcomes()


def test_fixtures_are_available(pytester):
    pytester.makepyfile(test_fixtures=textwrap.dedent('''
        import pytest

        @pytest.mark.parametrize("mri_operator", [{"size": 32, "ratio": 0.3}], indirect=True)
        def test_operators(mri_operator, radon_operator, multicoil_operator, make_baseline, searcher,
                           shepp_logan_images, ellipse_images, make_detail, stability_device):
            assert mri_operator.image_shape == (32, 32)
            assert abs(mri_operator.sampling_ratio - 0.3) < 0.01
            assert radon_operator.n_angles == 50 and multicoil_operator.n_coils == 8
            assert make_baseline(mri_operator).operator is mri_operator
            assert searcher.seed == 0 and stability_device.type == "cpu"
            assert shepp_logan_images.shape == (1, 1, 128, 128) and ellipse_images.shape == (4, 1, 128, 128)
            assert make_detail("heart", (32, 32)).pattern.shape == (32, 32)
    '''))
    pytester.runpytest().assert_outcomes(passed=1)


def test_budget_caps_the_search(project):
    project.runpytest("--stability", "--stability-budget=3", "--stability-json=out.json", "-k", "zero")
    assert _records(project.path / "out.json")["test_zero_filled[worst_case-eps=0.02]"]["steps"] == 3
    timed = project.runpytest("--stability", "--stability-budget=0.5s", "-k", "zero")
    timed.assert_outcomes(passed=1)
    rules = project.runpytest("--stability", "--stability-compare-fail=kappa:1")
    rules.stderr.fnmatch_lines(["*--stability-compare-fail: 'kappa:1' is not name:amount*"])
    bad = project.runpytest("--stability", "--stability-budget=lots")
    bad.stderr.fnmatch_lines(["*--stability-budget='lots': give a number of steps (e.g. 40) or seconds (e.g. 30s)*"])


def test_device_option_on_cpu_and_seed_in_records(project):
    project.runpytest("--stability", "--stability-device=cpu", "--stability-seed=5", "--stability-json=out.json",
                      "-k", "zero")
    record = _records(project.path / "out.json")["test_zero_filled[worst_case-eps=0.02]"]
    assert record["seed"] == 5
    assert json.loads((project.path / "out.json").read_text())["environment"]["device"] == "cpu"


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_device_option_on_cuda_copies_the_model(project):
    result = project.runpytest("--stability", "--stability-device=cuda", "--stability-json=out.json")
    result.assert_outcomes(passed=3, failed=1)
    assert json.loads((project.path / "out.json").read_text())["environment"]["device"] == "cuda"


@pytest.mark.parametrize(("attack", "expected"), [("true", True), ("false", False)])
def test_baseline_attack_option_chooses_the_reference_ratio(pytester, attack, expected):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_attack='''
        from conftest import Gain, case
        from pytest_stability import stable

        @stable(checks="worst_case", steps=4)
        def test_reference(images):
            return case(Gain(1.0), images, "zero-filled")
    ''')
    pytester.runpytest("--stability", f"--stability-baseline-attack={attack}", "--stability-json=out.json")
    record = _records(pytester.path / "out.json")["test_reference[worst_case-eps=0.02]"]
    assert record["baseline_attacked"] is expected and record["baseline_ratio"] > 0


@pytest.mark.parametrize("route", ["marker", "flag", "ini"])
def test_recovery_margin_is_an_option_like_the_others(pytester, route):
    """The structure check's ρ_g − recovery_margin rule, set on the marker, the command line or the ini file."""
    from projects import planted_conftest

    pytester.makeconftest(planted_conftest(16))
    marker = ", recovery_margin=1.5" if route == "marker" else ""
    pytester.makepyfile(test_margin=f'''
        from conftest import Gain, case
        from pytest_stability import stable

        @stable(checks="structure", details="lesion", min_recovery=-1.0{marker})
        def test_zero_filled(images):
            return case(Gain(1.0), images, "zero filled")
    ''')
    args = ["--stability", "--stability-json=out.json", "-p", "no:cacheprovider"]
    if route == "flag":
        args.append("--stability-recovery-margin=1.5")
    if route == "ini":
        pytester.makeini("[pytest]\nstability_recovery_margin = 1.5\n")
    pytester.runpytest(*args).assert_outcomes(passed=1)
    (record,) = json.loads((pytester.path / "out.json").read_text())["results"]
    assert record["recovery_margin"] == 1.5 and record["limit"] == pytest.approx(record["baseline_recovery"] - 1.5)


def test_a_replayed_item_says_its_limit_came_from_the_stored_worst_case(pytester):
    """A replay runs no baseline search: its record says the limit is the stored run's, not ``null`` (searched)."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_tv='''
from conftest import Gain, case
from pytest_stability import stable


@stable(checks="worst_case", eps=0.02, steps=4, baseline="tv", baseline_factor=2.0)
def test_planted(images):
    return case(Gain(8.0), images, "planted")
''')
    pytester.runpytest("--stability", "--stability-json=first.json").assert_outcomes(failed=1)
    pytester.runpytest("--stability", "--stability-json=second.json").assert_outcomes(failed=1)
    first, second = (_records(pytester.path / f"{run}.json")["test_planted[worst_case-eps=0.02]"]
                     for run in ("first", "second"))
    assert first["baseline_reused"] is None and second["replayed"] is True
    assert second["baseline_reused"] == "the stored worst case"
    assert second["limit"] == first["limit"] and second["eps"] == first["eps"] == 0.02
