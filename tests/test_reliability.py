"""What a stability run leaves on disk when things go wrong, and what it refuses to trust.

* Ctrl-C, a crashed xdist worker and a killed pytest leave a valid JSON report of the finished items (the report
  is rewritten atomically after every record; "complete" says whether the session ran to its end);
* every file is written through a temporary file and a rename: a failed write leaves the old file, no debris;
* files read back (the replay store, the report's tensors, image folders) are loaded as data only: a pickle
  that would run code is refused; file names made from test ids stay inside their folder;
* the end of a session never raises, also under ``-W error``.

The interruption tests drive real ``python -m pytest`` processes (signals need a process of their own) and
wait by polling the report, never by fixed sleeps.
"""

import ast
import io
import json
import os
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from projects import planted_conftest

import pytest_stability
from pytest_stability.fingerprints import safe_name
from pytest_stability.report.store import atomic_save, atomic_write_json, merge_results

pytest_plugins = ["pytester"]

CONFTEST = planted_conftest(16) + '''

class Slow(torch.nn.Module):
    """Zero filling that sleeps in every forward pass: its search outlasts any test's patience."""

    def forward(self, z):
        import time

        time.sleep(0.05)
        return z.real


class Killer(torch.nn.Module):
    """A model whose forward pass kills its own process, as a segfault in an extension would."""

    def forward(self, z):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
'''

FAST = 'dict(checks="worst_case", eps=0.02, steps=4, max_ratio=3.0, baseline=None)'

SLOW_SECOND = f'''
from conftest import Gain, Slow, case
from pytest_stability import stable

FAST = {FAST}


@stable(**FAST)
def test_a_fast(images):
    return case(Gain(1.0), images, "fast")


@stable(checks="worst_case", eps=0.02, steps=100000, max_ratio=3.0, baseline=None)
def test_b_slow(images):
    return case(Slow(), images, "slow")
'''

FAST_ID = "test_run.py::test_a_fast[worst_case-eps=0.02]"
TIMEOUT = 180  # seconds: generous for two shared cores; the polls end as soon as the file is there


def _project(path: Path, tests: str) -> Path:
    (path / "conftest.py").write_text(CONFTEST)
    (path / "test_run.py").write_text(tests)
    (path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    return path


def _ctrl_c_heard() -> None:
    """In the child before exec: SIGINT back to its default, so Python turns it into KeyboardInterrupt. A shell
    without job control starts background commands with SIGINT ignored, and an ignored signal stays ignored
    through fork and exec: run that way (e.g. `nohup ./dev test &`), the child never heard the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def start():
    """``start(path, *args)``: ``python -m pytest --stability ARGS`` in ``path``, its output in path/output.txt;
    a process a failed test leaves running is killed at teardown."""
    started = []

    def run(path: Path, *args: str) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}  # not an outer -n run's
        env["OMP_NUM_THREADS"] = "1"
        with open(path / "output.txt", "w") as out:
            started.append(subprocess.Popen(
                [sys.executable, "-m", "pytest", "--stability", "-p", "no:cacheprovider", *args],
                cwd=path, stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=_ctrl_c_heard))
        return started[-1]

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _output(path: Path) -> str:
    return (path / "output.txt").read_text()


def _document(path: Path) -> dict | None:
    """The JSON report at ``path``, None while there is none; a file that does not parse fails the test."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return json.loads(text)  # never half-written: every read while the run goes on must parse


def _wait_for_records(proc: subprocess.Popen, report: Path, count: int, cwd: Path) -> dict:
    """Poll ``report`` until it holds ``count`` records (while ``proc`` runs) and return it."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        document = _document(report)
        if document is not None and len(document["results"]) >= count:
            return document
        if proc.poll() is not None:
            pytest.fail(f"pytest ended (exit code {proc.returncode}) before {report} held {count} records:\n"
                        + _output(cwd))
        time.sleep(0.05)
    pytest.fail(f"{report} did not hold {count} records within {TIMEOUT} s:\n" + _output(cwd))


def _ids(document: dict) -> list[str]:
    return [r["nodeid"] for r in document["results"]]


def _debris(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.tmp"))


# -- 1. interrupted and crashed runs -----------------------------------------------------------------
def test_ctrl_c_during_a_long_search_leaves_a_report_of_the_finished_items(tmp_path, start):
    path = _project(tmp_path, SLOW_SECOND)
    proc = start(path, "--stability-json=out.json", "--stability-report=report")
    running = _wait_for_records(proc, path / "report" / "results.json", 1, path)  # the slow item is searching
    assert running["complete"] is False and running["exitstatus"] is None
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=TIMEOUT) == pytest.ExitCode.INTERRUPTED, _output(path)
    assert "KeyboardInterrupt" in _output(path)
    for report in (path / "out.json", path / "report" / "results.json"):
        document = _document(report)
        assert _ids(document) == [FAST_ID]
        assert document["complete"] is False and document["exitstatus"] == pytest.ExitCode.INTERRUPTED
    page = (path / "report" / "index.html").read_text()  # the finish ran: the HTML report of what finished
    assert "This run ended early (pytest exit status 2): the report holds only the items that finished." in page
    assert _debris(path) == []


def test_a_killed_pytest_leaves_the_last_complete_report(tmp_path, start):
    path = _project(tmp_path, SLOW_SECOND)
    proc = start(path, "--stability-json=out.json")
    _wait_for_records(proc, path / "out.json", 1, path)
    proc.kill()  # SIGKILL: no sessionfinish, no cleanup
    proc.wait(timeout=TIMEOUT)
    document = _document(path / "out.json")
    assert _ids(document) == [FAST_ID]
    assert document["complete"] is False and document["exitstatus"] is None


def test_a_crashed_xdist_worker_fails_its_item_and_the_report_holds_the_others(tmp_path, start):
    pytest.importorskip("xdist")
    tests = f'''
from conftest import Gain, Killer, case
from pytest_stability import stable

FAST = {FAST}


@stable(**FAST)
def test_kills_its_worker(images):
    return case(Killer(), images, "killer")


@stable(**FAST)
def test_fast_one(images):
    return case(Gain(1.0), images, "one")


@stable(**FAST)
def test_fast_two(images):
    return case(Gain(1.5), images, "two")


@stable(**FAST)
def test_fast_three(images):
    return case(Gain(2.0), images, "three")
'''
    path = _project(tmp_path, tests)
    proc = start(path, "-p", "xdist", "-n", "2", "--stability-json=out.json")
    assert proc.wait(timeout=TIMEOUT) == pytest.ExitCode.TESTS_FAILED, _output(path)
    out = _output(path)
    assert "crashed while running" in out and "1 failed, 3 passed" in out, out
    document = _document(path / "out.json")
    assert sorted(r["model"] for r in document["results"]) == ["one", "three", "two"]
    assert document["complete"] is True and document["exitstatus"] == pytest.ExitCode.TESTS_FAILED


def test_a_concurrent_reader_never_sees_a_half_written_report(tmp_path):
    """A writer rewrites a 70-record report in a loop; a reader parses every version it sees; SIGKILL of the
    writer at an arbitrary moment leaves a file that parses (an old or a new version, never a mix)."""
    target = tmp_path / "out.json"
    writer = subprocess.Popen([sys.executable, "-c", f'''
import itertools, sys
sys.path.insert(0, {str(Path(pytest_stability.__file__).parent.parent)!r})
from pytest_stability.report.store import atomic_write_json
record = {{"nodeid": "t.py::test[worst_case-eps=0.02]", "explanation": "κ = 1.2 ≤ limit 3" * 4, "ratio": 1.2}}
for n in itertools.count():
    atomic_write_json({str(target)!r}, {{"version": 1, "n": n, "results": [record] * 70}})
'''])
    try:
        seen = set()
        deadline = time.monotonic() + TIMEOUT
        while len(seen) < 30 and time.monotonic() < deadline and writer.poll() is None:
            document = _document(target)  # fails the test if a read ever catches a partial file
            if document is not None:
                assert len(document["results"]) == 70
                seen.add(document["n"])
        assert len(seen) >= 30, f"the writer ended or stalled (exit code {writer.poll()})"
    finally:
        writer.kill()
        writer.wait()
    assert len(_document(target)["results"]) == 70


def test_stopping_early_with_x_marks_the_report_incomplete(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_run=f'''
from conftest import Gain, case
from pytest_stability import stable

FAST = {FAST}


@stable(**FAST)
def test_a_planted(images):
    return case(Gain(8.0), images, "planted")


@stable(**FAST)
def test_b_fine(images):
    return case(Gain(1.0), images, "fine")
''')
    stopped = pytester.runpytest("--stability", "-x", "--stability-json=stopped.json", "-p", "no:cacheprovider")
    stopped.assert_outcomes(failed=1)
    document = json.loads((pytester.path / "stopped.json").read_text())
    assert len(document["results"]) == 1
    assert document["complete"] is False and document["exitstatus"] == pytest.ExitCode.TESTS_FAILED
    full = pytester.runpytest("--stability", "--stability-json=full.json", "-p", "no:cacheprovider")
    full.assert_outcomes(failed=1, passed=1)
    text = (pytester.path / "full.json").read_text()
    document = json.loads(text)
    assert len(document["results"]) == 2
    assert document["complete"] is True and document["exitstatus"] == pytest.ExitCode.TESTS_FAILED
    # the records are encoded once and joined (the report is rewritten after each): the text is what json.dump
    # writes, sorted and indented, readable and diffable
    assert text == json.dumps(document, indent=1, sort_keys=True) + "\n"


# -- 2. atomic files ---------------------------------------------------------------------------------
def _half_then(exc: BaseException):
    """A stand-in for json.dump / torch.save that writes part of the file, then fails with ``exc``."""

    def write(obj, handle, *args, **kwargs):
        handle.write('{"version": 1, "resu' if isinstance(handle, io.TextIOBase) else b"PK\x03\x04half")
        raise exc

    return write


FAILURES = [OSError(28, "No space left on device"), KeyboardInterrupt()]


@pytest.mark.parametrize("exc", FAILURES, ids=["disk-full", "ctrl-c"])
def test_a_failed_store_write_leaves_the_old_store_and_no_temporary_file(tmp_path, monkeypatch, exc):
    store = tmp_path / "results-cpu.json"
    merge_results(store, [{"nodeid": "t.py::a", "ratio": 1.0, "passed": True}], {"device": "cpu"})
    before = store.read_bytes()
    monkeypatch.setattr(json, "dump", _half_then(exc))
    with pytest.raises(type(exc)):
        merge_results(store, [{"nodeid": "t.py::b", "ratio": 2.0, "passed": True}], {"device": "cpu"})
    assert store.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results-cpu.json"]


@pytest.mark.parametrize("exc", FAILURES, ids=["disk-full", "ctrl-c"])
def test_a_failed_tensor_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, exc):
    path = tmp_path / "item.pt"
    atomic_save(path, {"perturbation": torch.ones(1, 1, 4, 4)})
    before = path.read_bytes()
    monkeypatch.setattr(torch, "save", _half_then(exc))
    with pytest.raises(type(exc)):
        atomic_save(path, {"perturbation": torch.zeros(1, 1, 4, 4)})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["item.pt"]


@pytest.mark.parametrize("write", [lambda p: atomic_write_json(p, {}), lambda p: atomic_save(p, {})],
                         ids=["json", "tensors"])
def test_an_atomic_write_into_a_missing_folder_names_it(tmp_path, write):
    with pytest.raises(OSError, match=r"folder .*missing does not exist; create it or choose another path"):
        write(tmp_path / "missing" / "file")


def test_the_runner_writes_tensors_and_replays_through_a_rename(pytester, monkeypatch):
    """A save that fails midway (full disk) fails its item and leaves the earlier report tensors and replay file
    as they were: no truncated .pt file for the next run or the HTML report to trip over."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_run=f'''
from conftest import Gain, case
from pytest_stability import stable


@stable(**{FAST})
def test_planted(images):
    return case(Gain(8.0), images, "planted")
''')
    nodeid = "test_run.py::test_planted[worst_case-eps=0.02]"
    pytester.runpytest("--stability", "--stability-report=report", "--stability-save-tensors").assert_outcomes(failed=1)
    tensors = pytester.path / "report" / "items" / f"{safe_name(nodeid)}.pt"
    replay = pytester.path / ".pytest_cache" / "d" / "stability-replay" / f"{safe_name(nodeid)}.pt"
    assert tensors.is_file() and replay.is_file()
    torch.save({"nodeid": "another model's worst case"}, replay)  # not this item's: searched again, then stored
    saved = {p: p.read_bytes() for p in (tensors, replay)}

    monkeypatch.setattr(torch, "save", _half_then(OSError(28, "No space left on device")))
    with_report = pytester.runpytest("--stability", "--stability-report=report")  # fails in _save_tensors
    with_report.assert_outcomes(failed=1)
    with_report.stdout.fnmatch_lines(["*No space left on device*"])
    without = pytester.runpytest("--stability")  # fails in _store_replay
    without.assert_outcomes(failed=1)
    without.stdout.fnmatch_lines(["*No space left on device*"])
    assert {p: p.read_bytes() for p in saved} == saved
    assert _debris(pytester.path) == []


# -- 3. untrusted files and paths --------------------------------------------------------------------
def test_every_torch_load_in_the_package_reads_weights_only():
    calls = []
    for source in Path(pytest_stability.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "torch.load":
                weights_only = {k.arg: k.value for k in node.keywords}.get("weights_only")
                calls.append((source.name, node.lineno, isinstance(weights_only, ast.Constant)
                              and weights_only.value is True))
    assert len(calls) >= 3  # the replay store, the HTML report's tensors, image folders
    assert [c for c in calls if not c[2]] == []


class _Payload:
    """Unpickling this runs a shell command that writes ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > '{self.marker}'",)


def _plant(path: Path, marker: Path) -> None:
    """Write a malicious .pt file at ``path`` and prove that an unsafe load would run it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"perturbation": _Payload(marker), "nodeid": "x"}, path)
    torch.load(path, weights_only=False)
    assert marker.is_file(), "the payload must really run when loaded unsafely"
    marker.unlink()


def test_a_malicious_pickle_in_the_replay_store_is_not_run_and_is_replaced_by_data(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_run=f'''
from conftest import Gain, case
from pytest_stability import stable


@stable(**{FAST})
def test_planted(images):
    return case(Gain(8.0), images, "planted")
''')
    marker = pytester.path / "pwned"
    replay = pytester.path / ".pytest_cache" / "d" / "stability-replay"
    replay /= f"{safe_name('test_run.py::test_planted[worst_case-eps=0.02]')}.pt"
    _plant(replay, marker)
    result = pytester.runpytest("--stability")
    result.assert_outcomes(failed=1)  # the run went on: searched, found the planted instability
    result.stdout.fnmatch_lines(["*UNSTABLE worst_case-eps=0.02 [[]planted]*"])
    assert not marker.exists()
    stored = torch.load(replay, weights_only=True)  # replaced by this run's worst case: data only
    assert isinstance(stored["perturbation"], torch.Tensor)
    assert all(isinstance(v, (str, float, type(None))) for k, v in stored.items() if k != "perturbation")


def test_a_malicious_pickle_in_the_report_items_is_not_run(tmp_path):
    from pytest_stability.report.html import write_html

    marker = tmp_path / "pwned"
    _plant(tmp_path / "items" / "evil.pt", marker)
    record = {"nodeid": "t.py::test[worst_case-eps=0.02]", "check": "worst_case", "model": "m", "passed": False,
              "explanation": "κ = 9 > limit 3", "eps": 0.02, "ratio": 9.0, "limit": 3.0, "regression": [],
              "tensors_file": "items/evil.pt"}
    page = write_html(tmp_path, {"version": 1, "environment": {}, "results": [record]}).read_text()
    assert not marker.exists()
    assert "could not read items/evil.pt" in page


def test_a_malicious_pickle_in_an_images_folder_is_not_run(tmp_path):
    from pytest_stability.loaders import ImageFileError, load_images

    marker = tmp_path / "pwned"
    _plant(tmp_path / "val" / "slice.pt", marker)
    with pytest.raises(ImageFileError, match="slice.pt: cannot be read as an image"):
        load_images("val", root=tmp_path)
    assert not marker.exists()


EVIL_IDS = ["../../evil", "/abs/path", "a\\b", "x" * 300, "ünïcødé-模型", "ctrl\x01\x1b[31m\t\x7fend", "..", "",
            "-rf", "a/../../../b::c"]


@pytest.mark.parametrize("test_id", EVIL_IDS, ids=range(len(EVIL_IDS)))
def test_file_names_from_test_ids_stay_in_their_folder(tmp_path, test_id):
    for nodeid in (test_id, f"tests/test_x.py::test_unet[{test_id}]"):
        name = safe_name(nodeid) + ".pt"
        assert all(c.isascii() and (c.isalnum() or c in "_.=-") for c in name), name
        assert not name.startswith(".") and len(name.encode()) <= 100
        assert (tmp_path / name).resolve().parent == tmp_path.resolve()
    assert len({safe_name(i) for i in EVIL_IDS}) == len(EVIL_IDS)  # a hash keeps look-alike ids apart


def test_a_run_with_hostile_test_ids_writes_only_inside_its_folders(pytester):
    ids = [i for i in EVIL_IDS if i]  # pytest itself turns an empty id into the parameter's name
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_run=f'''
import pytest

from conftest import Gain, case
from pytest_stability import stable


@stable(**{FAST})
@pytest.mark.parametrize("gain", [8.0] * {len(ids)}, ids={ids!r})
def test_planted(images, gain):
    return case(Gain(gain), images, "planted")
''')
    before = {p for p in pytester.path.parent.rglob("*")}
    pytester.runpytest("--stability", "--stability-report=report", "--stability-save-tensors").assert_outcomes(
        failed=len(ids))
    written = {p for p in pytester.path.parent.rglob("*") if p not in before}
    items, replay = pytester.path / "report" / "items", pytester.path / ".pytest_cache" / "d" / "stability-replay"
    tensors = sorted(p for p in written if p.suffix == ".pt")
    assert len(tensors) == 2 * len(ids)
    assert all(p.parent in (items, replay) for p in tensors), tensors
    assert all(pytester.path in p.parents for p in written)


def test_hostile_model_names_and_baselines_are_escaped_in_text_and_attributes(tmp_path):
    """test_html_report.py checks <script> in ids and names; here quotes that would end an attribute (the
    pictures' alt text carries the baseline's name) and an <img onerror> in every user string."""
    from pytest_stability.report.html import write_html

    hostile = '"><img src=x onerror=alert(1)>\''
    x = torch.rand(1, 1, 8, 8)
    (tmp_path / "items").mkdir()
    atomic_save(tmp_path / "items" / "a.pt",
                {"x": x, "perturbation": 0.01 * x, "reconstruction": x, "perturbed_reconstruction": 2 * x,
                 "baseline_reconstruction": x, "baseline_perturbed": x})
    record = {"nodeid": f"t.py::test[{hostile}]", "check": "worst_case", "model": hostile, "baseline": hostile,
              "passed": False, "explanation": f"κ = 9 > limit 3 for {hostile}", "eps": 0.02, "ratio": 9.0,
              "limit": 3.0, "baseline_ratio": 1.0, "regression": [f"ratio got worse on {hostile}"],
              "tensors_file": "items/a.pt"}
    page = write_html(tmp_path, {"version": 1, "environment": {"device": hostile}, "results": [record]}).read_text()
    assert "<img src=x" not in page and "onerror=alert(1)>" not in page
    assert page.count("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&#x27;") >= 6  # id, model, baseline, alts, ...

    class Tags(HTMLParser):  # the page as a browser tokenizes it: every tag and its attributes
        def __init__(self):
            super().__init__()
            self.tags = []

        def handle_starttag(self, tag, attrs):
            self.tags.append((tag, dict(attrs)))

    parser = Tags()
    parser.feed(page)
    assert not [(t, a) for t, a in parser.tags for name in a if name.startswith("on")]  # no event handler
    images = [a for t, a in parser.tags if t == "img"]
    assert all(a["src"].startswith("figures/") for a in images)
    panels = [a for a in images if a.get("class") != "plot"]  # plots: κ against eps, named by the model
    assert len(panels) == 8  # x, x + r, |r|, f(Ax), f(A(x + r)), the artefact map, g's two
    assert sum(hostile in a["alt"] for a in panels) == 2  # the baseline's captions: the name intact, as text


# -- 4. the end of a session never raises -------------------------------------------------------------
@pytest.mark.parametrize(("where", "why"), [
    ("gone/out.json", "folder gone does not exist; create it or choose another path"),
    ("taken", "taken is a folder; give a file name (e.g. taken*results.json)"),
], ids=["folder-removed", "path-is-a-folder"])
def test_an_unwritable_json_path_warns_and_keeps_the_tests_exit_code_under_w_error(pytester, where, why):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_run=f'''
import shutil

from conftest import Gain, case
from pytest_stability import stable


@stable(**{FAST})
def test_fine(images):
    return case(Gain(1.0), images, "fine")


def test_z_cleans_up():  # a test that removes the results folder while the session runs
    shutil.rmtree("gone", ignore_errors=True)
''')
    pytester.mkdir("taken")
    result = pytester.runpytest("--stability", f"--stability-json={where}", "-W", "error::pytest.PytestWarning",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    result.stderr.fnmatch_lines([f"pytest-stability: could not write {where}: {why}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert "stability results written to" not in result.stdout.str()
